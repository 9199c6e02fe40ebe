"""``compute_plan(desired, live)``: the pure heart of kafkaplan.

No I/O, no clock, no randomness: the same inputs always give the same plan, which is what
makes plans reviewable and property-testable. Each resource type contributes a part
(its changes, errors, unmanaged resources and live fingerprints); this module assembles
them in a stable order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafkaplan.live.state import LiveState, fingerprint
from kafkaplan.plan.acls import acl_digest, diff_acls
from kafkaplan.plan.brokers import broker_digest, diff_brokers
from kafkaplan.plan.limits import check_delete_limit
from kafkaplan.plan.model import Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart
from kafkaplan.plan.subjects import (
    diff_subjects,
    registry_config_digest,
    subject_config_digest,
    subject_digest,
)
from kafkaplan.plan.topics import diff_topics, topic_address, topic_digest
from kafkaplan.spec.desired import DesiredState

# Each resource type's diff, in the order its changes appear in the plan.
DIFFS: list[Callable[[DesiredState, LiveState, PlanOptions], PlanPart]] = [
    diff_topics,
    diff_acls,
    diff_subjects,
    diff_brokers,
]

# Address prefix -> digest of that resource's live state, for saved-plan staleness checks.
DIGESTS: dict[str, Callable[[LiveState, str], str]] = {
    "topic": topic_digest,
    "acl": acl_digest,
    "subject": subject_digest,
    "subject-config": subject_config_digest,
    "registry-config": registry_config_digest,
    "broker": broker_digest,
}


def compute_plan(
    desired: DesiredState, live: LiveState, options: PlanOptions | None = None
) -> Plan:
    options = options or PlanOptions()
    merged = PlanPart()
    for diff in DIFFS:
        part = diff(desired, live, options)
        merged.changes.extend(part.changes)
        merged.errors.extend(part.errors)
        merged.warnings.extend(part.warnings)
        merged.unmanaged.extend(part.unmanaged)
        merged.fingerprints.update(part.fingerprints)
    if options.targets:
        merged = _restrict(merged, options)
    refusal = check_delete_limit(merged.changes, options.max_destroy)
    if refusal is not None:
        merged.errors.append(refusal)
    fingerprints = dict(sorted(merged.fingerprints.items()))
    return Plan(
        cluster_id=live.cluster_id,
        targets=list(options.targets),
        live_fingerprint=fingerprint(fingerprints),
        resource_fingerprints=fingerprints,
        changes=merged.changes,
        unmanaged=merged.unmanaged,
        warnings=merged.warnings,
        errors=merged.errors,
    )


def _restrict(part: PlanPart, options: PlanOptions) -> PlanPart:
    """Only the targeted addresses (``--target``); messages without an address stay."""

    def keep(address: str | None) -> bool:
        return address is None or options.targeted(address)

    return PlanPart(
        changes=[c for c in part.changes if keep(c.address)],
        errors=[m for m in part.errors if keep(m.address)],
        warnings=[m for m in part.warnings if keep(m.address)],
        unmanaged=[a for a in part.unmanaged if keep(a)],
        fingerprints={a: d for a, d in part.fingerprints.items() if keep(a)},
    )


def live_fingerprints(live: LiveState, addresses: Iterable[str]) -> dict[str, str]:
    """Per address, a digest of its live state now (``absent`` when it does not exist)."""
    result = {}
    for address in sorted(addresses):
        kind, _, name = address.partition(".")
        digest = DIGESTS.get(kind)
        result[address] = digest(live, name) if digest else ABSENT
    return result


__all__ = ["compute_plan", "live_fingerprints", "topic_address"]
