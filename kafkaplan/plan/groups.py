"""Group configs: set or remove the declared keys of each declared group.

Only the keys a spec writes are compared, after normalization, like topic configs. What the
connected cluster cannot take is a plan error naming the group and the broker's version
(``kafkaplan.live.features``): group configs on a 3.x cluster, share or streams group
configs where those groups are missing or not enabled, a key the broker does not list.
The broker's dry run of every update (validate-only) is asked before the plan is decided.
"""

from __future__ import annotations

from kafkaplan.kinds import ResourceKind, group_address
from kafkaplan.live.checks import Checks
from kafkaplan.live.features import (
    BrokerFeatures,
    group_config_refusal,
    groups_refusal,
    version_text,
)
from kafkaplan.live.state import LiveGroup, LiveState, fingerprint
from kafkaplan.plan.model import Action, AlterGroupConfigs, Change, FieldChange, Message
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart, record_dry_run
from kafkaplan.spec.desired import DesiredGroup, DesiredState


def group_digest(live: LiveState, name: str) -> str:
    group = live.groups.get(name)
    return fingerprint(dict(group.overrides)) if group is not None else ABSENT


def diff_groups(
    desired: DesiredState, live: LiveState, options: PlanOptions, checks: Checks | None = None
) -> PlanPart:
    part = PlanPart()
    for group_id, want in desired.groups.items():
        address = group_address(group_id)
        if address in live.not_checked:
            continue
        part.fingerprints[address] = group_digest(live, group_id)
        problems = _unsupported(want, live.features, live.groups.get(group_id))
        if problems:
            part.errors.extend(problems)
            continue
        change = _update_group(want, live.groups.get(group_id))
        if change is None:
            continue
        if checks is not None:
            record_dry_run(
                change,
                checks.group_config_updates.get(group_id),
                part,
                what="group config update",
                permission="ALTER_CONFIGS permission on the group",
            )
        part.changes.append(change)
    return part


def _unsupported(
    want: DesiredGroup, features: BrokerFeatures | None, have: LiveGroup | None
) -> list[Message]:
    """What the connected cluster cannot take of this group's configs."""
    address = group_address(want.group_id)
    whole = groups_refusal(features) if features is not None else None
    if whole is not None:
        message, hint = whole
        return [Message(message=message, address=address, source=str(want.source), hint=hint)]
    errors: list[Message] = []
    for key in sorted(want.configs):
        source = str(want.config_sources.get(key, want.source))
        refusal = group_config_refusal(features, key) if features is not None else None
        if refusal is not None:
            message, hint = refusal
            errors.append(Message(message=message, address=address, source=source, hint=hint))
            continue
        if have is not None and key not in have.known:
            runs = features.runs if features is not None else f"broker runs {version_text(None)}"
            errors.append(
                Message(
                    message=f"group config {key!r} is not known to the cluster: the {runs}",
                    address=address,
                    source=source,
                    hint="known here: " + ", ".join(sorted(have.known)),
                )
            )
    return errors


def _update_group(want: DesiredGroup, have: LiveGroup | None) -> Change | None:
    own = dict(have.overrides) if have is not None else {}
    fields: list[FieldChange] = []
    configs: dict[str, str | None] = {}
    for key, target in sorted(want.configs.items()):
        current = own.get(key)
        if target == current:
            continue
        if target is None and current is None:
            continue
        fields.append(FieldChange(path=f"configs.{key}", before=current, after=target))
        configs[key] = target
    if not configs:
        return None
    managed_before = {key: own.get(key) for key in sorted(want.configs)}
    return Change(
        address=group_address(want.group_id),
        kind=ResourceKind.GROUP,
        name=want.group_id,
        action=Action.UPDATE,
        operation=AlterGroupConfigs(configs=configs),
        before={"configs": managed_before},
        after={"configs": dict(sorted(want.configs.items()))},
        fields=fields,
        source=str(want.source),
    )
