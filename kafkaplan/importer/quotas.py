"""Import of client quotas: every live quota entity as a spec entry, in ``quotas.yaml``.

``kafkaplan import`` reads every entity in one DescribeClientQuotas request. An entity is
kept unless it is in an ``external`` quota ownership scope and, with ``--prefix``, when one
of its names starts with a prefix. Byte rates are written with units (``10MiB/s``) where
they are a whole number of KiB, MiB or GiB per second; keys the spec format does not know
(and IP entities Kafka accepts by host name) are left out, each with a reason. Entries are
sorted by entity: the same quotas always give the same file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import Struct, field

from kafkaplan.spec.quotas import (
    DEFAULT,
    QuotaEntity,
    QuotaScope,
    quota_address,
    spec_quota_value,
)

QUOTAS_FILE = "quotas.yaml"


class ImportedQuotas(Struct):
    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _unwritable(entity: QuotaEntity) -> str | None:
    """Why the spec format cannot name ``entity``, or None."""
    for kind, name in entity.parts:
        if name is not None and (not name.strip() or name != name.strip() or name == DEFAULT):
            return f"its {kind} name {name!r} cannot be written in a spec"
        if kind == "ip" and name is not None:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return f"{name!r} is a host name; specs name IP entities by address"
    return None


def import_quotas(
    live: Mapping[QuotaEntity, Mapping[str, float]],
    prefixes: Sequence[str],
    scopes: Sequence[QuotaScope],
) -> ImportedQuotas:
    result = ImportedQuotas()
    for entity in sorted(live):
        if any(scope.external and scope.matches(entity) for scope in scopes):
            continue
        if prefixes and not any(name.startswith(tuple(prefixes)) for name in entity.names()):
            continue
        address = quota_address(entity)
        reason = _unwritable(entity)
        if reason is not None:
            result.skipped.append(f"{address}: {reason}")
            continue
        entry: dict[str, Any] = dict(entity.as_spec())
        for key, value in sorted(live[entity].items(), key=lambda item: _order(entity, item[0])):
            if key not in entity.quota_keys():
                result.skipped.append(f"{address}: quota key {key} (not one kafkaplan manages)")
                continue
            entry[key] = spec_quota_value(key, value)
        if len(entry) > len(entity.parts):
            result.entries.append(entry)
    return result


def _order(entity: QuotaEntity, key: str) -> int:
    keys = entity.quota_keys()
    return keys.index(key) if key in keys else len(keys)
