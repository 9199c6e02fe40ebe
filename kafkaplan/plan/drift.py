"""Drift: how the live cluster differs from the specs, classified for a nightly report.

Drift is computed from the same pure plan that ``kafkaplan plan`` shows (with deletes
enabled, so resources in an owned scope that no spec declares are seen), then each
difference is classified:

- **changed**: a managed resource differs from its spec (a config altered by hand,
  partitions added, a binding or schema version changed outside git);
- **missing**: declared in a spec but absent from the cluster;
- **unmanaged**: present, inside an owned scope or matching the naming taxonomy, but in no
  spec (a topic created by hand).

Resources the principal may not read are reported as *not checked*, naming the missing
permission, instead of failing the run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.kinds import ResourceKind, kind_of
from kafkaplan.live.state import LiveState
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.limits import is_protection_refusal
from kafkaplan.plan.model import Action, FieldChange, Message
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec.desired import DesiredState

DRIFT_FORMAT_VERSION = 1


class DriftKind(StrEnum):
    CHANGED = "changed"
    MISSING = "missing"
    UNMANAGED = "unmanaged"


class DriftItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DriftKind
    address: str
    message: str
    fields: list[FieldChange] = Field(
        default_factory=list,
        description="For changed resources: spec value (after) vs live (before)",
    )
    source: str | None = Field(default=None, description="file:line of the declaration")


class DriftReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = DRIFT_FORMAT_VERSION
    kafkaplan_version: str = ""
    environment: str | None = None
    cluster_id: str | None = None
    created_at: str | None = None
    items: list[DriftItem] = Field(default_factory=list)
    not_checked: list[Message] = Field(
        default_factory=list, description="Parts of the estate that could not be read, and why"
    )

    def counts(self) -> dict[str, int]:
        tally = Counter(item.kind.value for item in self.items)
        return {kind.value: tally[kind.value] for kind in DriftKind}

    def failing(self, fail_on: set[DriftKind]) -> list[DriftItem]:
        return [item for item in self.items if item.kind in fail_on]


def _describe_update(fields: list[FieldChange]) -> str:
    paths = ", ".join(f.path for f in fields)
    return f"differs from its spec: {paths}"


def _unchecked(address: str, not_checked: Mapping[str, str]) -> bool:
    """Keys of ``not_checked`` are addresses or whole kinds of resource (``acl``)."""
    kind = kind_of(address)
    return address in not_checked or (kind is not None and kind.value in not_checked)


def compute_drift(
    desired: DesiredState, live: LiveState, naming_pattern: str | None = None
) -> DriftReport:
    """Classify every difference between the specs and the live state (pure)."""
    plan = compute_plan(desired, live, PlanOptions(allow_deletes=True))
    items: list[DriftItem] = []
    for change in plan.changes:
        if change.action is Action.CREATE and change.kind is ResourceKind.SUBJECT_CONFIG:
            # The subject has no level of its own (someone removed it, or set it to the
            # global level): its compatibility differs from the declared one.
            kind, message = DriftKind.CHANGED, _describe_update(change.fields)
        elif change.action is Action.CREATE:
            kind, message = DriftKind.MISSING, "declared but absent"
        elif change.action is Action.DELETE:
            kind, message = DriftKind.UNMANAGED, "in an owned scope but in no spec"
        else:
            kind, message = DriftKind.CHANGED, _describe_update(change.fields)
        items.append(
            DriftItem(
                kind=kind,
                address=change.address,
                message=message,
                fields=change.fields if kind is DriftKind.CHANGED else [],
                source=change.source,
            )
        )
    # Changes a plan cannot make (fewer partitions in the spec than live, a different
    # replication factor) are plan errors, but for drift they are differences like any
    # other: someone changed the resource.
    for error in plan.errors:
        if error.address is None or is_protection_refusal(error):
            continue  # a protected resource's delete is reported as the difference above
        absent = plan.resource_fingerprints.get(error.address) == "absent"
        items.append(
            DriftItem(
                kind=DriftKind.MISSING if absent else DriftKind.CHANGED,
                address=error.address,
                message=error.message,
                source=error.source,
            )
        )
    taxonomy = re.compile(naming_pattern) if naming_pattern else None
    for address in plan.unmanaged:
        resource = kind_of(address)
        name = address.partition(".")[2]
        if resource is ResourceKind.TOPIC and taxonomy is not None and not taxonomy.search(name):
            continue  # outside the taxonomy and any owned scope: not ours to report
        if resource is ResourceKind.ACL:
            # Outside every owned scope (undeclared bindings inside one are deletes above):
            # another team's bindings, which a plan lists but drift does not report.
            continue
        items.append(
            DriftItem(
                kind=DriftKind.UNMANAGED,
                address=address,
                message="present but in no spec",
            )
        )
    # What could not be read is reported as not checked, never as missing or unmanaged.
    items = [item for item in items if not _unchecked(item.address, live.not_checked)]
    items.sort(key=lambda item: (list(DriftKind).index(item.kind), item.address))
    not_checked = [
        Message(message=reason, address=address)
        for address, reason in sorted(live.not_checked.items())
    ]
    return DriftReport(cluster_id=live.cluster_id, items=items, not_checked=not_checked)
