"""Client quotas: the spec format, the normalized ``QuotaEntity``, ownership scopes, and the
checks that give every problem its file and line.

A spec's ``quotas:`` entries name one entity (a user, a client id, a user and a client id,
or an IP address; ``<default>`` is the default entity of its type) and set some of its
quota keys. Only the keys an entry writes are managed: a key Kafka has on the entity that
the entry does not write is left alone, and ``null`` removes the key. docs/quotas.md is the
reference.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from msgspec import Struct, field
from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.defaults import new_list
from kafkaplan.spec.numbers import MaybeNumber
from kafkaplan.spec.source import Document, PathKey
from kafkaplan.spec.units import SIZE_UNITS, UnitError, format_size_bytes, parse_size_bytes

DEFAULT = "<default>"

# Kafka's entity types, in the order an entity lists them.
USER = "user"
CLIENT_ID = "client-id"
IP = "ip"
ENTITY_TYPES = (USER, CLIENT_ID, IP)

BYTE_RATE_KEYS = ("producer_byte_rate", "consumer_byte_rate")
CLIENT_KEYS = (*BYTE_RATE_KEYS, "request_percentage", "controller_mutation_rate")
IP_KEYS = ("connection_creation_rate",)
QUOTA_KEYS = (*CLIENT_KEYS, *IP_KEYS)

ScopeType = Literal["user", "client-id", "user+client-id", "ip"]


class QuotaEntity(Struct, frozen=True):
    """One quota entity: its (type, name) parts in Kafka's order; a name of None is the
    default entity of its type (``<default>`` in specs and addresses). Entities sort by
    type (users, client ids, IPs), a default before the named ones."""

    parts: tuple[tuple[str, str | None], ...]

    def _order(self) -> tuple[tuple[int, bool, str], ...]:
        return tuple((ENTITY_TYPES.index(k), n is not None, n or "") for k, n in self.parts)

    def __lt__(self, other: QuotaEntity) -> bool:
        return self._order() < other._order()

    @classmethod
    def of(
        cls, user: str | None = None, client_id: str | None = None, ip: str | None = None
    ) -> QuotaEntity:
        """From spec spellings (``<default>`` for a default entity)."""
        parts = [
            (kind, None if name == DEFAULT else name)
            for kind, name in ((USER, user), (CLIENT_ID, client_id), (IP, ip))
            if name is not None
        ]
        return cls(tuple(parts))

    @classmethod
    def from_parts(cls, parts: Iterable[tuple[str, str | None]]) -> QuotaEntity:
        return cls(tuple(sorted(parts, key=lambda part: ENTITY_TYPES.index(part[0]))))

    @property
    def key(self) -> str:
        """``user=alice,client-id=billing``: the address without its ``quota.`` prefix."""
        return ",".join(f"{kind}={DEFAULT if name is None else name}" for kind, name in self.parts)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.parts)

    @property
    def scope_type(self) -> str:
        return "+".join(self.types)

    @property
    def is_ip(self) -> bool:
        return self.types == (IP,)

    def names(self) -> tuple[str, ...]:
        return tuple(DEFAULT if name is None else name for _, name in self.parts)

    def as_spec(self) -> dict[str, str]:
        """``{"user": "alice", "client_id": "billing"}``, as a spec entry names it."""
        return {
            kind.replace("-", "_"): DEFAULT if name is None else name for kind, name in self.parts
        }

    def phrase(self) -> str:
        """``user 'alice' with client id 'billing'``, ``the default user``."""

        def one(kind: str, name: str | None) -> str:
            spelled = kind.replace("-", " ")
            return f"the default {spelled}" if name is None else f"{spelled} {name!r}"

        return " with ".join(one(kind, name) for kind, name in self.parts)

    def quota_keys(self) -> tuple[str, ...]:
        """The quota keys Kafka accepts on this entity."""
        return IP_KEYS if self.is_ip else CLIENT_KEYS


def quota_address(entity: QuotaEntity) -> str:
    return f"quota.{entity.key}"


# ---------------------------------------------------------------------------------------------
# Values: byte rates take size units per second (10MiB/s); the rest are plain numbers
# ---------------------------------------------------------------------------------------------

_PER_SECOND = re.compile(r"\s*/\s*s(ec(ond)?)?\s*$", re.IGNORECASE)


class QuotaValueError(ValueError):
    pass


def parse_quota_value(key: str, value: object) -> float:
    """The number Kafka stores for ``key``: ``10MiB/s`` -> 10485760.0 for byte rates."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuotaValueError(f"{key} must be a number, got {value!r}")
    if key in BYTE_RATE_KEYS:
        text = _PER_SECOND.sub("", value) if isinstance(value, str) else value
        try:
            number = float(parse_size_bytes(text))
        except UnitError as exc:
            raise QuotaValueError(
                f"{key}: {value!r} is not a byte rate (examples: 10MiB/s, 512KiB/s, 1048576)"
            ) from exc
    else:
        try:
            number = float(value)
        except ValueError as exc:
            raise QuotaValueError(f"{key} must be a number, got {value!r}") from exc
    if not math.isfinite(number) or number <= 0:
        raise QuotaValueError(f"{key} must be greater than 0, got {value!r}")
    if key == "request_percentage" and number > 100_000:
        raise QuotaValueError(f"{key} is a percentage of one I/O thread's time, got {value!r}")
    return number


def show_quota_value(key: str, value: float | None) -> str:
    """``10485760 (10MiB/s)`` for byte rates; ``25`` or ``0.5`` otherwise."""
    if value is None:
        return "(not set)"
    plain = str(int(value)) if value == int(value) else repr(value)
    if key in BYTE_RATE_KEYS and value == int(value):
        human = format_size_bytes(int(value))
        if not human.endswith("B") or human.endswith("iB"):
            return f"{plain} ({human}/s)"
    return plain


def spec_quota_value(key: str, value: float) -> str | int | float:
    """How ``import`` writes a stored value: ``10MiB/s``, ``25``, ``0.5``."""
    if value == int(value):
        number = int(value)
        if key in BYTE_RATE_KEYS:
            human = format_size_bytes(number)
            return f"{human}/s" if human.endswith("iB") else number
        return number
    return value


def plain_value(value: float) -> int | float:
    """A stored value for plans and JSON: whole numbers as integers."""
    return int(value) if value == int(value) else value


# ---------------------------------------------------------------------------------------------
# The spec format
# ---------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


QuotaValue = str | int | float | None


class QuotaEntry(_Model):
    """The quotas of one entity: a user, a client id, a user and a client id, or an IP
    address (`<default>`: the default entity of that type). Only the keys written here are
    managed; `null` removes a key."""

    user: str | None = Field(
        default=None,
        description="User principal name (without `User:`), or `<default>`.",
        examples=["billing"],
    )
    client_id: str | None = Field(
        default=None,
        description="Client id, or `<default>`; with `user`, the quota of that user's client.",
        examples=["billing-app"],
    )
    ip: str | None = Field(
        default=None,
        description="IP address, or `<default>`; only with `connection_creation_rate`.",
        examples=["10.0.0.1"],
    )
    producer_byte_rate: QuotaValue = Field(
        default=None,
        description="Bytes per second produced, with units: `10MiB/s`, `512KiB/s` (or bytes).",
        examples=["10MiB/s"],
    )
    consumer_byte_rate: QuotaValue = Field(
        default=None,
        description="Bytes per second fetched, with units: `20MiB/s` (or bytes).",
        examples=["20MiB/s"],
    )
    request_percentage: MaybeNumber = Field(
        default=None,
        description="Percentage of one request handler or network thread's time (per "
        "quota window); 200 is two threads' worth.",
        examples=[25],
    )
    controller_mutation_rate: MaybeNumber = Field(
        default=None,
        description="Partitions created or deleted per second (topic creations, partition "
        "increases, deletions).",
        examples=[10],
    )
    connection_creation_rate: MaybeNumber = Field(
        default=None,
        description="Connections per second from the IP address (IP entities only).",
        examples=[20],
    )

    def declared(self) -> dict[str, QuotaValue]:
        """The quota keys written in the entry (``None``: remove that key)."""
        return {key: getattr(self, key) for key in QUOTA_KEYS if key in self.model_fields_set}


class QuotaScopeModel(_Model):
    """Quota entities one team owns: those of `entity_types`, whose every name starts
    with one of `prefixes` (`<default>` names the default entities)."""

    team: str = Field(
        description="The owning team. A scope must not overlap another team's external scope."
    )
    entity_types: list[ScopeType] = Field(
        default_factory=new_list,
        description="Entity types in the scope: user, client-id, user+client-id, ip. "
        "Empty: every type.",
    )
    prefixes: list[str] = Field(
        default_factory=new_list,
        description="Name prefixes (user names, client ids, IP addresses) in the scope; "
        "empty: every name.",
    )
    external: bool = Field(
        default=False,
        description="Managed by another team or tool: kafkaplan never changes these "
        "entities' quotas, does not list them, and refuses specs that declare them.",
    )


class QuotaSettings(_Model):
    """How kafkaplan manages client quotas (the project file's `quotas:`)."""

    ownership: list[QuotaScopeModel] = Field(
        default_factory=new_list,
        description="The scopes kafkaplan owns: live quota entities inside an owned scope "
        "that no spec declares have their quotas removed (with --allow-deletes). Without "
        "any, kafkaplan only sets the declared quotas and removes nothing.",
    )


# ---------------------------------------------------------------------------------------------
# Desired state
# ---------------------------------------------------------------------------------------------


class QuotaScope(Struct, frozen=True):
    team: str
    types: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    external: bool = False

    def matches(self, entity: QuotaEntity) -> bool:
        if self.types and entity.scope_type not in self.types:
            return False
        return not self.prefixes or all(n.startswith(self.prefixes) for n in entity.names())

    def overlaps(self, other: QuotaScope) -> bool:
        """Could one entity be in both scopes?"""
        types = not self.types or not other.types or bool(self.types & other.types)
        prefixes = (
            not self.prefixes
            or not other.prefixes
            or any(
                a.startswith(b) or b.startswith(a) for a in self.prefixes for b in other.prefixes
            )
        )
        return types and prefixes

    @classmethod
    def of(cls, model: QuotaScopeModel) -> QuotaScope:
        return cls(
            team=model.team,
            types=frozenset(model.entity_types),
            prefixes=tuple(model.prefixes),
            external=model.external,
        )


class DesiredQuota(Struct, frozen=True):
    entity: QuotaEntity
    # Key -> the value Kafka should store; None: the key is removed.
    values: Mapping[str, float | None]
    source: str


class DesiredQuotas(Struct, frozen=True):
    entities: Mapping[QuotaEntity, DesiredQuota] = field(default_factory=dict)
    scopes: tuple[QuotaScope, ...] = ()

    @property
    def managed(self) -> bool:
        """Does this project manage quotas at all (so the live quotas must be read)?"""
        return bool(self.entities) or any(not s.external for s in self.scopes)

    def owner(self, entity: QuotaEntity) -> QuotaScope | None:
        return next((s for s in self.scopes if not s.external and s.matches(entity)), None)

    def external_owner(self, entity: QuotaEntity) -> QuotaScope | None:
        return next((s for s in self.scopes if s.external and s.matches(entity)), None)


# ---------------------------------------------------------------------------------------------
# Checks (every problem a Diagnostic at its file and line)
# ---------------------------------------------------------------------------------------------


def _had_other_keys(document: Document, path: PathKey) -> bool:
    """Whether the entry as written has keys beyond its entity's (and its description)."""
    raw: Any = document.data
    for key in path:
        try:
            raw = raw[key]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(raw, dict) and bool(
        set(raw) - {"user", "client_id", "ip", "description", "protected"}
    )


def check_entry(
    entry: QuotaEntry, document: Document, path: PathKey, problems: list[Diagnostic]
) -> DesiredQuota | None:
    """The normalized entry, or None with its problems appended."""
    before = len(problems)
    if entry.ip is not None and (entry.user is not None or entry.client_id is not None):
        problems.append(
            document.diagnostic(
                path,
                "an IP quota entity stands alone: `ip` cannot be combined with `user` or "
                "`client_id`",
                hint="write the IP's connection_creation_rate in an entry of its own",
            )
        )
        return None
    if entry.user is None and entry.client_id is None and entry.ip is None:
        problems.append(
            document.diagnostic(
                path,
                "a quota entry names no entity",
                hint="give `user`, `client_id`, both, or `ip` (`<default>` for the default)",
            )
        )
        return None
    for name_key in ("user", "client_id", "ip"):
        name = getattr(entry, name_key)
        if name is not None and (not name.strip() or name != name.strip()):
            problems.append(
                document.diagnostic(
                    (*path, name_key),
                    f"{name_key} {name!r} is empty or has leading or trailing spaces",
                )
            )
    if entry.ip is not None and entry.ip != DEFAULT:
        try:
            ipaddress.ip_address(entry.ip)
        except ValueError:
            problems.append(
                document.diagnostic(
                    (*path, "ip"),
                    f"{entry.ip!r} is not an IP address",
                    hint="an IPv4 or IPv6 address, or `<default>` (Kafka takes no ranges)",
                )
            )
    entity = QuotaEntity.of(entry.user, entry.client_id, entry.ip)
    declared = entry.declared()
    if not declared and not _had_other_keys(document, path):
        # (With a key left out as wrong, that key's own error says what is amiss.)
        problems.append(
            document.diagnostic(
                path,
                f"the quota entry of {entity.phrase()} sets no quota",
                hint=f"set one of {', '.join(entity.quota_keys())}",
            )
        )
    values: dict[str, float | None] = {}
    for key, raw in declared.items():
        if key not in entity.quota_keys():
            problems.append(
                document.diagnostic(
                    (*path, key),
                    f"{key} does not apply to {entity.phrase()}",
                    hint="connection_creation_rate is for IP entities only"
                    if key in IP_KEYS
                    else f"an IP entity takes only {', '.join(IP_KEYS)}",
                )
            )
            continue
        if raw is None:
            values[key] = None
            continue
        try:
            values[key] = parse_quota_value(key, raw)
        except QuotaValueError as exc:
            problems.append(
                document.diagnostic(
                    (*path, key), str(exc), hint=_UNIT_HINT if key in BYTE_RATE_KEYS else None
                )
            )
    if len(problems) > before:
        return None
    source = f"{document.file}:{document.line_of(path)}"
    return DesiredQuota(entity=entity, values=values, source=source)


_UNIT_HINT = f"size units per second: {', '.join(u for u in SIZE_UNITS if u != 'b')} (10MiB/s)"


def check_ownership(settings: QuotaSettings, document: Document) -> list[Diagnostic]:
    """Problems with the project file's ``quotas.ownership``, each at its line."""
    problems: list[Diagnostic] = []
    seen: list[tuple[int, QuotaScope]] = []
    for index, model in enumerate(settings.ownership):
        path: PathKey = ("quotas", "ownership", index)
        if not model.entity_types and not model.prefixes:
            problems.append(
                document.diagnostic(
                    path,
                    f"quota ownership scope of team {model.team!r} names no entity types and "
                    "no prefixes",
                    hint="a scope owns entities by `entity_types`, `prefixes` or both",
                )
            )
            continue
        for position, prefix in enumerate(model.prefixes):
            if not prefix:
                problems.append(
                    document.diagnostic(
                        (*path, "prefixes", position),
                        "an empty prefix would claim every entity",
                        hint="own every entity of a type by `entity_types` instead",
                    )
                )
        scope = QuotaScope.of(model)
        for other_index, other in seen:
            if (
                other.team != scope.team
                and (scope.external or other.external)
                and scope.overlaps(other)
            ):
                line = document.line_of(("quotas", "ownership", other_index))
                problems.append(
                    document.diagnostic(
                        path,
                        f"quota ownership scope of team {scope.team!r} overlaps the scope of "
                        f"team {other.team!r} (line {line})",
                        hint="narrow the entity types or prefixes so no entity is in both",
                    )
                )
        seen.append((index, scope))
    return problems
