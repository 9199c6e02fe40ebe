"""The terminal rendering of a plan, Terraform-style."""

from __future__ import annotations

from collections.abc import Callable

import click

from kafkaplan.kinds import ResourceKind
from kafkaplan.plan.model import Action, Change, Message, Plan
from kafkaplan.render.values import (
    acl_groups,
    acl_tally,
    bytes_lost_label,
    flatten,
    group_label,
    kind_counts,
    origin_note,
    protection_note,
    show,
    symbol,
    unique_principals,
)

_COLORS = {"+": "green", "~": "yellow", "-": "red", "-/+": "red"}

# Beyond this many lines of one list (unmanaged resources, one warning about many resources)
# the text shows the first ones and a count of the rest; the JSON plan lists every one.
TEXT_LIMIT = 25


def _more(count: int) -> str:
    return f"... and {count} more (the JSON plan, --format json, lists every one)"


def _warning_lines(warnings: list[Message]) -> list[str]:
    """One line per warning; one warning given for many resources (1,800 topics in an owned
    scope but in no spec) is said once, with its resources listed up to ``TEXT_LIMIT``."""
    groups: dict[tuple[str, str | None], list[Message]] = {}
    for warning in warnings:
        groups.setdefault((warning.message, warning.hint), []).append(warning)
    lines = []
    for (message, hint), group in groups.items():
        if len(group) == 1:
            lines.append(f"  ! {group[0]}")
            continue
        lines.append(
            f"  ! {len(group)} resources: {message}" + (f" (hint: {hint})" if hint else "")
        )
        shown = [
            "".join([f"{w.source}: " if w.source else "", w.address or ""]).rstrip(": ")
            for w in group
        ]
        lines.extend(f"      {line}" for line in shown[:TEXT_LIMIT])
        if len(shown) > TEXT_LIMIT:
            lines.append(f"      {_more(len(shown) - TEXT_LIMIT)}")
    return lines


def render_text(plan: Plan, *, color: bool = False) -> str:
    def style(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines: list[str] = []
    where = f' for environment "{plan.environment}"' if plan.environment else ""
    cluster = f" (cluster {plan.cluster_id})" if plan.cluster_id else ""
    lines.append(style(f"kafkaplan plan{where}{cluster}", bold=True))
    if plan.in_use_override:
        lines.append(
            style("--allow-in-use-deletes: topics consumer groups still read may be deleted", "red")
        )
    lines.append("")
    if plan.errors:
        lines.append(style(f"Errors ({len(plan.errors)}): the plan cannot be applied", "red", True))
        lines.extend(style(f"  ✗ {error}", "red") for error in plan.errors)
        lines.append("")
    for change in plan.changes:
        if change.kind is ResourceKind.ACL:
            continue  # shown below, by principal
        lines.extend(_change(change, style))
        lines.append("")
    for principal, changes in acl_groups(plan.changes):
        lines.append(style(f"ACLs of {principal}: {acl_tally(changes)}", bold=True))
        lines.extend(line for change in changes for line in _acl_change(change, style))
        lines.append("")
    if plan.warnings:
        lines.append(style("Warnings:", "yellow", True))
        lines.extend(_warning_lines(plan.warnings))
        lines.append("")
    if plan.unmanaged:
        lines.append(f"Unmanaged ({len(plan.unmanaged)}, in no spec, left alone):")
        lines.extend(f"  ? {address}" for address in plan.unmanaged[:TEXT_LIMIT])
        if len(plan.unmanaged) > TEXT_LIMIT:
            lines.append(f"  {_more(len(plan.unmanaged) - TEXT_LIMIT)}")
        lines.append("")
    if not plan.changes:
        lines.append(style("No changes. The live state matches the specs.", "green", True))
    else:
        lines.append(style(f"Plan: {plan.summary()}.", bold=True))
        counts = kind_counts(plan)
        if len(counts) > 1:
            lines.append(
                "  "
                + "; ".join(
                    f"{kind}: "
                    + ", ".join(f"{n} to {action.value}" for action, n in tally.items() if n)
                    for kind, tally in counts.items()
                )
            )
    return "\n".join(lines) + "\n"


def _acl_change(change: Change, style: Callable[..., str]) -> list[str]:
    """One line per binding (its address reads as the binding), then its risks."""
    mark = symbol(change)
    owner = (change.before or {}).get("owner")
    source = f"   ({change.source})" if change.source else ""
    if owner and not change.source:
        source = f"   (in team {owner}'s scope, in no spec)"
    lines = [
        style(f"  {mark} {change.address}", _COLORS[mark], True) + source + protection_note(change)
    ]
    lines.extend(style(f"      ! {r.label.value}: {r.message}", "magenta") for r in change.risks)
    return lines


def _change(change: Change, style: Callable[..., str]) -> list[str]:
    mark = symbol(change)
    color = _COLORS[mark]
    source = f"   ({change.source})" if change.source else ""
    lines = [style(f"  {mark} {change.address}", color, True) + source + protection_note(change)]
    if change.action is Action.CREATE:
        rows = flatten(change.after)
        width = max((len(path) for path, _ in rows), default=0)
        lines.extend(
            f"      {path.ljust(width)}  {show(path, value)}{origin_note(change, path)}"
            for path, value in rows
        )
    elif change.action is Action.DELETE:
        rows = flatten(change.before)
        width = max((len(path) for path, _ in rows), default=0)
        lines.extend(f"      {path.ljust(width)}  {show(path, value)}" for path, value in rows)
    else:
        width = max((len(item.path) for item in change.fields), default=0)
        for item in change.fields:
            before, after = show(item.path, item.before), show(item.path, item.after)
            lines.append(
                style("    ~ ", color)
                + f"{item.path.ljust(width)}  {before} -> {after}{origin_note(change, item.path)}"
            )
    for risk in change.risks:
        lines.append(style(f"    ! {risk.label.value}: {risk.message}", "magenta"))
    lines.extend(_affected(change))
    return lines


def _affected(change: Change) -> list[str]:
    """Who notices the change: owner, producers, consumers, consumer groups."""
    affected = change.affected
    if affected is None:
        return []
    lines = []
    if affected.topic != change.name:
        lines.append(f"    affected (topic {affected.topic}):")
    else:
        lines.append("    affected:")
    lines.append(f"      owner      {affected.owner or '(none declared)'}")
    for label, entries in (("producers", affected.producers), ("consumers", affected.consumers)):
        names = unique_principals(entries)
        lines.append(f"      {label:<10} {'; '.join(names) if names else '(none found)'}")
    if affected.groups:
        for index, group in enumerate(affected.groups):
            lines.append(f"      {'groups' if index == 0 else '':<10} {group_label(group)}")
    elif affected.groups_read:
        lines.append(f"      {'groups':<10} (no consumer group has offsets on it)")
    if affected.messages_lost is not None:
        lines.append(f"      {'loses':<10} {affected.messages_lost:,} message(s)")
    freed = bytes_lost_label(affected)
    if freed is not None:
        lines.append(f"      {'bytes':<10} {freed}")
    lines.extend(f"      note: {note}" for note in affected.notes)
    return lines
