"""Import of ACL bindings: live bindings back into spec entries, as roles where they fit.

``kafkaplan import`` reads every binding in one DescribeAcls request. The bindings it keeps
(by ``--prefix``, outside every ``external`` ownership scope) are written per principal, in
``acls/<principal name>.yaml``, as a person would write them:

- **Roles** where a principal's bindings hold a role's expansion exactly (docs/acls.md):
  each role is anchored on what only that role grants (a streams application's internal
  topic prefix and group, a consumer group, a transactional id) and takes every topic the
  principal may use that way, so each role entry is as large as the live bindings allow.
  A ``producer`` entry covers the written topics when no transactional id or streams
  application does. Only ``ALLOW`` bindings from any host can be part of a role.
- **Raw entries** for the rest, compacted: bindings sharing principal, resource type,
  pattern, permission, operations and hosts are one entry with several names (and
  likewise several operations and hosts), always as an exact product, never a superset.

Every entry is expanded again by ``kafkaplan.spec.acls.expand_entry``, the code ``plan`` uses, and
a role entry is kept only if its expansion is a subset of the live bindings; so expanding
the imported entries gives exactly the imported bindings (the round trip the property
tests check). Everything is sorted: the same bindings always give the same entries.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.acls import (
    CLUSTER_NAME,
    CONSUMER_GROUP_OPS,
    CONSUMER_TOPIC_OPS,
    PRODUCER_TOPIC_OPS,
    STREAMS_INTERNAL_TOPIC_OPS,
    TRANSACTIONAL_ID_OPS,
    WILDCARD,
    AclEntry,
    Binding,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    Scope,
    binding_order,
    expand_entry,
)
from kafkaplan.spec.source import Document

Entry = dict[str, Any]
Resource = tuple[PatternType, str]

ROLE_ORDER = ("consumer", "producer", "transactional-producer", "streams")
_LEGAL_ID = re.compile(r"^[a-zA-Z0-9._-]+$")
_OPERATION_ORDER = {operation: index for index, operation in enumerate(Operation)}
_TYPE_ORDER = {kind: index for index, kind in enumerate(ResourceType)}
_DOCUMENT = Document(file="<import>", data=None)


def expand(entry: Entry) -> tuple[set[Binding], list[Diagnostic]]:
    """The bindings a spec entry stands for, by the same code a plan uses, and its problems."""
    problems: list[Diagnostic] = []
    bindings = expand_entry(AclEntry.model_validate(entry), _DOCUMENT, (), problems)
    return set(bindings), problems


def principal_name_matches(principal: str, prefixes: Sequence[str]) -> bool:
    """``User:billing-app`` matches ``billing`` (and ``User:billing``)."""
    name = principal.partition(":")[2]
    return name.startswith(tuple(prefixes)) or principal.startswith(tuple(prefixes))


def select(
    bindings: Iterable[Binding], prefixes: Sequence[str], scopes: Sequence[Scope]
) -> list[Binding]:
    """The bindings to import: outside every external scope and, with prefixes, those on a
    resource whose name starts with one of them or of a principal whose name does."""
    chosen = []
    for binding in bindings:
        if any(scope.external and scope.matches(binding) for scope in scopes):
            continue
        if prefixes and not (
            binding.resource_name.startswith(tuple(prefixes))
            or principal_name_matches(binding.principal, prefixes)
        ):
            continue
        chosen.append(binding)
    return sorted(chosen, key=binding_order)


def writable(binding: Binding) -> str | None:
    """Why the spec format cannot hold ``binding`` (an operation invalid for its resource
    type, a host name instead of an IP address, ...), or None.

    The spec checks of each part are independent, so each part is checked once, with the
    plan's own expansion code, on an entry whose other parts are known to be fine."""
    cluster, kind = (ResourceType.CLUSTER, CLUSTER_NAME), binding.resource_type
    any_name = CLUSTER_NAME if kind is ResourceType.CLUSTER else WILDCARD
    return (
        _problem(binding.principal, *cluster)
        or _problem(_PROBE, *cluster, host=binding.host)
        or _problem(_PROBE, kind, any_name, op=binding.operation)
        or _problem(_PROBE, kind, binding.resource_name, pattern=binding.pattern_type)
    )


_PROBE = "User:probe"


@lru_cache(maxsize=65536)
def _problem(
    principal: str,
    kind: ResourceType,
    name: str,
    *,
    pattern: PatternType = PatternType.LITERAL,
    host: str = WILDCARD,
    op: Operation = Operation.ALL,
) -> str | None:
    entry = _raw_entry(principal, kind, pattern, Permission.ALLOW, [name], [op], [host])
    _, problems = expand(entry)
    return problems[0].message if problems else None


def principal_file(principal: str) -> str:
    """``User:billing`` -> ``acls/billing.yaml``; other principal types get their type as a
    prefix (``Group:ops`` -> ``acls/group-ops.yaml``). Lower case, so that file systems that
    ignore case never merge two files differently from one that does not."""
    kind, _, name = principal.partition(":")
    stem = "every-user" if name == WILDCARD else re.sub(r"[^a-z0-9._-]+", "_", name.lower())
    stem = stem.strip("._") or "principal"
    if kind != "User":
        stem = f"{re.sub(r'[^a-z0-9]+', '_', kind.lower())}-{stem}"
    return f"acls/{stem}.yaml"


def collapse(bindings: Iterable[Binding]) -> list[Entry]:
    """Spec entries whose expansion is exactly ``bindings``: roles where they fit, compact
    raw entries for the rest; grouped by principal, in a stable order."""
    by_principal: dict[str, set[Binding]] = defaultdict(set)
    for binding in bindings:
        by_principal[binding.principal].add(binding)
    entries: list[Entry] = []
    for principal in sorted(by_principal):
        entries.extend(_collapse_principal(principal, by_principal[principal]))
    return entries


def _one_or_many(values: Sequence[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


def _raw_entry(
    principal: str,
    resource_type: ResourceType,
    pattern: PatternType,
    permission: Permission,
    names: Sequence[str],
    operations: Sequence[Operation],
    hosts: Sequence[str],
) -> Entry:
    entry: Entry = {"principal": principal, "resource_type": resource_type.spelled}
    if pattern is PatternType.PREFIXED:
        entry["pattern_type"] = "prefixed"
    if not (resource_type is ResourceType.CLUSTER and list(names) == [CLUSTER_NAME]):
        entry["names"] = _one_or_many(sorted(names))
    ordered = sorted(operations, key=_OPERATION_ORDER.__getitem__)
    entry["operations"] = _one_or_many([op.value for op in ordered])
    if permission is Permission.DENY:
        entry["permission"] = "deny"
    if list(hosts) != [WILDCARD]:
        entry["hosts"] = _one_or_many(sorted(hosts, key=lambda h: (h != WILDCARD, h)))
    return entry


class _Resources:
    """A principal's ALLOW-from-any-host bindings, as operations per resource."""

    def __init__(self, bindings: Iterable[Binding]):
        self.ops: dict[tuple[ResourceType, PatternType, str], set[Operation]] = defaultdict(set)
        for b in bindings:
            if b.permission is Permission.ALLOW and b.host == WILDCARD:
                self.ops[(b.resource_type, b.pattern_type, b.resource_name)].add(b.operation)

    def has(
        self, kind: ResourceType, pattern: PatternType, name: str, needed: Iterable[Operation]
    ) -> bool:
        held = self.ops.get((kind, pattern, name))
        return held is not None and set(needed) <= held

    def of(self, kind: ResourceType, needed: Iterable[Operation]) -> list[Resource]:
        needed = tuple(needed)
        return sorted(
            (pattern, name)
            for (k, pattern, name) in self.ops
            if k is kind and self.has(k, pattern, name, needed)
        )


def _split(resources: Sequence[Resource]) -> tuple[list[str], list[str]]:
    literal = [name for pattern, name in resources if pattern is PatternType.LITERAL]
    prefixed = [name for pattern, name in resources if pattern is PatternType.PREFIXED]
    return literal, prefixed


def _topics(entry: Entry, literal_key: str, prefix_key: str, topics: Sequence[Resource]) -> None:
    literal, prefixed = _split(topics)
    if literal:
        entry[literal_key] = literal
    if prefixed:
        entry[prefix_key] = prefixed


def _anchored(
    entry: Entry, literal_key: str, prefix_key: str, anchor: Resource
) -> tuple[str, Entry]:
    pattern, name = anchor
    entry[literal_key if pattern is PatternType.LITERAL else prefix_key] = name
    return name, entry


def _role_candidates(principal: str, have: _Resources) -> list[tuple[str, Entry]]:
    """(anchor, entry) per role this principal's bindings can hold, each with every topic
    it can take."""
    topic, group, txn = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    prefixed, literal = PatternType.PREFIXED, PatternType.LITERAL
    apps = [
        name[:-1]
        for pattern, name in have.of(topic, STREAMS_INTERNAL_TOPIC_OPS)
        if pattern is prefixed
        and name.endswith("-")
        and _LEGAL_ID.match(name[:-1])
        and have.has(group, literal, name[:-1], CONSUMER_GROUP_OPS)
    ]

    def usable(ops: Sequence[Operation], internal: set[Resource]) -> list[Resource]:
        return [r for r in have.of(topic, ops) if r not in internal]

    internal = {(prefixed, f"{app}-") for app in apps}
    reads = usable(CONSUMER_TOPIC_OPS, internal)
    if not reads:  # a streams application needs input topics: no application here
        apps, internal = [], set()
        reads = usable(CONSUMER_TOPIC_OPS, internal)
    writes = usable(PRODUCER_TOPIC_OPS, internal)

    candidates: list[tuple[str, Entry]] = []
    streams_txns: set[Resource] = set()
    for app in apps:
        entry: Entry = {"principal": principal, "role": "streams", "application_id": app}
        _topics(entry, "input_topics", "input_prefixes", reads)
        _topics(entry, "output_topics", "output_prefixes", writes)
        if have.has(txn, prefixed, f"{app}-", TRANSACTIONAL_ID_OPS):
            entry["exactly_once"] = True
            streams_txns.add((prefixed, f"{app}-"))
        candidates.append((app, entry))
    if reads:
        app_groups = {(literal, app) for app in apps}
        for anchor in have.of(group, CONSUMER_GROUP_OPS):
            if anchor not in app_groups:
                entry = {"principal": principal, "role": "consumer"}
                _topics(entry, "topics", "topic_prefixes", reads)
                candidates.append(_anchored(entry, "group", "group_prefix", anchor))
    txns = [t for t in have.of(txn, TRANSACTIONAL_ID_OPS) if t not in streams_txns]
    if writes:
        for anchor in txns:
            entry = {"principal": principal, "role": "transactional-producer"}
            _topics(entry, "topics", "topic_prefixes", writes)
            candidates.append(
                _anchored(entry, "transactional_id", "transactional_id_prefix", anchor)
            )
        if not apps and not txns:
            entry = {"principal": principal, "role": "producer"}
            _topics(entry, "topics", "topic_prefixes", writes)
            candidates.append(("", entry))
    return candidates


def _collapse_principal(principal: str, bindings: set[Binding]) -> list[Entry]:
    roles: list[tuple[int, str, Entry]] = []
    covered: set[Binding] = set()
    for anchor, entry in _role_candidates(principal, _Resources(bindings)):
        expansion, problems = expand(entry)
        if problems or not expansion <= bindings:
            continue  # cannot happen for valid bindings; never widen access on import
        roles.append((ROLE_ORDER.index(entry["role"]), anchor, entry))
        covered |= expansion
    raw = _compact(principal, bindings - covered)
    return [entry for _, _, entry in sorted(roles, key=lambda r: r[:2])] + raw


def _compact(principal: str, bindings: Iterable[Binding]) -> list[Entry]:
    """Raw entries, each an exact product names x operations x hosts."""
    kinds: dict[
        tuple[ResourceType, PatternType, Permission], dict[str, dict[str, set[Operation]]]
    ] = defaultdict(lambda: defaultdict(lambda: defaultdict(set)))
    for b in bindings:
        kinds[(b.resource_type, b.pattern_type, b.permission)][b.resource_name][b.host].add(
            b.operation
        )
    keyed: list[tuple[Any, Entry]] = []
    for (kind, pattern, permission), names in kinds.items():
        shapes: dict[tuple[frozenset[str], frozenset[Operation]], list[str]] = defaultdict(list)
        for name, per_host in names.items():
            by_ops: dict[frozenset[Operation], set[str]] = defaultdict(set)
            for host, held in per_host.items():
                by_ops[frozenset(held)].add(host)
            for operations, same_hosts in by_ops.items():
                shapes[(frozenset(same_hosts), operations)].append(name)
        for (hosts, operations), shape_names in shapes.items():
            entry = _raw_entry(
                principal, kind, pattern, permission, shape_names, list(operations), list(hosts)
            )
            key = (
                _TYPE_ORDER[kind],
                pattern.value,
                permission.value,
                sorted(shape_names),
                sorted(_OPERATION_ORDER[op] for op in operations),
                sorted(hosts),
            )
            keyed.append((key, entry))
    return [entry for _, entry in sorted(keyed, key=lambda item: item[0])]
