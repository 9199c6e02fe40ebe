"""Limits on what one plan may destroy: how much (``--max-destroy``) and what (deletion
protection); the single place such checks live."""

from __future__ import annotations

from collections.abc import Iterable

from kafkaplan.plan.model import Action, Change, Message, RollBackSchema
from kafkaplan.spec.desired import DesiredState


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


def destroys(change: Change) -> bool:
    """Does ``change`` delete the resource or part of it (a subject's newer versions)?"""
    return change.action is Action.DELETE or isinstance(change.operation, RollBackSchema)


def flag_protected(changes: list[Change], desired: DesiredState) -> list[Change]:
    """``changes``, each on a protected resource marked with the reason."""
    flagged = []
    for change in changes:
        reason = desired.protection(change.address)
        flagged.append(
            change if reason is None else change.model_copy(update={"protected": reason})
        )
    return flagged


PROTECTED = "protected from deletion"


def is_protection_refusal(message: Message) -> bool:
    return message.message.startswith(PROTECTED)


def check_protection(changes: Iterable[Change]) -> list[Message]:
    """A refusal per change that would destroy a protected resource (``flag_protected``
    marked them): whatever --allow-deletes and --max-destroy say, such a plan fails."""
    return [
        Message(
            message=f"{PROTECTED} ({change.protected}), but this plan "
            + ("deletes it" if change.action is Action.DELETE else "deletes versions of it"),
            address=change.address,
            source=change.source,
            hint="if it must go, remove the protection first (the `protected` marker or the "
            "project's `protect` pattern) in a change of its own, then plan again",
        )
        for change in changes
        if change.protected is not None and destroys(change)
    ]
