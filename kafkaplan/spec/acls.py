"""ACLs: the spec format (raw bindings and roles), the normalized ``Binding``, role expansion,
ownership scopes, and the checks that give every problem its file and line.

A spec's ``acls:`` entries are either raw bindings (principal, resource type, names,
operations, ...) or roles (``consumer``, ``producer``, ``transactional-producer``,
``streams``) that expand to the bindings a Kafka client needs. Both end up as a set of
normalized ``Binding`` values: operation, permission, pattern and resource type are
upper-case enums (so ``read`` and ``READ`` are the same binding), while principals and
resource names stay case-sensitive, as Kafka treats them. docs/acls.md is the reference.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter
from typing import Any, Literal

from msgspec import Struct, field
from msgspec.structs import fields
from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.defaults import new_list
from kafkaplan.spec.names import LEGAL_TOPIC, MAX_TOPIC_NAME
from kafkaplan.spec.source import Document, PathKey

CLUSTER_NAME = "kafka-cluster"
WILDCARD = "*"
PRINCIPAL_TYPES = ("User", "Group")


class ResourceType(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    CLUSTER = "CLUSTER"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"
    DELEGATION_TOKEN = "DELEGATION_TOKEN"

    @property
    def spelled(self) -> str:
        """How specs and addresses write it: ``transactional-id``."""
        return self.value.lower().replace("_", "-")


class PatternType(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


class Operation(StrEnum):
    ALL = "ALL"
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DELETE = "DELETE"
    ALTER = "ALTER"
    DESCRIBE = "DESCRIBE"
    CLUSTER_ACTION = "CLUSTER_ACTION"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"
    ALTER_CONFIGS = "ALTER_CONFIGS"
    IDEMPOTENT_WRITE = "IDEMPOTENT_WRITE"
    TWO_PHASE_COMMIT = "TWO_PHASE_COMMIT"


class Permission(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"


_O = Operation
# Kafka 4.1's own table (org.apache.kafka.security.authorizer.AclEntry.supportedOperations,
# which kafka-acls.sh checks too), plus ALL, which is valid on every resource type.
VALID_OPERATIONS: dict[ResourceType, frozenset[Operation]] = {
    ResourceType.TOPIC: frozenset(
        {
            _O.ALL,
            _O.READ,
            _O.WRITE,
            _O.CREATE,
            _O.DESCRIBE,
            _O.DELETE,
            _O.ALTER,
            _O.DESCRIBE_CONFIGS,
            _O.ALTER_CONFIGS,
        }
    ),
    ResourceType.GROUP: frozenset(
        {_O.ALL, _O.READ, _O.DESCRIBE, _O.DELETE, _O.DESCRIBE_CONFIGS, _O.ALTER_CONFIGS}
    ),
    ResourceType.CLUSTER: frozenset(
        {
            _O.ALL,
            _O.CREATE,
            _O.CLUSTER_ACTION,
            _O.DESCRIBE_CONFIGS,
            _O.ALTER_CONFIGS,
            _O.IDEMPOTENT_WRITE,
            _O.ALTER,
            _O.DESCRIBE,
        }
    ),
    ResourceType.TRANSACTIONAL_ID: frozenset({_O.ALL, _O.DESCRIBE, _O.WRITE, _O.TWO_PHASE_COMMIT}),
    ResourceType.DELEGATION_TOKEN: frozenset({_O.ALL, _O.DESCRIBE}),
}


@lru_cache(maxsize=512)  # a handful of spellings, met once per binding read or declared
def _enum_key(text: str) -> str:
    """``describe-configs``, ``DescribeConfigs``, ``describe_configs`` -> ``DESCRIBE_CONFIGS``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text.strip())
    return re.sub(r"[\s-]+", "_", spaced).upper()


def parse_resource_type(text: str) -> ResourceType | None:
    key = _enum_key(text)
    if key == "BROKER":  # librdkafka's name for the cluster resource
        key = "CLUSTER"
    return ResourceType.__members__.get(key)


def parse_pattern_type(text: str) -> PatternType | None:
    return PatternType.__members__.get(_enum_key(text))


def parse_operation(text: str) -> Operation | None:
    return Operation.__members__.get(_enum_key(text))


def parse_permission(text: str) -> Permission | None:
    return Permission.__members__.get(_enum_key(text))


class Binding(Struct, frozen=True, order=True):
    """One ACL binding, normalized: equal bindings are equal values, whatever the spelling."""

    principal: str
    resource_type: ResourceType
    pattern_type: PatternType
    resource_name: str
    operation: Operation
    permission: Permission
    host: str = WILDCARD

    @property
    def key(self) -> str:
        """The address without its ``acl.`` prefix; see ``acl_address``."""
        return (
            f"{self.principal}.{self.resource_type.spelled}.{self.pattern_type.lower()}."
            f"{self.resource_name}.{self.operation}.{self.permission}.{self.host}"
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "permission": self.permission.value,
            "operation": self.operation.value,
            "resource_type": self.resource_type.spelled,
            "pattern_type": self.pattern_type.value.lower(),
            "resource_name": self.resource_name,
            "host": self.host,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Binding:
        """The inverse of ``as_dict`` (accepting any spelling of the enums)."""
        resource_type = parse_resource_type(str(value["resource_type"]))
        pattern_type = parse_pattern_type(str(value["pattern_type"]))
        operation = parse_operation(str(value["operation"]))
        permission = parse_permission(str(value["permission"]))
        if resource_type is None or pattern_type is None or operation is None or not permission:
            raise ValueError(f"not an ACL binding: {dict(value)!r}")
        return cls(
            principal=str(value["principal"]),
            resource_type=resource_type,
            pattern_type=pattern_type,
            resource_name=str(value["resource_name"]),
            operation=operation,
            permission=permission,
            host=str(value.get("host", WILDCARD)),
        )

    def resource_phrase(self) -> str:
        """``topic 'orders.created.v1'``, ``topics prefixed 'orders.'``, ``the cluster``."""
        kind = self.resource_type.spelled.replace("-", " ")
        if self.resource_type is ResourceType.CLUSTER:
            return "the cluster"
        if self.pattern_type is PatternType.PREFIXED:
            return f"{kind}s prefixed {self.resource_name!r}"
        if self.resource_name == WILDCARD:
            return f"every {kind}"
        return f"{kind} {self.resource_name!r}"

    def describe(self) -> str:
        """``ALLOW READ on topic 'orders.created.v1'`` (``from host 10.0.0.1`` if not ``*``)."""
        host = "" if self.host == WILDCARD else f" from host {self.host}"
        return f"{self.permission} {self.operation} on {self.resource_phrase()}{host}"


# The order of ``Binding``'s fields, as a key: the same order as comparing bindings, without
# a Python-level comparison per pair (sorting thousands of live bindings with it is 3x faster).
binding_order: Callable[[Binding], tuple[Any, ...]] = attrgetter(*(f.name for f in fields(Binding)))


def acl_address(binding: Binding) -> str:
    """``acl.<principal>.<resource type>.<pattern>.<name>.<OPERATION>.<PERMISSION>.<host>``,
    e.g. ``acl.User:billing.topic.literal.orders.created.v1.READ.ALLOW.*``. An identifier
    to read and compare, not to parse: the change's ``before``/``after`` hold the fields."""
    return f"acl.{binding.key}"


# ---------------------------------------------------------------------------------------------
# The spec format
# ---------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


OneOrMany = str | list[str]
Role = Literal["consumer", "producer", "transactional-producer", "streams"]


class AclEntry(_Model):
    """One ACL entry: raw bindings (without `role`) or a role that expands to the bindings a
    client needs (with `role`). Either way it is for one principal, and the plan shows
    every binding it stands for."""

    principal: str = Field(
        description="Who is granted or denied: `User:<name>` (or `Group:<name>` where the "
        "authorizer maps principals to groups; Kafka's StandardAuthorizer only matches "
        "`User:`). Case-sensitive; `User:*` is every user.",
        examples=["User:billing"],
    )
    role: Role | None = Field(
        default=None,
        description="Expand to the bindings a client of this kind needs (docs/acls.md lists "
        "them). Without `role`, the entry is raw bindings (`resource_type`, `names`, "
        "`operations`, ...).",
    )
    description: str | None = Field(default=None, description="Why; for people.")
    protected: bool = Field(
        default=False,
        description="Deletion protection for every binding of this entry: a plan that "
        "would delete one fails, whatever --allow-deletes says.",
    )

    # Raw bindings.
    resource_type: str | None = Field(
        default=None,
        description="Raw bindings: topic, group, cluster, transactional-id or delegation-token.",
    )
    pattern_type: str = Field(
        default="literal",
        description="Raw bindings: `literal` (exact names; `*` matches all) or `prefixed` "
        "(names are prefixes).",
    )
    names: OneOrMany | None = Field(
        default=None,
        description="Raw bindings: one or more resource names (prefixes with `pattern_type: "
        "prefixed`); `*` is every resource of the type. The cluster's only name is "
        "`kafka-cluster` (the default for `resource_type: cluster`).",
    )
    operations: OneOrMany | None = Field(
        default=None,
        description="Raw bindings: one or more of ALL, READ, WRITE, CREATE, DELETE, ALTER, "
        "DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, "
        "TWO_PHASE_COMMIT (any case); each must be valid for the resource type.",
        examples=[["READ", "DESCRIBE"]],
    )
    permission: str = Field(default="allow", description="Raw bindings: `allow` or `deny`.")
    hosts: OneOrMany = Field(
        default=WILDCARD,
        description="Raw bindings: client IP addresses the bindings apply to; `*` is any host.",
    )

    # Roles.
    topics: list[str] = Field(
        default_factory=new_list,
        description="consumer, producer, transactional-producer: topics, by exact name.",
    )
    topic_prefixes: list[str] = Field(
        default_factory=new_list,
        description="consumer, producer, transactional-producer: topics, by name prefix.",
    )
    group: str | None = Field(
        default=None, description="consumer: its consumer group (group.id), by exact name."
    )
    group_prefix: str | None = Field(
        default=None, description="consumer: its consumer groups, by name prefix."
    )
    transactional_id: str | None = Field(
        default=None, description="transactional-producer: its transactional.id."
    )
    transactional_id_prefix: str | None = Field(
        default=None,
        description="transactional-producer: its transactional ids, by prefix (one per instance).",
    )
    application_id: str | None = Field(
        default=None,
        description="streams: the application.id; its internal topics, group and (with "
        "exactly_once) transactional ids are derived from it.",
    )
    input_topics: list[str] = Field(
        default_factory=new_list, description="streams: topics it reads."
    )
    input_prefixes: list[str] = Field(
        default_factory=new_list, description="streams: topics it reads, by name prefix."
    )
    output_topics: list[str] = Field(
        default_factory=new_list, description="streams: topics it writes."
    )
    output_prefixes: list[str] = Field(
        default_factory=new_list, description="streams: topics it writes, by name prefix."
    )
    exactly_once: bool = Field(
        default=False,
        description="streams: processing.guarantee is exactly_once_v2 (adds its transactional ids).",
    )


_COMMON = {"principal", "role", "description", "protected"}
_RAW = {"resource_type", "names", "pattern_type", "operations", "permission", "hosts"}
_ROLE_FIELDS: dict[str | None, set[str]] = {
    None: _RAW,
    "consumer": {"topics", "topic_prefixes", "group", "group_prefix"},
    "producer": {"topics", "topic_prefixes"},
    "transactional-producer": {
        "topics",
        "topic_prefixes",
        "transactional_id",
        "transactional_id_prefix",
    },
    "streams": {
        "application_id",
        "input_topics",
        "input_prefixes",
        "output_topics",
        "output_prefixes",
        "exactly_once",
    },
}


class AclScope(_Model):
    """Bindings one team owns: those of `principals`, those on resources whose names start
    with one of `resource_prefixes`, or, when both are given, those principals' bindings on
    those resources."""

    team: str = Field(
        description="The owning team. A scope must not overlap another team's external scope."
    )
    principals: list[str] = Field(
        default_factory=new_list, description="Principals whose bindings are in the scope."
    )
    resource_prefixes: list[str] = Field(
        default_factory=new_list,
        description="Resource-name prefixes (topics, groups, transactional ids) in the scope.",
    )
    external: bool = Field(
        default=False,
        description="Declared by another team or tool that manages these bindings itself: "
        "kafkaplan never changes them, does not list them, and refuses specs that declare "
        "bindings inside this scope.",
    )


class AclSettings(_Model):
    """How kafkaplan manages ACLs (the project file's `acls:`)."""

    ownership: list[AclScope] = Field(
        default_factory=new_list,
        description="The scopes kafkaplan owns: live bindings inside an owned scope that no "
        "spec declares are deleted. Without any, kafkaplan only creates the declared bindings "
        "and deletes nothing.",
    )


# ---------------------------------------------------------------------------------------------
# Desired state
# ---------------------------------------------------------------------------------------------


class Scope(Struct, frozen=True):
    team: str
    principals: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    external: bool = False

    def matches(self, binding: Binding) -> bool:
        if self.principals and binding.principal not in self.principals:
            return False
        return not self.prefixes or binding.resource_name.startswith(self.prefixes)

    def overlaps(self, other: Scope) -> bool:
        """Could one binding be in both scopes?"""
        principals = (
            not self.principals or not other.principals or bool(self.principals & other.principals)
        )
        prefixes = (
            not self.prefixes
            or not other.prefixes
            or any(
                a.startswith(b) or b.startswith(a) for a in self.prefixes for b in other.prefixes
            )
        )
        return principals and prefixes

    @classmethod
    def of(cls, model: AclScope) -> Scope:
        return cls(
            team=model.team,
            principals=frozenset(model.principals),
            prefixes=tuple(model.resource_prefixes),
            external=model.external,
        )


class DesiredAcls(Struct, frozen=True):
    """The declared bindings (each with the ``file:line`` that declared it first) and how the
    bindings that no spec declares are treated."""

    bindings: Mapping[Binding, str] = field(default_factory=dict)
    # The role (``consumer``, ``producer``, ...) a declared binding comes from, if any.
    roles: Mapping[Binding, str] = field(default_factory=dict)
    scopes: tuple[Scope, ...] = ()
    # Principals whose bindings are never deleted (kafkaplan's own).
    protected_principals: frozenset[str] = frozenset()

    @property
    def managed(self) -> bool:
        """Does this project manage ACLs at all (so the live ACLs must be read)?"""
        return bool(self.bindings) or any(not s.external for s in self.scopes)

    def owner(self, binding: Binding) -> Scope | None:
        """The owned scope ``binding`` is in, if any."""
        return next((s for s in self.scopes if not s.external and s.matches(binding)), None)

    def external_owner(self, binding: Binding) -> Scope | None:
        return next((s for s in self.scopes if s.external and s.matches(binding)), None)


def protected_principals(sasl_username: str | None) -> frozenset[str]:
    """kafkaplan's own principal, whose bindings a plan must never delete."""
    return frozenset({f"User:{sasl_username}"}) if sasl_username else frozenset()


# ---------------------------------------------------------------------------------------------
# Checks and expansion (every problem a Diagnostic at its file and line)
# ---------------------------------------------------------------------------------------------


def check_principal(principal: str) -> tuple[str, str] | None:
    """Why ``principal`` is malformed (message, hint), or None."""
    kind, sep, name = principal.partition(":")
    if not sep or not kind or not name:
        return (
            f"malformed principal {principal!r}: it must be `Type:name`",
            "write e.g. User:billing (User is the type Kafka's authorizers match)",
        )
    if principal != principal.strip() or name != name.strip():
        return (f"principal {principal!r} has leading or trailing spaces", "remove them")
    if kind not in PRINCIPAL_TYPES:
        close = next((t for t in PRINCIPAL_TYPES if t.lower() == kind.lower()), None)
        hint = (
            f"principal types are case-sensitive: did you mean {close}:{name}?"
            if close
            else "use User:<name> (or Group:<name> with an authorizer that supports groups)"
        )
        return (f"unknown principal type {kind!r} in {principal!r}", hint)
    return None


def check_host(host: str) -> str | None:
    if host == WILDCARD:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"host {host!r} is not an IP address; Kafka matches ACL hosts on the client's IP"
    return None


def _check_name(
    resource_type: ResourceType, pattern: PatternType, name: str
) -> tuple[str, str | None] | None:
    kind = resource_type.spelled
    if not name:
        return (f"{kind} name is empty", None)
    if resource_type is ResourceType.CLUSTER:
        if name != CLUSTER_NAME or pattern is not PatternType.LITERAL:
            return (
                f"the cluster resource is named {CLUSTER_NAME!r} (literal), not {name!r}",
                f"leave `names` out for resource_type cluster, or write {CLUSTER_NAME}",
            )
        return None
    if name == WILDCARD and pattern is PatternType.PREFIXED:
        return (
            "the prefix '*' only matches names that start with '*'",
            "for every resource of the type, use the literal name '*'",
        )
    if resource_type is ResourceType.TOPIC and name != WILDCARD:
        if len(name) > MAX_TOPIC_NAME:
            return (
                f"topic name is {len(name)} characters long; Kafka allows {MAX_TOPIC_NAME}",
                None,
            )
        if not LEGAL_TOPIC.match(name):
            return (
                f"{name!r} cannot match any topic: topic names only use letters, digits, "
                "'.', '_' and '-'",
                None,
            )
    return None


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _key_path(path: PathKey, key: str, value: str | list[str] | None, index: int) -> PathKey:
    return (*path, key) if isinstance(value, str) or value is None else (*path, key, index)


class _Expansion(Struct):
    document: Document
    path: PathKey
    problems: list[Diagnostic]
    bindings: list[Binding] = field(default_factory=list)

    def error(self, key: PathKey, message: str, hint: str | None = None) -> None:
        self.problems.append(self.document.diagnostic((*self.path, *key), message, hint))


def expand_entry(
    entry: AclEntry, document: Document, path: PathKey, problems: list[Diagnostic]
) -> list[Binding]:
    """The bindings one spec entry stands for; problems are appended with file and line."""
    work = _Expansion(document, path, problems)
    bad = check_principal(entry.principal)
    if bad:
        work.error(("principal",), *bad)
    misplaced = sorted(entry.model_fields_set - _COMMON - _ROLE_FIELDS[entry.role])
    for key in misplaced:
        kind = f"role {entry.role}" if entry.role else "raw bindings (no `role`)"
        owners = [r for r, keys in _ROLE_FIELDS.items() if key in keys]
        where = ", ".join(f"role {r}" if r else "raw bindings" for r in owners)
        work.error((key,), f"`{key}` is not used by {kind}", hint=f"`{key}` belongs to {where}")
    if bad or misplaced:
        return []
    if entry.role is None:
        _expand_raw(entry, work)
    else:
        _expand_role(entry, work)
    return work.bindings


def _expand_raw(entry: AclEntry, work: _Expansion) -> None:
    resource_type = None
    if entry.resource_type is None:
        work.error(
            (),
            "raw ACL bindings need `resource_type`",
            hint="topic, group, cluster, transactional-id or delegation-token; or give a `role`",
        )
    else:
        resource_type = parse_resource_type(entry.resource_type)
        if resource_type is None:
            work.error(
                ("resource_type",),
                f"unknown resource type {entry.resource_type!r}",
                hint="topic, group, cluster, transactional-id or delegation-token",
            )
    pattern = parse_pattern_type(entry.pattern_type)
    if pattern is None:
        work.error(
            ("pattern_type",),
            f"unknown pattern type {entry.pattern_type!r}",
            hint="literal or prefixed",
        )
    permission = parse_permission(entry.permission)
    if permission is None:
        work.error(
            ("permission",), f"unknown permission {entry.permission!r}", hint="allow or deny"
        )
    operations: list[Operation] = []
    if entry.operations is None or not _as_list(entry.operations):
        work.error((), "raw ACL bindings need `operations`", hint="e.g. operations: [READ]")
    for index, text in enumerate(_as_list(entry.operations)):
        key = _key_path((), "operations", entry.operations, index)
        operation = parse_operation(text)
        if operation is None:
            work.error(key, f"unknown operation {text!r}", hint=_valid_hint(resource_type))
        elif resource_type is not None and operation not in VALID_OPERATIONS[resource_type]:
            work.error(
                key,
                f"{operation} is not an operation on a {resource_type.spelled} resource",
                hint=_valid_hint(resource_type),
            )
        else:
            operations.append(operation)
    hosts: list[str] = []
    for index, host in enumerate(_as_list(entry.hosts)):
        host_problem = check_host(host)
        if host_problem:
            work.error(
                _key_path((), "hosts", entry.hosts, index),
                host_problem,
                hint="use '*' for any host, or the client's IP address",
            )
        else:
            hosts.append(host)
    names = _as_list(entry.names)
    if resource_type is ResourceType.CLUSTER and entry.names is None:
        names = [CLUSTER_NAME]
    elif not names:
        work.error((), "raw ACL bindings need `names`", hint="e.g. names: [orders.created.v1]")
    if resource_type is None or pattern is None or permission is None:
        return
    for index, name in enumerate(names):
        problem = _check_name(resource_type, pattern, name)
        if problem:
            work.error(_key_path((), "names", entry.names, index), *problem)
            continue
        work.bindings.extend(
            Binding(entry.principal, resource_type, pattern, name, op, permission, host)
            for op in operations
            for host in hosts
        )


def _valid_hint(resource_type: ResourceType | None) -> str:
    if resource_type is None:
        return "operations: " + ", ".join(o.value for o in Operation)
    valid = ", ".join(sorted(o.value for o in VALID_OPERATIONS[resource_type]))
    return f"valid on a {resource_type.spelled}: {valid}"


# What each role grants; docs/acls.md shows the same table.
CONSUMER_TOPIC_OPS = (Operation.READ, Operation.DESCRIBE)
CONSUMER_GROUP_OPS = (Operation.READ,)
PRODUCER_TOPIC_OPS = (Operation.WRITE, Operation.DESCRIBE)
TRANSACTIONAL_ID_OPS = (Operation.WRITE, Operation.DESCRIBE)
STREAMS_INTERNAL_TOPIC_OPS = (
    Operation.READ,
    Operation.WRITE,
    Operation.CREATE,
    Operation.DELETE,
    Operation.DESCRIBE,
    Operation.DESCRIBE_CONFIGS,
)


def _expand_role(entry: AclEntry, work: _Expansion) -> None:
    principal = entry.principal

    def grant(
        resource_type: ResourceType,
        pattern: PatternType,
        names: Iterable[tuple[PathKey, str]],
        operations: Iterable[Operation],
    ) -> None:
        ops = tuple(operations)
        for key, name in names:
            problem = _check_name(resource_type, pattern, name)
            if problem:
                work.error(key, *problem)
                continue
            work.bindings.extend(
                Binding(principal, resource_type, pattern, name, op, Permission.ALLOW) for op in ops
            )

    def listed(key: str, names: list[str]) -> list[tuple[PathKey, str]]:
        return [((key, index), name) for index, name in enumerate(names)]

    def topics(literal_key: str, prefix_key: str, ops: tuple[Operation, ...], need: str) -> None:
        literal: list[str] = getattr(entry, literal_key)
        prefixed: list[str] = getattr(entry, prefix_key)
        if need and not literal and not prefixed:
            work.error(
                (),
                f"role {entry.role} needs {need}",
                hint=f"list them under `{literal_key}` or `{prefix_key}`",
            )
        grant(ResourceType.TOPIC, PatternType.LITERAL, listed(literal_key, literal), ops)
        grant(ResourceType.TOPIC, PatternType.PREFIXED, listed(prefix_key, prefixed), ops)

    def one_of(literal_key: str, prefix_key: str, resource_type: ResourceType, what: str) -> None:
        literal, prefix = getattr(entry, literal_key), getattr(entry, prefix_key)
        ops = CONSUMER_GROUP_OPS if resource_type is ResourceType.GROUP else TRANSACTIONAL_ID_OPS
        if literal is None and prefix is None:
            work.error(
                (),
                f"role {entry.role} needs its {what}",
                hint=f"set `{literal_key}` (or `{prefix_key}` for several)",
            )
        elif literal is not None and prefix is not None:
            work.error((prefix_key,), f"give `{literal_key}` or `{prefix_key}`, not both")
        elif literal is not None:
            grant(resource_type, PatternType.LITERAL, [((literal_key,), literal)], ops)
        else:
            grant(resource_type, PatternType.PREFIXED, [((prefix_key,), prefix)], ops)

    if entry.role == "consumer":
        topics("topics", "topic_prefixes", CONSUMER_TOPIC_OPS, "the topics it reads")
        one_of("group", "group_prefix", ResourceType.GROUP, "consumer group")
    elif entry.role in ("producer", "transactional-producer"):
        topics("topics", "topic_prefixes", PRODUCER_TOPIC_OPS, "the topics it writes")
        if entry.role == "transactional-producer":
            one_of(
                "transactional_id",
                "transactional_id_prefix",
                ResourceType.TRANSACTIONAL_ID,
                "transactional id",
            )
    elif entry.role == "streams":
        app = entry.application_id
        if not app:
            work.error((), "role streams needs its `application_id`")
            return
        if not LEGAL_TOPIC.match(app):
            work.error(
                ("application_id",),
                f"application id {app!r} cannot prefix topic names",
                hint="use letters, digits, '.', '_' and '-'",
            )
            return
        topics("input_topics", "input_prefixes", CONSUMER_TOPIC_OPS, "the topics it reads")
        topics("output_topics", "output_prefixes", PRODUCER_TOPIC_OPS, "")
        internal = [(("application_id",), f"{app}-")]
        grant(ResourceType.TOPIC, PatternType.PREFIXED, internal, STREAMS_INTERNAL_TOPIC_OPS)
        grant(
            ResourceType.GROUP,
            PatternType.LITERAL,
            [(("application_id",), app)],
            CONSUMER_GROUP_OPS,
        )
        if entry.exactly_once:
            grant(
                ResourceType.TRANSACTIONAL_ID, PatternType.PREFIXED, internal, TRANSACTIONAL_ID_OPS
            )


DEAD_LETTER_WRITE_OPS = (Operation.WRITE, Operation.DESCRIBE)


def dead_letter_writes(entry: AclEntry, companions: Mapping[str, str]) -> list[Binding]:
    """What a consumer of a topic with a dead-letter topic needs beside its role: WRITE and
    DESCRIBE on the dead-letter topic (``companions``: topic -> its dead-letter topic), for
    every such topic the entry reads, by name or by prefix (consumer and streams roles)."""
    if entry.role == "consumer":
        literal, prefixes = entry.topics, entry.topic_prefixes
    elif entry.role == "streams":
        literal, prefixes = entry.input_topics, entry.input_prefixes
    else:
        return []
    read = set(literal)
    prefix_tuple = tuple(prefixes)
    return [
        Binding(
            entry.principal,
            ResourceType.TOPIC,
            PatternType.LITERAL,
            companion,
            operation,
            Permission.ALLOW,
        )
        for parent, companion in sorted(companions.items())
        if parent in read or (prefix_tuple and parent.startswith(prefix_tuple))
        for operation in DEAD_LETTER_WRITE_OPS
    ]


def check_ownership(settings: AclSettings, document: Document) -> list[Diagnostic]:
    """Problems with the project file's ``acls.ownership``, each at its line."""
    problems: list[Diagnostic] = []
    seen: list[tuple[int, Scope]] = []
    for index, model in enumerate(settings.ownership):
        path: PathKey = ("acls", "ownership", index)
        if not model.principals and not model.resource_prefixes:
            problems.append(
                document.diagnostic(
                    path,
                    f"ownership scope of team {model.team!r} names no principals and no "
                    "resource prefixes",
                    hint="a scope owns bindings by `principals`, `resource_prefixes` or both",
                )
            )
            continue
        for position, principal in enumerate(model.principals):
            bad = check_principal(principal)
            if bad:
                problems.append(document.diagnostic((*path, "principals", position), *bad))
        for position, prefix in enumerate(model.resource_prefixes):
            if not prefix or prefix == WILDCARD:
                problems.append(
                    document.diagnostic(
                        (*path, "resource_prefixes", position),
                        f"resource prefix {prefix!r} would claim every resource",
                        hint="own everything by principal instead, or name a real prefix",
                    )
                )
        scope = Scope.of(model)
        for other_index, other in seen:
            if (
                other.team != scope.team
                and (scope.external or other.external)
                and scope.overlaps(other)
            ):
                line = document.line_of(("acls", "ownership", other_index))
                problems.append(
                    document.diagnostic(
                        path,
                        f"ownership scope of team {scope.team!r} overlaps the scope of team "
                        f"{other.team!r} (line {line})",
                        hint="a binding in both would be managed from two places: narrow the "
                        "principals or prefixes so no binding can be in both",
                    )
                )
        seen.append((index, scope))
    return problems
