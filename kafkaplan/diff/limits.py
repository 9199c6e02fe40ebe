"""Limits on how much one plan may destroy: the single place such a check lives."""

from __future__ import annotations

from collections.abc import Iterable

from kafkaplan.plan import Action, Change, Message


def check_delete_limit(
    changes: Iterable[Change],
    limit: int | None,
    *,
    what: str,
    setting: str,
    resource_type: str | None = None,
) -> Message | None:
    """A refusal when ``changes`` delete more than ``limit`` resources (of ``resource_type``,
    or of any type), else None. ``what`` names them in the message ("ACL bindings"),
    ``setting`` is where the limit is configured."""
    if limit is None:
        return None
    deletes = sum(
        1
        for change in changes
        if Action.DELETE in change.actions
        and (resource_type is None or change.resource_type == resource_type)
    )
    if deletes <= limit:
        return None
    return Message(
        message=f"refusing to delete {deletes} {what}: more than the limit of {limit} ({setting})",
        hint="a typo in an ownership scope or a removed spec file can claim many bindings: "
        f"check the deletes in this plan; if they are all intended, raise {setting}",
    )
