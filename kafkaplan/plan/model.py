"""The plan: a plain, versioned, serializable value.

``kafkaplan.plan.compute.compute_plan`` produces it; the renderers (text, Markdown, JSON) only read
it; ``kafkaplan.apply.runner`` carries it out without re-deciding anything. ``--format json``
prints exactly this model, and saved plans are this model on disk.

Format version 1. Compatible additions (new optional fields, new resource types or risk
labels) keep the version; anything that changes the meaning of an existing field bumps it.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class RiskLabel(StrEnum):
    DATA_LOSS = "data-loss"
    ORDERING = "ordering"
    ACCESS_LOSS = "access-loss"
    SCHEMA_BREAK = "schema-break"
    # Data is copied between brokers (new replicas of a partition reassignment).
    DATA_MOVEMENT = "data-movement"
    # Fewer replicas: the data survives fewer broker failures.
    DURABILITY = "durability"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Risk(_Model):
    label: RiskLabel
    message: str = Field(description="What could be lost or broken, with the figures.")


class FieldChange(_Model):
    """One changed attribute of a resource: ``partitions``, ``configs.retention.ms``, ..."""

    path: str
    before: Any = None
    after: Any = None


class Change(_Model):
    address: str = Field(description="Stable resource address, e.g. topic.orders.created.v1")
    resource_type: str
    name: str
    actions: list[Action] = Field(description="create, update, delete, or delete+create")
    before: dict[str, Any] | None = Field(default=None, description="Live value (managed part)")
    after: dict[str, Any] | None = Field(default=None, description="Desired value")
    fields: list[FieldChange] = Field(default_factory=list, description="For updates")
    risks: list[Risk] = Field(default_factory=list)
    source: str | None = Field(default=None, description="file:line of the declaration")
    depends_on: list[str] = Field(
        default_factory=list,
        description="Addresses of changes in this plan that must succeed before this one",
    )


class Message(_Model):
    message: str
    address: str | None = None
    source: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        parts = [
            f"{self.source}: " if self.source else "",
            f"{self.address}: " if self.address else "",
        ]
        text = "".join(parts) + self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class Plan(_Model):
    format_version: int = FORMAT_VERSION
    kafkaplan_version: str = ""
    environment: str | None = None
    cluster_id: str | None = None
    created_at: str | None = None
    targets: list[str] = Field(
        default_factory=list, description="--target address patterns the plan is restricted to"
    )
    live_fingerprint: str = Field(
        default="", description="Digest of the live state of every managed resource"
    )
    resource_fingerprints: dict[str, str] = Field(
        default_factory=dict,
        description="Per managed address: digest of its live state, or 'absent'",
    )
    changes: list[Change] = Field(default_factory=list)
    unmanaged: list[str] = Field(
        default_factory=list, description="Addresses live on the cluster but in no spec"
    )
    warnings: list[Message] = Field(default_factory=list)
    errors: list[Message] = Field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        """How many resources each action touches (a replace counts once as each)."""
        tally: Counter[str] = Counter()
        for change in self.changes:
            for action in change.actions:
                tally[action.value] += 1
        return {action.value: tally[action.value] for action in Action}

    def summary(self) -> str:
        counts = self.counts()
        return (
            f"{counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete"
        )
