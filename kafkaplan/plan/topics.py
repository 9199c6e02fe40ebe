"""Topics: create, update configs, add partitions, change the replication factor (a rack-aware
partition reassignment); impossible changes are plan errors.

Only the configs a spec declares are compared, after normalization, so a spec never
disagrees with Kafka about spelling and broker defaults never show up as changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import MutableMapping
from typing import Any

from msgspec import Struct, field

from kafkaplan.kinds import ResourceKind, topic_address
from kafkaplan.live.checks import Checks, DryRun
from kafkaplan.live.features import removed_topic_config
from kafkaplan.live.state import LiveConfig, LiveState, LiveTopic
from kafkaplan.plan.assign import AssignmentError, assign_replicas
from kafkaplan.plan.model import (
    Action,
    Change,
    CreateTopic,
    DeleteTopic,
    FieldChange,
    Message,
    ReplicaChange,
    Risk,
    RiskLabel,
    UpdateTopic,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart, record_dry_run
from kafkaplan.spec.desired import DesiredState, DesiredTopic
from kafkaplan.spec.topic_configs import values_equal
from kafkaplan.spec.units import format_duration_ms, format_size_bytes

SENSITIVE = "(sensitive)"


def topic_digest(live: LiveState, name: str) -> str:
    topic = live.topics.get(name)
    return topic.digest() if topic else ABSENT


def broker_load(live: LiveState) -> Counter[int]:
    """Replicas per broker across the cluster (where replication changes add replicas)."""
    load: Counter[int] = Counter(dict.fromkeys(live.brokers, 0))
    for topic in live.topics.values():
        for replicas in topic.target_replicas():
            load.update(replicas)
    return load


def diff_topics(
    desired: DesiredState, live: LiveState, options: PlanOptions, checks: Checks | None = None
) -> PlanPart:
    part = PlanPart()
    live_collision = {name.replace(".", "_"): name for name in live.topics}
    load = broker_load(live)
    for name in sorted(desired.topics):
        want = desired.topics[name]
        have = live.topics.get(name)
        part.fingerprints[topic_address(name)] = topic_digest(live, name)
        part.errors.extend(_removed_configs(want, live))
        if have is None:
            twin = live_collision.get(name.replace(".", "_"))
            if twin is not None:
                part.errors.append(
                    Message(
                        message=f"cannot create: it collides with existing topic {twin!r} "
                        "('.' and '_' map to the same metric name)",
                        address=topic_address(name),
                        source=str(want.source),
                        hint="rename the new topic",
                    )
                )
                continue
            change, problems = _create_topic(want, live)
            if change is not None and checks is not None:
                _dry_run(change, checks.topic_creations.get(name), part)
        else:
            change, problems, notes = _update_topic(want, have, live, load)
            part.warnings.extend(notes)
            if change is not None and checks is not None:
                _dry_run(change, checks.config_updates.get(name), part, "config update")
                _dry_run(change, checks.partition_increases.get(name), part, "partition increase")
        part.errors.extend(problems)
        if change is not None:
            part.changes.append(change)
    candidates = desired.deletion_candidates(live.topics)
    for name in candidates:
        address = topic_address(name)
        part.fingerprints[address] = topic_digest(live, name)
        if options.allow_deletes:
            part.changes.append(_delete_topic(live.topics[name]))
        else:
            part.warnings.append(
                Message(
                    message="in the owned topic scope but in no spec: kept, because deletes "
                    "are not enabled for this run",
                    address=address,
                    hint="declare it, or pass --allow-deletes to plan its deletion",
                )
            )
    part.unmanaged.extend(
        topic_address(name)
        for name in sorted(live.topics)
        if name not in desired.topics
        and name not in candidates
        and not desired.is_ignored_topic(name)
    )
    return part


def _delete_topic(have: LiveTopic) -> Change:
    held = "an unknown number of" if have.messages is None else f"{have.messages:,}"
    return Change(
        address=topic_address(have.name),
        kind=ResourceKind.TOPIC,
        name=have.name,
        action=Action.DELETE,
        operation=DeleteTopic(),
        before={
            "partitions": have.partitions,
            "replication_factor": have.replication_factor,
            "configs": {
                key: _shown(config)
                for key, config in sorted(have.configs.items())
                if config.is_override
            },
        },
        risks=[
            Risk(
                label=RiskLabel.DATA_LOSS,
                message=f"deletes the topic with {held} message(s) in {have.partitions} "
                "partition(s); consumers and producers of it fail",
            )
        ],
    )


def _topic_value(topic: DesiredTopic) -> dict[str, Any]:
    return {
        "partitions": topic.partitions,
        "replication_factor": topic.replication_factor,
        "configs": {k: v for k, v in sorted(topic.configs.items()) if v is not None},
    }


def _create_topic(want: DesiredTopic, live: LiveState) -> tuple[Change | None, list[Message]]:
    address = topic_address(want.name)
    if live.broker_count and want.replication_factor > live.broker_count:
        return None, [
            Message(
                message=f"replication factor {want.replication_factor} needs at least that many "
                f"brokers; the cluster has {live.broker_count}",
                address=address,
                source=str(want.source),
                hint="lower replication_factor for this environment (environment defaults or "
                "variables)",
            )
        ]
    return (
        Change(
            address=address,
            kind=ResourceKind.TOPIC,
            name=want.name,
            action=Action.CREATE,
            operation=CreateTopic(
                partitions=want.partitions,
                replication_factor=want.replication_factor,
                configs={k: v for k, v in sorted(want.configs.items()) if v is not None},
            ),
            after=_topic_value(want),
            source=str(want.source),
            origins=dict(want.origins),
        ),
        [],
    )


def _removed_configs(want: DesiredTopic, live: LiveState) -> list[Message]:
    """Configs the connected broker's version no longer has (``kafkaplan.live.features``):
    a 4.x broker would ignore or refuse them, so the plan fails instead."""
    errors = []
    for key, value in sorted(want.configs.items()):
        reason = None if value is None else removed_topic_config(live.features, key)
        if reason is not None:
            source = want.config_sources.get(key, want.source)
            errors.append(
                Message(
                    message=reason,
                    address=topic_address(want.name),
                    source=str(source),
                    hint=f"remove {key} from the topic's configs",
                )
            )
    return errors


def _shown(config: LiveConfig | None) -> str | None:
    if config is None:
        return None
    return SENSITIVE if config.sensitive else config.value


def _update_topic(
    want: DesiredTopic, have: LiveTopic, live: LiveState, load: MutableMapping[int, int]
) -> tuple[Change | None, list[Message], list[Message]]:
    address = topic_address(want.name)
    errors: list[Message] = []
    fields: list[FieldChange] = []
    risks: list[Risk] = []
    notes: list[Message] = []
    configs: dict[str, str | None] = {}
    partitions: int | None = None
    if want.partitions < have.partitions:
        errors.append(
            Message(
                message=f"partitions cannot decrease ({have.partitions} -> {want.partitions})",
                address=address,
                source=str(want.source),
                hint=f"Kafka can only add partitions: keep partitions: {have.partitions}, or "
                "create a new topic version and migrate to it",
            )
        )
    elif want.partitions > have.partitions:
        fields.append(FieldChange(path="partitions", before=have.partitions, after=want.partitions))
        partitions = want.partitions
        risks.append(
            Risk(
                label=RiskLabel.ORDERING,
                message=f"partitions {have.partitions} -> {want.partitions}: records with the same "
                "key will go to a different partition from now on, so per-key ordering across "
                "the change is lost for keyed producers",
            )
        )
    replication = _replication(want, have, live, load)
    errors.extend(replication.errors)
    risks.extend(replication.risks)
    notes.extend(replication.notes)
    for key in sorted(want.configs):
        target = want.configs[key]
        current = have.configs.get(key)
        if target is None:
            if current is not None and current.is_override:
                fields.append(
                    FieldChange(path=f"configs.{key}", before=_shown(current), after=None)
                )
                configs[key] = None
            continue
        if (
            current is not None
            and not current.sensitive
            # The spec's value is normalized: the same string needs no parsing.
            and (current.value == target or values_equal(key, current.value, target))
        ):
            continue
        fields.append(FieldChange(path=f"configs.{key}", before=_shown(current), after=target))
        configs[key] = target
        risk = _config_risk(key, current, target)
        if risk is not None:
            risks.append(risk)
    fields.extend(replication.fields)
    configs.update(replication.configs)
    if errors or not fields:
        return None, errors, notes
    managed_before = {
        "partitions": have.partitions,
        "replication_factor": have.replication_factor,
        "configs": {k: _shown(have.configs.get(k)) for k in sorted(want.configs)},
    }
    return (
        Change(
            address=address,
            kind=ResourceKind.TOPIC,
            name=want.name,
            action=Action.UPDATE,
            operation=UpdateTopic(
                configs=configs,
                partitions=partitions,
                replicas=replication.replicas,
                elect_leaders=replication.leaders,
            ),
            before=managed_before,
            after=_topic_value(want),
            fields=fields,
            risks=risks,
            source=str(want.source),
            origins=dict(want.origins),
        ),
        [],
        notes,
    )


class _Replication(Struct):
    fields: list[FieldChange] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    errors: list[Message] = field(default_factory=list)
    notes: list[Message] = field(default_factory=list)
    # What apply does: partition -> new replicas, throttles to remove, leaders to elect.
    replicas: dict[int, ReplicaChange] = field(default_factory=dict)
    configs: dict[str, str | None] = field(default_factory=dict)
    leaders: list[int] = field(default_factory=list)


def _replication(
    want: DesiredTopic, have: LiveTopic, live: LiveState, load: MutableMapping[int, int]
) -> _Replication:
    """Replica changes: a new rack-aware assignment when the replication factor changes,
    finishing a reassignment in progress, or cleaning up after an interrupted one.

    The fields are ``replication_factor`` and, per partition that changes,
    ``replicas.N: [before] -> [after]`` (preferred leader first); when cleaning up,
    ``configs.<throttle>: value -> None`` and ``leader.N: current -> preferred``.
    """
    result = _Replication()
    address = topic_address(want.name)
    targets = have.target_replicas()
    wrong_size = any(len(t) != want.replication_factor for t in targets)
    if not have.replicas:
        # No per-partition replicas known: only the factor can be compared.
        if want.replication_factor != have.replication_factor:
            result.errors.append(
                Message(
                    message=f"replication factor cannot change from {have.replication_factor} "
                    f"to {want.replication_factor}: the cluster did not report the replicas",
                    address=address,
                    source=str(want.source),
                )
            )
        return result
    if not live.reassignments_known and (wrong_size or have.throttles()):
        result.notes.append(
            Message(
                message="could not check for a partition reassignment in progress (listing "
                "them needs DESCRIBE on the cluster)",
                address=address,
                hint="plan with a principal allowed to describe the cluster (--debug shows "
                "the error)",
            )
        )
    if not wrong_size and not have.reassigning:
        leftovers = have.throttles()
        if leftovers:
            _cleanup(have, leftovers, result, address)
        return result
    brokers = live.brokers or {b: None for t in targets for b in t}
    if wrong_size and want.replication_factor > len(brokers):
        result.errors.append(
            Message(
                message=f"replication factor {want.replication_factor} needs at least that many "
                f"brokers; the cluster has {len(brokers)}",
                address=address,
                source=str(want.source),
                hint="lower replication_factor for this environment",
            )
        )
        return result
    missing = sorted({b for t in targets for b in t if b not in brokers})
    if wrong_size and missing:
        result.errors.append(
            Message(
                message=f"cannot plan new replicas: broker(s) {', '.join(map(str, missing))} "
                "holding replicas of this topic are not in the cluster",
                address=address,
                source=str(want.source),
                hint="bring the broker(s) back (or reassign their partitions) first",
            )
        )
        return result
    if wrong_size:
        current = [list(t) for t in targets]
        current += [[] for _ in range(max(0, want.partitions - have.partitions))]
        try:
            new = assign_replicas(current, want.replication_factor, brokers, load)
        except AssignmentError as exc:
            result.errors.append(Message(message=str(exc), address=address))
            return result
    else:
        new = [list(t) for t in targets]
    before_rf = have.replication_factor
    if before_rf != want.replication_factor:
        result.fields.append(
            FieldChange(path="replication_factor", before=before_rf, after=want.replication_factor)
        )
    added: set[int] = set()
    removed: set[int] = set()
    moving = 0
    for partition, after in enumerate(new):
        if partition in have.reassigning:
            before: list[int] | None = list(have.reassigning[partition].original)
        elif partition < len(have.replicas):
            before = list(have.replicas[partition])
        else:
            before = None
        if before == after and partition not in have.reassigning:
            continue
        result.fields.append(FieldChange(path=f"replicas.{partition}", before=before, after=after))
        result.replicas[partition] = ReplicaChange(before=before, after=after)
        gained = set(after) - set(before or [])
        added |= gained
        removed |= set(before or []) - set(after)
        moving += bool(gained) and before is not None
    if have.reassigning:
        result.risks.append(
            Risk(
                label=RiskLabel.DATA_MOVEMENT,
                message=f"a partition reassignment is in progress on {len(have.reassigning)} "
                "partition(s) (an interrupted apply or another tool): apply waits for it to "
                "finish, then removes the replication throttles and elects the preferred leaders",
            )
        )
    if moving:
        result.risks.append(
            Risk(
                label=RiskLabel.DATA_MOVEMENT,
                message=f"replicas are added to {moving} partition(s) on broker(s) "
                f"{_ids(added)}: their data is copied from the current replicas, throttled, "
                "while clients keep working; apply waits until the new replicas are in sync",
            )
        )
    if want.replication_factor < before_rf:
        result.risks.append(
            Risk(
                label=RiskLabel.DURABILITY,
                message=f"replication factor {before_rf} -> {want.replication_factor}: the "
                f"replicas on broker(s) {_ids(removed)} are deleted; each partition then "
                f"survives {want.replication_factor - 1} broker failure(s) instead of "
                f"{before_rf - 1}",
            )
        )
    return result


def _cleanup(
    have: LiveTopic, leftovers: dict[str, str], result: _Replication, address: str
) -> None:
    """Throttles left behind by a reassignment that was interrupted after the copy."""
    for key, value in sorted(leftovers.items()):
        result.fields.append(FieldChange(path=f"configs.{key}", before=value, after=None))
        result.configs[key] = None
    for partition, replicas in enumerate(have.replicas):
        leader = have.leaders[partition] if partition < len(have.leaders) else None
        if replicas and leader is not None and leader != replicas[0]:
            result.fields.append(
                FieldChange(path=f"leader.{partition}", before=leader, after=replicas[0])
            )
            result.leaders.append(partition)
    result.notes.append(
        Message(
            message="replication throttles left behind by an interrupted reassignment: apply "
            "removes them and elects the preferred leaders",
            address=address,
        )
    )


def _ids(brokers: set[int]) -> str:
    return ", ".join(map(str, sorted(brokers))) or "none"


def _config_risk(key: str, current: LiveConfig | None, target: str) -> Risk | None:
    if current is None or current.value is None or current.sensitive:
        return None  # a sensitive value is never compared, nor quoted in a message
    before = current.value
    if key in ("retention.ms", "retention.bytes", "local.retention.ms", "local.retention.bytes"):
        old, new = int(before), int(target)
        shrinks = new >= 0 and (old < 0 or new < old)
        if shrinks:
            fmt = format_duration_ms if key.endswith(".ms") else format_size_bytes
            return Risk(
                label=RiskLabel.DATA_LOSS,
                message=f"{key} shortened {fmt(old)} -> {fmt(new)}: records beyond the new limit "
                "are deleted at the next retention check",
            )
    if key == "cleanup.policy":
        old_set, new_set = set(before.split(",")), set(target.split(","))
        if "compact" in new_set and "compact" not in old_set:
            return Risk(
                label=RiskLabel.DATA_LOSS,
                message=f"cleanup.policy {before} -> {target}: compaction keeps only the latest "
                "record per key; older records and records without a key are removed",
            )
        if "delete" in new_set and "delete" not in old_set:
            return Risk(
                label=RiskLabel.DATA_LOSS,
                message=f"cleanup.policy {before} -> {target}: segments older than retention.ms "
                "are now deleted, including the latest value of keys",
            )
    return None


# What each dry run needs the principal to be allowed, and what the refusal is of.
_DRY_RUNS = {
    "creation": ("CREATE", "this topic"),
    "config update": ("ALTER_CONFIGS", "this config update"),
    "partition increase": ("ALTER", "this partition increase"),
}


def _dry_run(change: Change, answer: DryRun | None, part: PlanPart, what: str = "creation") -> None:
    permission, subject = _DRY_RUNS[what]
    record_dry_run(
        change, answer, part, what=what, permission=f"{permission} permission", subject=subject
    )
