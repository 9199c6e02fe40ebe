"""SCRAM users as spec entries: each user's mechanisms and iterations, and a placeholder
``password_env`` (Kafka never reveals a password, so import writes none: a plan right
after import is empty because existing users' passwords are never set again)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from kafkaplan.kinds import user_address
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.users import MECHANISMS


def password_env_for(name: str) -> str:
    """The placeholder variable name import writes for a user's password."""
    return "KAFKAPLAN_PASSWORD_" + (re.sub(r"[^A-Za-z0-9]", "_", name).upper() or "USER")


def import_users(
    users: Mapping[str, Mapping[str, int]],
    ignore: DesiredState,
    prefixes: Sequence[str],
    skipped: list[str],
) -> list[dict[str, Any]]:
    entries = []
    for name, credentials in sorted(users.items()):
        if prefixes and not name.startswith(tuple(prefixes)):
            continue
        if name in ignore.protected_users:
            skipped.append(f"{user_address(name)}: the user kafkaplan connects as (not imported)")
            continue
        mechanisms = [m for m in MECHANISMS if m in credentials]
        if not mechanisms:
            skipped.append(f"{user_address(name)}: no SCRAM mechanism kafkaplan knows")
            continue
        counts = sorted({credentials[m] for m in mechanisms})
        if len(counts) > 1:
            skipped.append(
                f"{user_address(name)}: its mechanisms have different iterations "
                f"({', '.join(f'{m} {credentials[m]}' for m in mechanisms)}); written with "
                f"{counts[-1]}, so a plan sets the others again"
            )
        entries.append(
            {
                "name": name,
                "mechanism": mechanisms[0] if len(mechanisms) == 1 else mechanisms,
                "iterations": counts[-1],
                "password_env": password_env_for(name),
            }
        )
    return entries
