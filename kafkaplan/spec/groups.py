"""Group configs: the spec model of `groups:`, the catalog of keys, and their normalization.

Kafka 4.x keeps configs per group id (the GROUP config resource): the consumer group
protocol's (KIP-848) session timeout and heartbeat interval, share groups' (KIP-932) and
streams groups' (KIP-1071). They are managed like topic configs: only the keys a spec
writes, values normalized to what Kafka stores (``45s`` -> ``45000``), ``null`` removing the
group's own value so the broker's default applies. Which keys the connected broker takes
is decided at plan time (``kafkaplan.live.features``).
"""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.desired import DesiredGroup, Source
from kafkaplan.spec.source import Document
from kafkaplan.spec.topic_configs import (
    ConfigSpec,
    ConfigValueError,
    Kind,
    normalize_value,
)
from kafkaplan.spec.units import format_duration_ms

GroupConfigValue = str | int | None


class GroupSpec(BaseModel):
    """Configs of one group (consumer, share or streams), by group id."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(
        description="The group id, exactly as clients use it (`group.id`).",
        examples=["orders-billing"],
    )
    configs: dict[str, GroupConfigValue] = Field(
        default_factory=dict,
        description="Group configs (Kafka 4.0+): `consumer.session.timeout.ms`, "
        "`consumer.heartbeat.interval.ms`, and the `share.*` and `streams.*` configs where "
        "the cluster has those groups. Durations take units (45s, 5s). Only the configs "
        "written here are managed; `null` removes the group's own value so the broker "
        "default applies.",
        examples=[{"consumer.session.timeout.ms": "60s", "consumer.heartbeat.interval.ms": "5s"}],
    )


def _d(name: str, doc: str) -> ConfigSpec:
    return ConfigSpec(name, Kind.DURATION, doc, minimum=1)


# As Kafka 4.1 and 4.4 list them for the GROUP resource; which ones a broker takes is its
# own answer (a key it does not list is a plan error, kafkaplan.plan.groups).
_CATALOG: tuple[ConfigSpec, ...] = (
    _d("consumer.assignment.interval.ms", "how often the assignor runs (Kafka 4.4+)"),
    _d("consumer.heartbeat.interval.ms", "consumer group heartbeat interval (KIP-848)"),
    _d("consumer.session.timeout.ms", "consumer group session timeout (KIP-848)"),
    ConfigSpec(
        "errors.deadletterqueue.copy.record.enable",
        Kind.BOOLEAN,
        "copy records to the group's dead-letter queue topic (Kafka 4.4+)",
    ),
    ConfigSpec(
        "errors.deadletterqueue.topic.name",
        Kind.STRING,
        "the group's dead-letter queue topic (Kafka 4.4+)",
    ),
    _d("share.assignment.interval.ms", "how often the share assignor runs (Kafka 4.4+)"),
    ConfigSpec(
        "share.auto.offset.reset",
        Kind.STRING,
        "where a share group starts: latest, earliest or by_duration:<ISO-8601> (KIP-932)",
    ),
    ConfigSpec(
        "share.delivery.count.limit",
        Kind.INT,
        "deliveries of a record before it is archived (KIP-932)",
        minimum=1,
    ),
    _d("share.heartbeat.interval.ms", "share group heartbeat interval (KIP-932)"),
    ConfigSpec(
        "share.isolation.level",
        Kind.CHOICE,
        "read_committed or read_uncommitted (KIP-932)",
        choices=("read_committed", "read_uncommitted"),
    ),
    ConfigSpec(
        "share.partition.max.record.locks",
        Kind.INT,
        "records a share partition may hold locked at once (Kafka 4.4+)",
        minimum=1,
    ),
    _d("share.record.lock.duration.ms", "how long a share consumer holds a record (KIP-932)"),
    ConfigSpec(
        "share.renew.acknowledge.enable",
        Kind.BOOLEAN,
        "consumers may renew a record's lock (Kafka 4.4+)",
    ),
    _d("share.session.timeout.ms", "share group session timeout (KIP-932)"),
    _d("streams.assignment.interval.ms", "how often the streams assignor runs (Kafka 4.4+)"),
    ConfigSpec(
        "streams.assignor.name", Kind.STRING, "the streams group's task assignor (Kafka 4.4+)"
    ),
    _d("streams.heartbeat.interval.ms", "streams group heartbeat interval (KIP-1071)"),
    _d(
        "streams.initial.rebalance.delay.ms",
        "delay of a streams group's first rebalance (KIP-1071)",
    ),
    ConfigSpec(
        "streams.num.standby.replicas",
        Kind.INT,
        "standby replicas of each streams task (KIP-1071)",
        minimum=0,
    ),
    ConfigSpec(
        "streams.rack.aware.assignment.tags",
        Kind.STRING,
        "client tags the streams assignor spreads standby replicas over (Kafka 4.4+)",
    ),
    _d("streams.session.timeout.ms", "streams group session timeout (KIP-1071)"),
)

GROUP_CONFIGS: dict[str, ConfigSpec] = {spec.name: spec for spec in _CATALOG}


def normalize_group_config(name: str, value: object) -> str:
    spec = GROUP_CONFIGS.get(name)
    if spec is None:
        raise ConfigValueError(f"unknown group config {name!r}", hint=unknown_group_hint(name))
    return normalize_value(spec, value)


def unknown_group_hint(name: str) -> str:
    close = difflib.get_close_matches(name, GROUP_CONFIGS, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "group configs start with consumer., share. or streams. (docs/groups.md)"


def humanize_group_config(name: str, value: str | None) -> str:
    """``45000 (45s)`` for durations; other values as Kafka stores them."""
    if value is None:
        return "(broker default)"
    spec = GROUP_CONFIGS.get(name)
    if spec is None or spec.kind is not Kind.DURATION or not value.isdigit():
        return value
    human = format_duration_ms(int(value))
    return value if human in (value, f"{value}ms") else f"{value} ({human})"


def group_spec_value(name: str, value: str) -> str | int:
    """The idiomatic spec spelling of a stored value (for import): ``45s``, ``1``."""
    spec = GROUP_CONFIGS.get(name)
    if spec is not None and value.isdigit():
        if spec.kind is Kind.DURATION:
            return format_duration_ms(int(value))
        if spec.kind is Kind.INT:
            return int(value)
    return value


def desired_groups(
    declared: list[tuple[Document, int, GroupSpec]],
    problems: list[Diagnostic],
) -> dict[str, DesiredGroup]:
    """The declared groups (document, index in its `groups` list, id, configs), normalized;
    every problem is appended with its file and line."""
    groups: dict[str, DesiredGroup] = {}
    for document, index, spec in declared:
        group_id, configs = spec.id, spec.configs
        path = ("groups", index)
        source = Source(document.file, document.line_of(path))
        if not group_id.strip():
            problems.append(
                document.diagnostic((*path, "id"), "a group id cannot be empty", "name the group")
            )
            continue
        first = groups.get(group_id)
        if first is not None:
            problems.append(
                Diagnostic(
                    f"group {group_id!r} is declared twice",
                    file=source.file,
                    line=source.line,
                    hint=f"first declared at {first.source}",
                )
            )
            continue
        normalized: dict[str, str | None] = {}
        sources: dict[str, Source] = {}
        for key, value in configs.items():
            key_path = (*path, "configs", key)
            sources[key] = Source(document.file, document.line_of(key_path))
            if value is None:
                if key not in GROUP_CONFIGS:
                    problems.append(
                        document.diagnostic(
                            key_path, f"unknown group config {key!r}", unknown_group_hint(key)
                        )
                    )
                    continue
                normalized[key] = None
                continue
            try:
                normalized[key] = normalize_group_config(key, value)
            except ConfigValueError as exc:
                problems.append(document.diagnostic(key_path, str(exc), exc.hint))
        groups[group_id] = DesiredGroup(
            group_id=group_id,
            configs=dict(sorted(normalized.items())),
            source=source,
            config_sources=sources,
        )
    return dict(sorted(groups.items()))
