"""ACLs: bindings compared as sets; create what the specs declare, delete what an owned
scope holds and no spec declares (only when deletes are allowed, within the limit, and
never kafkaplan's own principal's).

Bindings are normalized values (``kafkaplan.spec.acls.Binding``), so spelling and order never
produce a change; an ACL is never updated, only created or deleted. Changes are ordered by
principal, so each principal's gains and losses sit together in the plan.
"""

from __future__ import annotations

from functools import lru_cache

from kafkaplan.kinds import ResourceKind
from kafkaplan.live.checks import Checks
from kafkaplan.live.state import LiveState
from kafkaplan.plan.model import (
    AclBinding,
    Action,
    Change,
    CreateAcl,
    DeleteAcl,
    Message,
    Risk,
    RiskLabel,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart
from kafkaplan.spec.acls import Binding, DesiredAcls, Permission, acl_address, binding_order
from kafkaplan.spec.desired import DesiredState

PRESENT = "present"
MAX_UNREADABLE_SHOWN = 5


@lru_cache(maxsize=4)
def _live_keys(acls: frozenset[Binding]) -> frozenset[str]:
    return frozenset(binding.key for binding in acls)


def acl_digest(live: LiveState, name: str) -> str:
    """``present`` or ``absent``: the address names the whole binding."""
    return PRESENT if name in _live_keys(live.acls) else ABSENT


def diff_acls(
    desired: DesiredState, live: LiveState, options: PlanOptions, checks: Checks | None = None
) -> PlanPart:
    acls = desired.acls
    part = PlanPart()
    changes: list[tuple[Binding, Change]] = []
    for binding, source in acls.bindings.items():
        exists = binding in live.acls
        part.fingerprints[acl_address(binding)] = PRESENT if exists else ABSENT
        if not exists:
            changes.append((binding, _create(binding, source)))
    deletes: list[tuple[Binding, Change]] = []
    for binding in sorted(live.acls - acls.bindings.keys(), key=binding_order):
        scope = acls.owner(binding)
        if scope is None:
            if acls.external_owner(binding) is None:
                part.unmanaged.append(acl_address(binding))
            continue
        part.fingerprints[acl_address(binding)] = PRESENT
        deletes.append((binding, _delete(binding, scope.team)))
    part.errors.extend(_own_principal_errors(acls, deletes))
    if options.allow_deletes:
        changes.extend(deletes)
    elif deletes:
        part.warnings.append(_kept_warning(deletes))
    changes.sort(key=lambda item: binding_order(item[0]))
    part.changes.extend(change for _, change in changes)
    if checks is not None:
        part.errors.extend(
            Message(
                message=f"cannot {change.action.value} this binding: {reason}",
                address=change.address,
                source=change.source,
                hint="manage it with kafka-acls.sh and keep it out of the specs",
            )
            for binding, change in changes
            if (reason := checks.acl_unsupported.get(binding)) is not None
        )
    if live.unreadable_acls:
        part.warnings.append(_unreadable_warning(live.unreadable_acls))
    return part


def _create(binding: Binding, source: str) -> Change:
    risks = []
    if binding.permission is Permission.DENY:
        risks.append(
            Risk(
                label=RiskLabel.ACCESS_LOSS,
                message=f"{binding.principal} is denied {binding.operation} on "
                f"{binding.resource_phrase()}, whatever else allows it",
            )
        )
    return Change(
        address=acl_address(binding),
        kind=ResourceKind.ACL,
        name=binding.key,
        action=Action.CREATE,
        operation=CreateAcl(binding=AclBinding.of(binding)),
        after=binding.as_dict(),
        risks=risks,
        source=source,
    )


def _delete(binding: Binding, team: str) -> Change:
    risks = []
    if binding.permission is Permission.ALLOW:
        host = "" if binding.host == "*" else f" from host {binding.host}"
        risks.append(
            Risk(
                label=RiskLabel.ACCESS_LOSS,
                message=f"{binding.principal} loses {binding.operation} on "
                f"{binding.resource_phrase()}{host} (unless another binding allows it)",
            )
        )
    return Change(
        address=acl_address(binding),
        kind=ResourceKind.ACL,
        name=binding.key,
        action=Action.DELETE,
        operation=DeleteAcl(binding=AclBinding.of(binding)),
        before={**binding.as_dict(), "owner": team},
        risks=risks,
    )


def _own_principal_errors(
    acls: DesiredAcls, deletes: list[tuple[Binding, Change]]
) -> list[Message]:
    return [
        Message(
            message=f"refusing to delete a binding of kafkaplan's own principal "
            f"{binding.principal}: kafkaplan could lock itself out",
            address=change.address,
            hint="declare the binding in a spec, or take the principal out of the ownership "
            "scope in kafkaplan.yaml",
        )
        for binding, change in deletes
        if binding.principal in acls.protected_principals
    ]


def _kept_warning(deletes: list[tuple[Binding, Change]]) -> Message:
    count = len(deletes)
    shown = ", ".join(change.address for _, change in deletes[:MAX_UNREADABLE_SHOWN])
    more = f" and {count - MAX_UNREADABLE_SHOWN} more" if count > MAX_UNREADABLE_SHOWN else ""
    return Message(
        message=f"{count} ACL binding{'s' if count != 1 else ''} in the owned scope "
        f"{'are' if count != 1 else 'is'} in no spec: kept, because deletes are not enabled "
        f"for this run ({shown}{more})",
        hint="pass --allow-deletes to plan their deletion; to keep them, declare them in a "
        "spec or narrow acls.ownership",
    )


def _unreadable_warning(unreadable: tuple[str, ...]) -> Message:
    shown = "; ".join(unreadable[:MAX_UNREADABLE_SHOWN])
    more = len(unreadable) - MAX_UNREADABLE_SHOWN
    return Message(
        message=f"{len(unreadable)} ACL binding(s) of a kind this Kafka client cannot read were "
        f"left alone: {shown}" + (f" and {more} more" if more > 0 else ""),
        hint="delegation-token and user resource ACLs, and newer operations, are managed with "
        "kafka-acls.sh",
    )
