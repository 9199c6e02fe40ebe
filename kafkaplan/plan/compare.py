"""How a fresh plan differs from the one that was reviewed (``apply --expect``).

Two plans are the same when they would make the same changes: the same addresses, each with
the same action, operation, before and after values, fields, risks and dependencies. What
only says when, by which version or from which line a plan was made (``created_at``,
``kafkaplan_version``, fingerprints, ``source``) is left aside: a reviewed plan is compared
with one computed minutes or hours later, perhaps after the specs were reformatted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from msgspec import Struct, field

from kafkaplan.plan.model import Change, FieldChange, Plan

# Keys of a change that do not change what apply does or what a reviewer approved.
IGNORED_CHANGE_KEYS = frozenset({"source"})

# Shown per changed change, at most; the rest are counted.
FIELDS_SHOWN = 10

DifferenceKind = Literal["added", "removed", "changed"]


class FieldDifference(Struct, frozen=True):
    path: str  # e.g. "operation.configs.retention.ms"
    reviewed: Any
    fresh: Any


class ChangeDifference(Struct, frozen=True):
    address: str
    kind: DifferenceKind
    action: str  # the fresh change's action (the reviewed one's for a removed change)
    fields: tuple[FieldDifference, ...] = ()  # every differing leaf
    shown: tuple[str, ...] = ()  # the same differences for people, one line per attribute


class PlanDifference(Struct, frozen=True):
    """Empty (falsy) when the fresh plan makes exactly the reviewed changes."""

    header: tuple[FieldDifference, ...] = ()  # environment, cluster id
    changes: tuple[ChangeDifference, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.header or self.changes)

    def counts(self) -> dict[DifferenceKind, int]:
        kinds: tuple[DifferenceKind, ...] = ("added", "removed", "changed")
        return {kind: sum(1 for c in self.changes if c.kind == kind) for kind in kinds}

    def summary(self) -> str:
        counts = self.counts()
        return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no change differs"

    def lines(self) -> list[str]:
        """The difference for people: one line per added or removed change, and per changed
        change its line followed by one indented line per differing field."""
        out = [f"{d.path}: reviewed {_show(d.reviewed)}, now {_show(d.fresh)}" for d in self.header]
        marks = {"added": "+", "removed": "-", "changed": "~"}
        for change in self.changes:
            what = {
                "added": f"added ({change.action}): not in the reviewed plan",
                "removed": f"removed ({change.action}): in the reviewed plan, not planned now",
                "changed": f"changed ({change.action}):",
            }[change.kind]
            out.append(f"{marks[change.kind]} {change.address} {what}")
            out.extend(f"    {line}" for line in change.shown[:FIELDS_SHOWN])
            if len(change.shown) > FIELDS_SHOWN:
                out.append(f"    and {len(change.shown) - FIELDS_SHOWN} more")
        return out


_ABSENT = object()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    return json.dumps(value, sort_keys=True)


def _comparable(change: Change) -> dict[str, Any]:
    dumped = change.model_dump(mode="json")
    # The changed attributes by their own path (`fields[configs.retention.ms].before`), so
    # that a difference in one of them names it.
    dumped["fields"] = {
        f"[{item['path']}]": {"before": item["before"], "after": item["after"]}
        for item in dumped["fields"]
    }
    return {key: value for key, value in dumped.items() if key not in IGNORED_CHANGE_KEYS}


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested mappings, by dotted path; lists are leaves (compared whole)."""
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            name = str(key)
            path = (
                name
                if not prefix
                else prefix + name
                if name.startswith("[")
                else f"{prefix}.{name}"
            )
            yield from _flatten(value[key], path)
    else:
        yield prefix, value


def _field_differences(reviewed: Change, fresh: Change) -> tuple[FieldDifference, ...]:
    before = dict(_flatten(_comparable(reviewed)))
    after = dict(_flatten(_comparable(fresh)))
    return tuple(
        FieldDifference(path, before.get(path, _ABSENT), after.get(path, _ABSENT))
        for path in sorted(before.keys() | after.keys())
        if before.get(path, _ABSENT) != after.get(path, _ABSENT)
    )


def _transition(field: FieldChange | None) -> str:
    if field is None:
        return "unchanged"
    return f"{_show(field.before)} -> {_show(field.after)}"


def _shown_value(path: str, value: Any) -> str:
    if path == "risks" and isinstance(value, list):  # the labels; the messages follow them
        return "none" if not value else ", ".join(str(risk.get("label")) for risk in value)
    return _show(value)


def _described(
    reviewed: Change, fresh: Change, differences: tuple[FieldDifference, ...]
) -> tuple[str, ...]:
    """One line per differing attribute, in the words of the plan: a changed attribute with
    both its transitions (``partitions: reviewed unchanged, now 3 -> 4``), then whatever else
    differs. ``before``/``after`` leaves already told by an attribute, and the operation
    (derived from them), are left out unless nothing else differs."""
    old = {item.path: item for item in reviewed.fields}
    new = {item.path: item for item in fresh.fields}
    lines = [
        f"{path}: reviewed {_transition(old.get(path))}, now {_transition(new.get(path))}"
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]
    told = {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}
    whole = {"create": "after.", "delete": "before."}.get(fresh.action.value)
    rest: list[str] = []
    for difference in differences:
        path = difference.path
        if path.startswith("fields["):
            continue
        side, _, attribute = path.partition(".")
        if side in ("before", "after") and attribute in told:
            continue
        if side == "operation":
            continue
        if whole is not None and path.startswith(whole):
            path = attribute
        rest.append(
            f"{path}: reviewed {_shown_value(path, difference.reviewed)}, "
            f"now {_shown_value(path, difference.fresh)}"
        )
    lines.extend(rest)
    if not lines:  # only the operation differs
        lines = [
            f"{d.path}: reviewed {_show(d.reviewed)}, now {_show(d.fresh)}" for d in differences
        ]
    return tuple(lines)


def compare_plans(reviewed: Plan, fresh: Plan) -> PlanDifference:
    """What ``fresh`` would do that ``reviewed`` did not say, and the reverse."""
    header = tuple(
        FieldDifference(name, getattr(reviewed, name), getattr(fresh, name))
        for name in ("environment", "cluster_id")
        if getattr(reviewed, name) != getattr(fresh, name)
    )
    old = {change.address: change for change in reviewed.changes}
    new = {change.address: change for change in fresh.changes}
    differences: list[ChangeDifference] = []
    for address in sorted(old.keys() | new.keys()):
        if address not in old:
            differences.append(ChangeDifference(address, "added", new[address].action.value))
        elif address not in new:
            differences.append(ChangeDifference(address, "removed", old[address].action.value))
        else:
            fields = _field_differences(old[address], new[address])
            if fields:
                shown = _described(old[address], new[address], fields)
                differences.append(
                    ChangeDifference(address, "changed", new[address].action.value, fields, shown)
                )
    return PlanDifference(header=header, changes=tuple(differences))
