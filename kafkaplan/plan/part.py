"""What each resource type's diff contributes to a plan."""

from __future__ import annotations

from msgspec import Struct, field

from kafkaplan.live.checks import DryRun
from kafkaplan.plan.model import Change, Message

ABSENT = "absent"


class PlanPart(Struct):
    changes: list[Change] = field(default_factory=list)
    errors: list[Message] = field(default_factory=list)
    warnings: list[Message] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    # Per managed address, a digest of its live state (ABSENT when it does not exist).
    fingerprints: dict[str, str] = field(default_factory=dict)


def record_dry_run(
    change: Change,
    answer: DryRun | None,
    part: PlanPart,
    *,
    what: str,
    permission: str,
    subject: str | None = None,
) -> None:
    """The broker's dry run of ``change`` (``what``: "config update", "quota change", ...):
    its refusal is a plan error, so that it fails the plan, not every apply; a principal
    that may plan but lacks ``permission`` for the change gets a warning (the broker then
    validates only at apply)."""
    if answer is None:
        return
    if answer.denied:
        part.warnings.append(
            Message(
                message=f"could not dry-run the {what} (no {permission} for this principal); "
                "the broker validates it at apply",
                address=change.address,
                source=change.source,
            )
        )
    elif answer.refusal is not None:
        part.errors.append(
            Message(
                message=f"the broker would refuse {subject or 'this ' + what}: "
                f"{answer.refusal.message}",
                address=change.address,
                source=change.source,
                hint=answer.refusal.hint,
            )
        )
