"""``compute_plan(desired, live)``: the pure heart of kafkaplan.

No I/O, no clock, no randomness: the same inputs always give the same plan, which is what
makes plans reviewable and property-testable. Each resource type contributes a part
(its changes, errors, unmanaged resources and live fingerprints); this module assembles
them in a stable order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafkaplan.kinds import ResourceKind, kind_of
from kafkaplan.live.checks import Checks
from kafkaplan.live.state import LiveState, fingerprint
from kafkaplan.plan.acls import acl_digest, diff_acls
from kafkaplan.plan.blast import blast_radius
from kafkaplan.plan.brokers import broker_digest, diff_brokers
from kafkaplan.plan.groups import diff_groups, group_digest
from kafkaplan.plan.limits import check_delete_limit, check_protection, flag_protected
from kafkaplan.plan.model import Message, Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart
from kafkaplan.plan.quotas import diff_quotas, quota_digest
from kafkaplan.plan.subjects import (
    diff_subjects,
    registry_config_digest,
    subject_config_digest,
    subject_digest,
)
from kafkaplan.plan.topics import diff_topics, topic_digest
from kafkaplan.plan.users import diff_users, user_digest
from kafkaplan.spec.desired import DesiredState

# Each resource type's diff, in the order its changes appear in the plan.
DIFFS: list[Callable[[DesiredState, LiveState, PlanOptions, Checks | None], PlanPart]] = [
    diff_topics,
    diff_acls,
    diff_subjects,
    diff_brokers,
    diff_users,
    diff_groups,
    diff_quotas,
]

# Kind -> digest of a resource's live state by name, for saved-plan staleness checks.
DIGESTS: dict[ResourceKind, Callable[[LiveState, str], str]] = {
    ResourceKind.TOPIC: topic_digest,
    ResourceKind.ACL: acl_digest,
    ResourceKind.SUBJECT: subject_digest,
    ResourceKind.SUBJECT_CONFIG: subject_config_digest,
    ResourceKind.REGISTRY_CONFIG: registry_config_digest,
    ResourceKind.BROKER: broker_digest,
    ResourceKind.USER: user_digest,
    ResourceKind.GROUP: group_digest,
    ResourceKind.QUOTA: quota_digest,
}


def compute_plan(
    desired: DesiredState,
    live: LiveState,
    options: PlanOptions | None = None,
    checks: Checks | None = None,
) -> Plan:
    """The plan from the desired and the live state, and the broker's and the registry's
    answers to the plan's questions (``checks``; None for a draft that only serves to find
    the questions, ``kafkaplan.plan.checks.questions``)."""
    options = options or PlanOptions()
    merged = PlanPart()
    for diff in DIFFS:
        part = diff(desired, live, options, checks)
        merged.changes.extend(part.changes)
        merged.errors.extend(part.errors)
        merged.warnings.extend(part.warnings)
        merged.unmanaged.extend(part.unmanaged)
        merged.fingerprints.update(part.fingerprints)
    if options.targets:
        merged = _restrict(merged, options)
        merged.warnings.append(_targeting(merged, options))
    changes, in_use, unchecked = blast_radius(merged.changes, desired, live, options)
    merged.changes = changes
    merged.errors.extend(in_use)
    merged.warnings.extend(unchecked)
    merged.changes = flag_protected(merged.changes, desired)
    merged.errors.extend(check_protection(merged.changes))
    refusal = check_delete_limit(merged.changes, options.max_destroy)
    if refusal is not None:
        merged.errors.append(refusal)
    fingerprints = dict(sorted(merged.fingerprints.items()))
    return Plan(
        cluster_id=live.cluster_id,
        targets=list(options.targets),
        allow_deletes=options.allow_deletes,
        in_use_override=options.allow_in_use_deletes,
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


def _targeting(part: PlanPart, options: PlanOptions) -> Message:
    """Terraform's rule: a targeted plan always says so, and says when nothing matched."""
    patterns = ", ".join(repr(t) for t in options.targets)
    if not part.fingerprints and not part.changes and not part.unmanaged:
        return Message(
            message=f"--target {patterns} matches no resource of the specs or the cluster",
            hint="check the addresses in `kafkaplan plan` without --target "
            "(e.g. 'topic.orders.*', 'acl.User:billing.*')",
        )
    return Message(
        message=f"targeting is in effect ({patterns}): this plan covers only the matching "
        "resources, and may not show every change the specs make",
        hint="plan without --target before relying on the whole estate being in sync",
    )


def live_fingerprints(live: LiveState, addresses: Iterable[str]) -> dict[str, str]:
    """Per address, a digest of its live state now (``absent`` when it does not exist)."""
    result = {}
    for address in sorted(addresses):
        kind = kind_of(address)
        name = address.partition(".")[2]
        result[address] = DIGESTS[kind](live, name) if kind is not None else ABSENT
    return result


__all__ = ["compute_plan", "live_fingerprints"]
