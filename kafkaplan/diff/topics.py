"""Topics: create, update configs, add partitions; impossible changes are plan errors.

Only the configs a spec declares are compared, after normalization, so a spec never
disagrees with Kafka about spelling and broker defaults never show up as changes.
"""

from __future__ import annotations

from typing import Any

from kafkaplan.diff.part import ABSENT, PlanPart
from kafkaplan.plan import Action, Change, FieldChange, Message, Risk, RiskLabel
from kafkaplan.state import (
    DesiredState,
    DesiredTopic,
    LiveConfig,
    LiveState,
    LiveTopic,
    PlanOptions,
)
from kafkaplan.topic_configs import values_equal
from kafkaplan.units import format_duration_ms, format_size_bytes

SENSITIVE = "(sensitive)"


def topic_address(name: str) -> str:
    return f"topic.{name}"


def topic_digest(live: LiveState, name: str) -> str:
    topic = live.topics.get(name)
    return topic.digest() if topic else ABSENT


def diff_topics(desired: DesiredState, live: LiveState, options: PlanOptions) -> PlanPart:
    part = PlanPart()
    live_collision = {name.replace(".", "_"): name for name in live.topics}
    for name in sorted(desired.topics):
        want = desired.topics[name]
        have = live.topics.get(name)
        part.fingerprints[topic_address(name)] = topic_digest(live, name)
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
        else:
            change, problems = _update_topic(want, have)
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
        resource_type="topic",
        name=have.name,
        actions=[Action.DELETE],
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
            resource_type="topic",
            name=want.name,
            actions=[Action.CREATE],
            after=_topic_value(want),
            source=str(want.source),
        ),
        [],
    )


def _shown(config: LiveConfig | None) -> str | None:
    if config is None:
        return None
    return SENSITIVE if config.sensitive else config.value


def _update_topic(want: DesiredTopic, have: LiveTopic) -> tuple[Change | None, list[Message]]:
    address = topic_address(want.name)
    errors: list[Message] = []
    fields: list[FieldChange] = []
    risks: list[Risk] = []
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
        risks.append(
            Risk(
                label=RiskLabel.ORDERING,
                message=f"partitions {have.partitions} -> {want.partitions}: records with the same "
                "key will go to a different partition from now on, so per-key ordering across "
                "the change is lost for keyed producers",
            )
        )
    if want.replication_factor != have.replication_factor:
        errors.append(
            Message(
                message=f"replication factor cannot change from {have.replication_factor} to "
                f"{want.replication_factor} by a plan",
                address=address,
                source=str(want.source),
                hint="keep the current replication_factor; changing it needs a partition "
                "reassignment (kafka-reassign-partitions)",
            )
        )
    for key in sorted(want.configs):
        target = want.configs[key]
        current = have.configs.get(key)
        if target is None:
            if current is not None and current.is_override:
                fields.append(
                    FieldChange(path=f"configs.{key}", before=_shown(current), after=None)
                )
            continue
        if (
            current is not None
            and not current.sensitive
            and values_equal(key, current.value, target)
        ):
            continue
        fields.append(FieldChange(path=f"configs.{key}", before=_shown(current), after=target))
        risk = _config_risk(key, current, target)
        if risk is not None:
            risks.append(risk)
    if errors or not fields:
        return None, errors
    managed_before = {
        "partitions": have.partitions,
        "replication_factor": have.replication_factor,
        "configs": {k: _shown(have.configs.get(k)) for k in sorted(want.configs)},
    }
    return (
        Change(
            address=address,
            resource_type="topic",
            name=want.name,
            actions=[Action.UPDATE],
            before=managed_before,
            after=_topic_value(want),
            fields=fields,
            risks=risks,
            source=str(want.source),
        ),
        [],
    )


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
