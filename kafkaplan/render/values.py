"""Shared value formatting for the renderers."""

from __future__ import annotations

from typing import Any

from kafkaplan.plan import Action, Change
from kafkaplan.topic_configs import humanize

SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}

# Values a plan carries for apply but that are too long to show (a schema's full text).
HIDDEN = {"schema_text"}


def symbol(change: Change) -> str:
    if change.actions == [Action.DELETE, Action.CREATE]:
        return "-/+"
    return SYMBOLS[change.actions[0]]


def show(path: str, value: Any) -> str:
    """A field value as a reader wants it: configs with human units, None as the default."""
    if path.startswith("configs."):
        return humanize(path.removeprefix("configs."), None if value is None else str(value))
    if value is None:
        return "(none)"
    return str(value)


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
