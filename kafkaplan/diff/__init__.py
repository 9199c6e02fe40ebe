"""``compute_plan(desired, live)``: the pure heart of kafkaplan.

No I/O, no clock, no randomness: the same inputs always give the same plan, which is what
makes plans reviewable and property-testable. Each resource type contributes a part
(its changes, errors, unmanaged resources and live fingerprints); this module assembles
them in a stable order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafkaplan.diff.part import ABSENT, PlanPart
from kafkaplan.diff.subjects import (
    diff_subjects,
    registry_config_digest,
    subject_config_digest,
    subject_digest,
)
from kafkaplan.diff.topics import diff_topics, topic_address, topic_digest
from kafkaplan.plan import Plan
from kafkaplan.state import DesiredState, LiveState, fingerprint

# Each resource type's diff, in the order its changes appear in the plan.
DIFFS: list[Callable[[DesiredState, LiveState], PlanPart]] = [diff_topics, diff_subjects]

# Address prefix -> digest of that resource's live state, for saved-plan staleness checks.
DIGESTS: dict[str, Callable[[LiveState, str], str]] = {
    "topic": topic_digest,
    "subject": subject_digest,
    "subject-config": subject_config_digest,
    "registry-config": registry_config_digest,
}


def compute_plan(desired: DesiredState, live: LiveState) -> Plan:
    merged = PlanPart()
    for diff in DIFFS:
        part = diff(desired, live)
        merged.changes.extend(part.changes)
        merged.errors.extend(part.errors)
        merged.warnings.extend(part.warnings)
        merged.unmanaged.extend(part.unmanaged)
        merged.fingerprints.update(part.fingerprints)
    fingerprints = dict(sorted(merged.fingerprints.items()))
    return Plan(
        cluster_id=live.cluster_id,
        live_fingerprint=fingerprint(fingerprints),
        resource_fingerprints=fingerprints,
        changes=merged.changes,
        unmanaged=merged.unmanaged,
        warnings=merged.warnings,
        errors=merged.errors,
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
