"""The two inputs of a plan: the desired state (from specs) and the live state (from Kafka).

Both are plain immutable values. ``kafkaplan.load`` builds the desired state,
``kafkaplan.read`` the live one, and ``kafkaplan.diff.compute_plan`` compares them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kafkaplan.acls import Binding, DesiredAcls


@dataclass(frozen=True)
class Source:
    """Where a declaration was written."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class DesiredTopic:
    name: str
    partitions: int
    replication_factor: int
    # Normalized config values; None means "no topic-level override" (broker default).
    configs: Mapping[str, str | None]
    source: Source
    config_sources: Mapping[str, Source] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredState:
    topics: Mapping[str, DesiredTopic]
    # Regular expressions of topic names never reported or touched (project `ignore_topics`).
    ignore_topics: tuple[str, ...] = ()
    acls: DesiredAcls = field(default_factory=DesiredAcls)

    def is_ignored_topic(self, name: str) -> bool:
        return is_internal_topic(name) or any(re.search(p, name) for p in self.ignore_topics)


class ConfigSource(StrEnum):
    """Where a live config value comes from (Kafka's DescribeConfigs source)."""

    TOPIC = "topic"  # DYNAMIC_TOPIC_CONFIG: set on the topic
    BROKER = "broker"  # static or dynamic broker config
    DEFAULT = "default"  # Kafka's built-in default
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LiveConfig:
    value: str | None
    source: ConfigSource
    sensitive: bool = False

    @property
    def is_override(self) -> bool:
        return self.source is ConfigSource.TOPIC


@dataclass(frozen=True)
class LiveTopic:
    name: str
    partitions: int
    replication_factor: int
    # Only the configs read for this topic: every config of managed topics.
    configs: Mapping[str, LiveConfig] = field(default_factory=dict)

    def overrides(self) -> dict[str, str | None]:
        return {k: c.value for k, c in sorted(self.configs.items()) if c.is_override}

    def digest(self) -> str:
        """A fingerprint of everything kafkaplan could manage on this topic."""
        return fingerprint(
            {
                "partitions": self.partitions,
                "rf": self.replication_factor,
                "configs": self.overrides(),
            }
        )


@dataclass(frozen=True)
class LiveState:
    cluster_id: str | None
    broker_count: int
    # Managed topics carry their configs; other topics only partitions and replication.
    topics: Mapping[str, LiveTopic]
    # Every ACL binding (read only when the project manages ACLs).
    acls: frozenset[Binding] = frozenset()
    # Bindings this client could not read (resource types or operations it does not know).
    unreadable_acls: tuple[str, ...] = ()


def fingerprint(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


# Topics kafkaplan never manages, whatever the specs say: Kafka's own, the Schema
# Registry's storage, Kafka Connect's and Kafka Streams' internals.
_INTERNAL_TOPIC = re.compile(
    r"^(__.*|_schemas|_confluent.*|kafkasql-journal.*|connect-(configs|offsets|status)"
    r"|.*-(changelog|repartition))$"
)


def is_internal_topic(name: str) -> bool:
    return bool(_INTERNAL_TOPIC.match(name))
