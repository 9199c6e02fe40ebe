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
permission, instead of failing the run; a report with anything not checked is incomplete
(``kafkaplan drift`` then exits non-zero), so that a job that could not check is never green.

Each resource is reported once: the differences the plan finds for it (a config change, a
partition count that cannot be planned back, a schema version) are one item, with the spec
value and the live value of every field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum

from msgspec import structs
from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.kinds import ResourceKind, kind_of
from kafkaplan.live.state import LiveState
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.limits import is_protection_refusal
from kafkaplan.plan.model import Action, FieldChange, Message
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec.defaults import new_list
from kafkaplan.spec.desired import DesiredState, DesiredTopic

DRIFT_FORMAT_VERSION = 1


class DriftKind(StrEnum):
    CHANGED = "changed"
    MISSING = "missing"
    UNMANAGED = "unmanaged"


class DriftItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: DriftKind
    address: str
    message: str
    fields: list[FieldChange] = Field(
        default_factory=new_list,
        description="For changed resources: spec value (after) vs live (before)",
    )
    source: str | None = Field(default=None, description="file:line of the declaration")


class DriftReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    format_version: int = DRIFT_FORMAT_VERSION
    kafkaplan_version: str = ""
    environment: str | None = None
    cluster_id: str | None = None
    created_at: str | None = None
    items: list[DriftItem] = Field(default_factory=new_list)
    not_checked: list[Message] = Field(
        default_factory=new_list, description="Parts of the estate that could not be read, and why"
    )

    def counts(self) -> dict[str, int]:
        tally = Counter(item.kind.value for item in self.items)
        return {kind.value: tally[kind.value] for kind in DriftKind}

    @property
    def complete(self) -> bool:
        """Everything the specs declare (and the owned scopes) could be read and compared."""
        return not self.not_checked

    def failing(self, fail_on: set[DriftKind]) -> list[DriftItem]:
        return [item for item in self.items if item.kind in fail_on]


def _describe_update(fields: list[FieldChange]) -> str:
    paths = ", ".join(f.path for f in fields)
    return f"differs from its spec: {paths}"


def _unchecked(address: str, not_checked: Mapping[str, str]) -> bool:
    """Keys of ``not_checked`` are addresses or whole kinds of resource (``acl``)."""
    kind = kind_of(address)
    return address in not_checked or (kind is not None and kind.value in not_checked)


def _unplannable(
    error: Message, desired: DesiredState, live: LiveState
) -> tuple[str, list[FieldChange]]:
    """A plan error worded as drift: what the live resource has against what is declared."""
    kind = kind_of(error.address or "")
    name = (error.address or "").partition(".")[2]
    want, have = desired.topics.get(name), live.topics.get(name)
    if kind is ResourceKind.TOPIC and want is not None and have is not None:
        if have.partitions > want.partitions and error.message.startswith(
            "partitions cannot decrease"
        ):
            return (
                f"partitions {want.partitions} -> {have.partitions} (live has more than declared)",
                [FieldChange(path="partitions", before=have.partitions, after=want.partitions)],
            )
        if have.replication_factor != want.replication_factor and error.message.startswith(
            "replication factor cannot change"
        ):
            return (
                f"replication factor {want.replication_factor} -> {have.replication_factor} "
                "(live differs from declared)",
                [
                    FieldChange(
                        path="replication_factor",
                        before=have.replication_factor,
                        after=want.replication_factor,
                    )
                ],
            )
    return error.message, []


def _plannable(desired: DesiredState, live: LiveState, errors: list[Message]) -> DesiredState:
    """``desired`` with the partition count or the replication factor of every topic that
    the plan cannot bring to its spec (fewer partitions than live; a replication factor the
    plan refuses to change) taken from the live topic; ``desired`` itself when there is none."""
    relaxed: dict[str, DesiredTopic] = {}
    for error in errors:
        name = (error.address or "").partition(".")[2]
        want, have = desired.topics.get(name), live.topics.get(name)
        if kind_of(error.address or "") is not ResourceKind.TOPIC or want is None or have is None:
            continue
        want = relaxed.get(name, want)
        if error.message.startswith("partitions cannot decrease"):
            relaxed[name] = structs.replace(want, partitions=have.partitions)
        elif error.message.startswith("replication factor cannot change"):
            relaxed[name] = structs.replace(want, replication_factor=have.replication_factor)
    if not relaxed:
        return desired
    return structs.replace(desired, topics={**desired.topics, **relaxed})


def _once_per_resource(items: list[DriftItem]) -> list[DriftItem]:
    """One item per resource and class: the messages joined, every field once."""
    merged: dict[tuple[DriftKind, str], DriftItem] = {}
    for item in items:
        key = (item.kind, item.address)
        first = merged.get(key)
        if first is None:
            merged[key] = item
            continue
        paths = {f.path for f in first.fields}
        message = first.message
        if item.message not in message:
            message = f"{message}; {item.message}"
        merged[key] = first.model_copy(
            update={
                "message": message,
                "fields": [*first.fields, *(f for f in item.fields if f.path not in paths)],
                "source": first.source or item.source,
            }
        )
    return list(merged.values())


def compute_drift(
    desired: DesiredState, live: LiveState, naming_pattern: str | None = None
) -> DriftReport:
    """Classify every difference between the specs and the live state (pure)."""
    options = PlanOptions(allow_deletes=True)
    plan = compute_plan(desired, live, options)
    # A topic whose partitions or replication factor cannot be planned back has no change
    # in the plan; its other differences (configs) are found with those taken as live.
    relaxed = _plannable(desired, live, plan.errors)
    changes = plan.changes if relaxed is desired else compute_plan(relaxed, live, options).changes
    items: list[DriftItem] = []
    for change in changes:
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
        message, fields = _unplannable(error, desired, live)
        items.append(
            DriftItem(
                kind=DriftKind.MISSING if absent else DriftKind.CHANGED,
                address=error.address,
                message=message,
                fields=fields,
                source=error.source,
            )
        )
    items = _once_per_resource(items)
    taxonomy = re.compile(naming_pattern) if naming_pattern else None
    for address in plan.unmanaged:
        resource = kind_of(address)
        name = address.partition(".")[2]
        if resource is ResourceKind.TOPIC and taxonomy is not None and not taxonomy.search(name):
            continue  # outside the taxonomy and any owned scope: not ours to report
        if resource is ResourceKind.ACL or resource is ResourceKind.QUOTA:
            # Outside every owned scope (undeclared bindings or quota entities inside one
            # are deletes above): another team's, which a plan lists but drift does not
            # report.
            continue
        if resource is ResourceKind.USER:
            # Outside the owned user prefixes (undeclared users inside are deletes above):
            # listed by a plan, not drift.
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
