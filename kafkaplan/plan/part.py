"""What each resource type's diff contributes to a plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafkaplan.plan.model import Change, Message

ABSENT = "absent"


@dataclass
class PlanPart:
    changes: list[Change] = field(default_factory=list)
    errors: list[Message] = field(default_factory=list)
    warnings: list[Message] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    # Per managed address, a digest of its live state (ABSENT when it does not exist).
    fingerprints: dict[str, str] = field(default_factory=dict)
