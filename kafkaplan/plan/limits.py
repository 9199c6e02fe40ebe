"""Limits on how much one plan may destroy: the single place such a check lives."""

from __future__ import annotations

from collections.abc import Iterable

from kafkaplan.plan.model import Action, Change, Message


def check_delete_limit(changes: Iterable[Change], limit: int | None) -> Message | None:
    """A refusal when ``changes`` delete more than ``limit`` resources, else None."""
    if limit is None:
        return None
    deletes = sum(1 for change in changes if change.action is Action.DELETE)
    if deletes <= limit:
        return None
    return Message(
        message=f"this plan deletes {deletes} resources, more than the limit of {limit}",
        hint="a typo in an owned scope or a removed spec file can claim many resources: check "
        "the deletes in this plan; if they are all intended, raise the limit with "
        "--max-destroy (or max_destroy in the project file)",
    )
