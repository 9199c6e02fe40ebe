"""Client quotas: each declared entity's declared keys compared with Kafka's; keys set on a
declared entity that no spec writes are left alone, as topic configs are. An entity in an
owned scope (``quotas.ownership``) that no spec declares has its quotas removed (only when
deletes are allowed, within the limit). The broker dry-runs every change at plan time
(AlterClientQuotas with validateOnly), so a key or value it would refuse fails the plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kafkaplan.kinds import ResourceKind
from kafkaplan.live.checks import Checks
from kafkaplan.live.state import LiveState, fingerprint
from kafkaplan.plan.model import (
    Action,
    AlterQuotas,
    Change,
    DeleteQuotas,
    FieldChange,
    Message,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart, record_dry_run
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.quotas import DesiredQuota, QuotaEntity, plain_value, quota_address

MAX_SHOWN = 5


def _digest(values: Mapping[str, float]) -> str:
    return fingerprint(dict(sorted(values.items())))


def quota_digest(live: LiveState, name: str) -> str:
    """A digest of the entity's live quotas, or ``absent`` when it has none."""
    found = next((values for e, values in live.quotas.items() if e.key == name), None)
    return _digest(found) if found else ABSENT


def same_value(have: float | None, want: float | None) -> bool:
    if have is None or want is None:
        return have is want
    return math.isclose(have, want, rel_tol=1e-12)


def diff_quotas(
    desired: DesiredState, live: LiveState, options: PlanOptions, checks: Checks | None = None
) -> PlanPart:
    quotas = desired.quotas
    part = PlanPart()
    if not quotas.managed:
        return part
    for entity, want in quotas.entities.items():
        have = live.quotas.get(entity, {})
        address = quota_address(entity)
        part.fingerprints[address] = _digest(have) if have else ABSENT
        change = _alter(want, have)
        if change is None:
            continue
        part.changes.append(change)
        if checks is not None:
            record_dry_run(
                change,
                checks.quota_changes.get(entity),
                part,
                what="quota change",
                permission="ALTER_CONFIGS permission on the cluster",
            )
    deletes = []
    for entity in sorted(live.quotas):
        if entity in quotas.entities or not live.quotas[entity]:
            continue
        address = quota_address(entity)
        scope = quotas.owner(entity)
        if scope is None:
            if quotas.external_owner(entity) is None:
                part.unmanaged.append(address)
            continue
        part.fingerprints[address] = _digest(live.quotas[entity])
        deletes.append(_delete(entity, live.quotas[entity], scope.team))
    if options.allow_deletes:
        part.changes.extend(deletes)
    elif deletes:
        part.warnings.append(_kept_warning(deletes))
    return part


def _entity(entity: QuotaEntity) -> dict[str, str]:
    return entity.as_spec()


def _alter(want: DesiredQuota, have: Mapping[str, float]) -> Change | None:
    entity = want.entity
    changed = {
        key: value for key, value in want.values.items() if not same_value(have.get(key), value)
    }
    if not changed:
        return None
    managed_live = {k: plain_value(have[k]) for k in want.values if k in have}
    after = {k: plain_value(v) for k, v in want.values.items() if v is not None}
    action = Action.UPDATE if have else Action.CREATE
    return Change(
        address=quota_address(entity),
        kind=ResourceKind.QUOTA,
        name=entity.key,
        action=action,
        operation=AlterQuotas.of(entity, dict(sorted(changed.items()))),
        before={"entity": _entity(entity), "quotas": managed_live} if have else None,
        after={"entity": _entity(entity), "quotas": after},
        fields=[
            FieldChange(
                path=f"quotas.{key}",
                before=None if key not in have else plain_value(have[key]),
                after=None if value is None else plain_value(value),
            )
            for key, value in sorted(changed.items())
        ]
        if action is Action.UPDATE
        else [],
        source=want.source,
    )


def _delete(entity: QuotaEntity, have: Mapping[str, float], team: str) -> Change:
    return Change(
        address=quota_address(entity),
        kind=ResourceKind.QUOTA,
        name=entity.key,
        action=Action.DELETE,
        operation=DeleteQuotas.of(entity, sorted(have)),
        before={
            "entity": _entity(entity),
            "quotas": {k: plain_value(v) for k, v in sorted(have.items())},
            "owner": team,
        },
    )


def _kept_warning(deletes: list[Change]) -> Message:
    count = len(deletes)
    shown = ", ".join(change.address for change in deletes[:MAX_SHOWN])
    more = f" and {count - MAX_SHOWN} more" if count > MAX_SHOWN else ""
    return Message(
        message=f"{count} quota entit{'ies' if count != 1 else 'y'} in the owned scope "
        f"{'are' if count != 1 else 'is'} in no spec: kept, because deletes are not enabled "
        f"for this run ({shown}{more})",
        hint="pass --allow-deletes to plan the removal of their quotas; to keep them, "
        "declare them in a spec or narrow quotas.ownership",
    )
