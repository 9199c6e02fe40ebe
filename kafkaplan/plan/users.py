"""SCRAM users: declared users against the cluster's SCRAM credentials (pure).

Kafka keeps, per user and mechanism, a salted password and its iteration count, and shows
only the mechanism and the iterations. So a plan can compare existence, mechanisms and
iterations, never the password (docs/users.md):

- a declared user that does not exist is created, its password set from its
  ``password_env``;
- a mechanism added or an iteration count changed is an upsert of that credential, which
  sets the password again (from the same variable): Kafka has no other way to change it;
- a mechanism dropped from the spec has its credential deleted (access-loss);
- an existing user's password is never set again by an ordinary plan: only
  ``--rotate-passwords`` (``PlanOptions.rotate_passwords``) upserts every credential of every
  declared user that exists, with the password its variable holds now;
- a live user in an owned prefix (``owned_user_prefixes``) that no spec declares is deleted
  with ``--allow-deletes`` (all its credentials), else warned about; the user kafkaplan
  connects as is never deleted.

Wherever the password must be set, its variable must be set when planning: the plan names
the variable ("password: set from $VAR"), never the value.
"""

from __future__ import annotations

from collections.abc import Mapping

from kafkaplan.kinds import ResourceKind, user_address
from kafkaplan.live.checks import Checks
from kafkaplan.live.state import LiveState, fingerprint
from kafkaplan.plan.model import (
    Action,
    Change,
    DeleteScramUser,
    FieldChange,
    Message,
    Risk,
    RiskLabel,
    SetScramCredentials,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart
from kafkaplan.spec.desired import DesiredState, DesiredUser

# What a plan says of a user's current password: Kafka never reveals it.
NEVER_SHOWN = "(never shown)"


def user_digest(live: LiveState, name: str) -> str:
    have = live.users.get(name)
    return ABSENT if have is None else fingerprint(dict(sorted(have.items())))


def password_shown(variable: str) -> str:
    """What a plan says of a password it sets: where it comes from, never what it is."""
    return f"set from ${variable}"


def diff_users(
    desired: DesiredState, live: LiveState, options: PlanOptions, checks: Checks | None = None
) -> PlanPart:
    part = PlanPart()
    if not desired.manages_users:
        return part
    for name, user in sorted(desired.users.items()):
        address = user_address(name)
        part.fingerprints[address] = user_digest(live, name)
        change = _change(user, live.users.get(name), options)
        if change is None:
            continue
        part.changes.append(change)
        operation = change.operation
        assert isinstance(operation, SetScramCredentials)
        if (
            operation.upserts
            and options.password_envs is not None
            and user.password_env not in options.password_envs
        ):
            part.errors.append(
                Message(
                    message=f"user {name!r} needs its password ({_why(change)}), but "
                    f"environment variable {user.password_env} is not set",
                    address=address,
                    source=str(user.source),
                    hint=f"export {user.password_env} with the password of {name!r}",
                )
            )
    for name, have in sorted(live.users.items()):
        if name in desired.users:
            continue
        address = user_address(name)
        if not desired.owns_user(name):
            part.unmanaged.append(address)
            continue
        part.fingerprints[address] = user_digest(live, name)
        if options.allow_deletes:
            part.changes.append(
                Change(
                    address=address,
                    kind=ResourceKind.USER,
                    name=name,
                    action=Action.DELETE,
                    operation=DeleteScramUser(mechanisms=sorted(have)),
                    before={"mechanisms": dict(sorted(have.items()))},
                    risks=[
                        Risk(
                            label=RiskLabel.ACCESS_LOSS,
                            message=f"clients authenticating as {name!r} are refused",
                        )
                    ],
                )
            )
        else:
            part.warnings.append(
                Message(
                    message="in the owned user scope but in no spec: kept, because deletes "
                    "are not enabled for this run",
                    address=address,
                    hint="declare it, or pass --allow-deletes to plan its deletion",
                )
            )
    return part


def _why(change: Change) -> str:
    if change.action is Action.CREATE:
        return "it is created"
    operation = change.operation
    if isinstance(operation, SetScramCredentials) and operation.rotate:
        return "--rotate-passwords"
    return "its mechanisms or iterations change, which sets the password again"


def _change(
    user: DesiredUser, live: Mapping[str, int] | None, options: PlanOptions
) -> Change | None:
    want = dict(sorted(user.mechanisms.items()))
    address = user_address(user.name)
    password = password_shown(user.password_env)
    if live is None:
        return Change(
            address=address,
            kind=ResourceKind.USER,
            name=user.name,
            action=Action.CREATE,
            operation=SetScramCredentials(upserts=want, password_env=user.password_env),
            after={"mechanisms": want, "password": password},
            source=str(user.source),
        )
    have = dict(sorted(live.items()))
    upserts = {m: i for m, i in want.items() if have.get(m) != i}
    deletions = sorted(m for m in have if m not in want)
    rotate = options.rotate_passwords
    if rotate:
        upserts = dict(want)
    if not upserts and not deletions:
        return None
    fields = [
        FieldChange(path=f"mechanisms.{m}", before=have.get(m), after=want.get(m))
        for m in sorted({*have, *want})
        if have.get(m) != want.get(m)
    ]
    risks = []
    if upserts:
        fields.append(FieldChange(path="password", before=NEVER_SHOWN, after=password))
    if deletions:
        risks.append(
            Risk(
                label=RiskLabel.ACCESS_LOSS,
                message=f"clients authenticating as {user.name!r} with "
                f"{' or '.join(deletions)} are refused",
            )
        )
    if rotate:
        risks.append(
            Risk(
                label=RiskLabel.ACCESS_LOSS,
                message=f"clients still using the old password of {user.name!r} are refused "
                "once they reconnect",
            )
        )
    return Change(
        address=address,
        kind=ResourceKind.USER,
        name=user.name,
        action=Action.UPDATE,
        operation=SetScramCredentials(
            upserts=upserts,
            deletions=deletions,
            password_env=user.password_env if upserts else None,
            rotate=rotate,
        ),
        before={"mechanisms": have},
        after={"mechanisms": want, "password": password if upserts else "unchanged"},
        fields=fields,
        risks=risks,
        source=str(user.source),
    )
