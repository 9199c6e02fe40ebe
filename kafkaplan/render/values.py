"""Shared value formatting for the renderers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafkaplan.kinds import ResourceKind
from kafkaplan.plan.model import (
    Action,
    Affected,
    Change,
    CreateAcl,
    DeleteAcl,
    GroupUsage,
    Plan,
    Principal,
)
from kafkaplan.spec.acls import Binding
from kafkaplan.spec.groups import GROUP_CONFIGS, humanize_group_config
from kafkaplan.spec.quotas import show_quota_value
from kafkaplan.spec.topic_configs import humanize

SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}

# Values a plan carries for apply but that are too long to show (a schema's full text).
HIDDEN = {"schema_text"}


def symbol(change: Change) -> str:
    return SYMBOLS[change.action]


def show(path: str, value: Any) -> str:
    """A field value as a reader wants it: configs with human units, None as the default."""
    if path.startswith("configs."):
        key = path.removeprefix("configs.")
        text = None if value is None else str(value)
        # Group config keys (consumer.*, share.*, streams.*) are no topic config's.
        return humanize_group_config(key, text) if key in GROUP_CONFIGS else humanize(key, text)
    if path.startswith("quotas.") and not isinstance(value, bool | str):
        return show_quota_value(path.removeprefix("quotas."), value)
    if value is None:
        return "(none)"
    return str(value)


def acl_binding(change: Change) -> Binding:
    """The binding an ACL change creates or deletes."""
    if isinstance(change.operation, CreateAcl | DeleteAcl):
        return change.operation.binding.binding()
    raise TypeError(f"{change.address}: not an ACL change")


def kind_counts(plan: Plan) -> dict[ResourceKind, dict[Action, int]]:
    """Per kind of resource in the plan (in kind order), how many changes of each action."""
    counts: dict[ResourceKind, dict[Action, int]] = {}
    for change in plan.changes:
        counts.setdefault(change.kind, dict.fromkeys(Action, 0))[change.action] += 1
    return {kind: counts[kind] for kind in sorted(counts)}


def acl_groups(changes: Sequence[Change]) -> list[tuple[str, list[Change]]]:
    """The plan's ACL changes by principal (in plan order), so a reviewer sees who gains or
    loses what."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        if change.kind is ResourceKind.ACL:
            groups.setdefault(acl_binding(change).principal, []).append(change)
    return sorted(groups.items())


def acl_tally(changes: Sequence[Change]) -> str:
    """``2 to create, 1 to delete`` for one principal's ACL changes."""
    created = sum(c.action is Action.CREATE for c in changes)
    deleted = sum(c.action is Action.DELETE for c in changes)
    parts = [f"{created} to create" if created else "", f"{deleted} to delete" if deleted else ""]
    return ", ".join(part for part in parts if part)


def flatten(value: dict[str, Any] | None, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"configs": {"a": 1}}`` -> ``[("configs.a", 1)]``, keeping order."""
    rows: list[tuple[str, Any]] = []
    for key, item in (value or {}).items():
        if key in HIDDEN:
            continue
        path = f"{prefix}{key}"
        if isinstance(item, dict):
            rows.extend(flatten(item, f"{path}."))
        else:
            rows.append((path, item))
    return rows


def origin_note(change: Change, path: str) -> str:
    """``   (class state)`` when a value of a topic of a class comes from elsewhere than the
    topic itself; empty otherwise."""
    origin = change.origins.get(path)
    return "" if origin is None or origin == "topic" else f"   ({origin})"


def protection_note(change: Change) -> str:
    return "" if change.protected is None else f"   [protected: {change.protected}]"


def principal_label(entry: Principal) -> str:
    """``User:billing (role consumer, specs/acls.yaml:4)``, ``User:x (live only)``."""
    parts = []
    if entry.role:
        parts.append(f"role {entry.role}")
    if entry.declared and entry.source:
        parts.append(entry.source)
    elif not entry.declared:
        parts.append("live only")
    return f"{entry.principal} ({', '.join(parts)})" if parts else entry.principal


def group_label(group: GroupUsage) -> str:
    """``billing-app (STABLE, 2 members: a@h, b@h; lag 1,204)``."""
    facts = [group.state]
    if group.members:
        shown = ", ".join(group.members[:MEMBERS_SHOWN])
        more = len(group.members) - MEMBERS_SHOWN
        facts.append(
            f"{len(group.members)} member(s): {shown}" + (f" and {more} more" if more > 0 else "")
        )
    else:
        facts.append("no live members")
    text = f"{group.group} ({', '.join(facts)}"
    if group.lag is not None:
        text += f"; lag {group.lag:,}"
    if group.unread_lost:
        text += f"; {group.unread_lost:,} unread message(s) lost"
    if group.active:
        text += "; in use"
    return text + ")"


def unique_principals(entries: Sequence[Principal]) -> list[str]:
    """Each principal once, with the first way it is allowed (for compact summaries)."""
    seen: dict[str, str] = {}
    for entry in entries:
        seen.setdefault(entry.principal, principal_label(entry))
    return list(seen.values())


# Group members named per group before "and N more".
MEMBERS_SHOWN = 3


def size_label(size: int) -> str:
    """``50,511 bytes (49.3 KiB)``: the exact count, and a rounded binary unit when large."""
    text = f"{size:,} bytes"
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{text} ({size / scale:.1f} {unit})"
    return text


def bytes_lost_label(affected: Affected) -> str | None:
    """What a deletion or a retention cut frees on disk, said as exactly as it is known."""
    if affected.bytes_lost is None:
        return None
    if not affected.bytes_upper_bound:
        return size_label(affected.bytes_lost)
    return (
        f"up to {size_label(affected.bytes_lost)}: the partitions that lose records "
        "(Kafka deletes whole segments)"
    )
