"""The two inputs of a plan: the desired state (from specs) and the live state (from Kafka).

Both are plain immutable values. ``kafkaplan.load`` builds the desired state,
``kafkaplan.read`` the live one, and ``kafkaplan.diff.compute_plan`` compares them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
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
class DesiredReference:
    name: str
    subject: str
    # None: "latest", the version the plan leaves as the subject's latest.
    version: int | None
    source: Source


@dataclass(frozen=True)
class DesiredSubject:
    name: str
    schema_type: str  # AVRO, JSON or PROTOBUF
    schema: str  # the schema file's text, registered as it is
    canonical: str  # the canonical form compared with the registry's (kafkaplan.schemas)
    file: str  # the schema file, relative to the project folder
    source: Source
    references: tuple[DesiredReference, ...] = ()
    compatibility: str | None = None  # subject-level level; None: not managed
    # Field-level summary: path -> description (kafkaplan.schemas.summarize).
    fields: Mapping[str, str] = field(default_factory=dict)
    topic: str | None = None  # the topic of a topic-name-strategy subject


@dataclass(frozen=True)
class RegistrySettings:
    """What the project says about the registry as a whole."""

    compatibility: str | None = None  # the global level; None: not managed
    owned_prefixes: tuple[str, ...] = ()
    hard_delete: bool = False

    def owns(self, subject: str) -> bool:
        return any(subject.startswith(prefix) for prefix in self.owned_prefixes)


@dataclass(frozen=True)
class DesiredState:
    topics: Mapping[str, DesiredTopic]
    # Regular expressions of topic names never reported or touched (project `ignore_topics`).
    ignore_topics: tuple[str, ...] = ()
    # Topic name prefixes kafkaplan owns: a topic there that is in no spec may be deleted.
    owned_topic_prefixes: tuple[str, ...] = ()
    acls: DesiredAcls = field(default_factory=DesiredAcls)
    subjects: Mapping[str, DesiredSubject] = field(default_factory=dict)
    registry: RegistrySettings = field(default_factory=RegistrySettings)

    @property
    def uses_registry(self) -> bool:
        registry = self.registry
        return bool(self.subjects or registry.compatibility or registry.owned_prefixes)

    def is_ignored_topic(self, name: str) -> bool:
        return is_internal_topic(name) or any(re.search(p, name) for p in self.ignore_topics)

    def owns_topic(self, name: str) -> bool:
        return not self.is_ignored_topic(name) and name.startswith(self.owned_topic_prefixes)

    def deletion_candidates(self, live_names: Iterable[str]) -> list[str]:
        """Live topics in the owned scope that no spec declares."""
        return sorted(n for n in live_names if n not in self.topics and self.owns_topic(n))


@dataclass(frozen=True)
class PlanOptions:
    """How a plan is computed, beside the desired and live state."""

    # Deletes are opt-in: without this, resources that would be deleted are only warned about.
    allow_deletes: bool = False
    # Refuse a plan that deletes more than this many resources (None: no limit).
    max_destroy: int | None = None
    # Address patterns (fnmatch) the plan is restricted to; empty: everything.
    targets: tuple[str, ...] = ()

    def targeted(self, address: str) -> bool:
        return not self.targets or any(fnmatchcase(address, p) for p in self.targets)


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
class PartitionReassignment:
    """A partition reassignment in progress (Kafka's ListPartitionReassignments)."""

    topic: str
    partition: int
    # The partition's replicas now: the original ones plus those being added.
    replicas: tuple[int, ...]
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()

    @property
    def target(self) -> tuple[int, ...]:
        """The replicas the partition will have when the reassignment completes."""
        return tuple(r for r in self.replicas if r not in self.removing)

    @property
    def original(self) -> tuple[int, ...]:
        """The replicas the partition had before the reassignment started."""
        return tuple(r for r in self.replicas if r not in self.adding)


# Topic configs Kafka uses to throttle replication during a reassignment; kafkaplan sets
# and removes them itself (specs may not declare them).
TOPIC_THROTTLE_CONFIGS = (
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
)
# Broker configs holding the throttle rates (bytes per second).
BROKER_THROTTLE_CONFIGS = (
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
)


@dataclass(frozen=True)
class LiveTopic:
    name: str
    partitions: int
    replication_factor: int
    # Only the configs read for this topic: every config of managed topics.
    configs: Mapping[str, LiveConfig] = field(default_factory=dict)
    # Messages held (sum of end minus start offsets), read only for deletion candidates.
    messages: int | None = None
    # Per partition (index = partition id): its replicas, preferred leader first, as the
    # metadata reports them (during a reassignment: original plus adding replicas).
    replicas: tuple[tuple[int, ...], ...] = ()
    # Per partition: the current leader (-1: none).
    leaders: tuple[int, ...] = ()
    # Partitions with a reassignment in progress, by partition id.
    reassigning: Mapping[int, PartitionReassignment] = field(default_factory=dict)

    def overrides(self) -> dict[str, str | None]:
        return {k: c.value for k, c in sorted(self.configs.items()) if c.is_override}

    def throttles(self) -> dict[str, str]:
        """Replication throttle overrides on this topic (set during a reassignment)."""
        return {
            key: config.value or ""
            for key in TOPIC_THROTTLE_CONFIGS
            if (config := self.configs.get(key)) is not None and config.is_override
        }

    def target_replicas(self) -> tuple[tuple[int, ...], ...]:
        """Per partition, the replicas it has once reassignments in progress complete."""
        return tuple(
            self.reassigning[p].target if p in self.reassigning else replicas
            for p, replicas in enumerate(self.replicas)
        )

    def digest(self) -> str:
        """A fingerprint of everything kafkaplan could manage on this topic."""
        value: dict[str, Any] = {
            "partitions": self.partitions,
            "rf": self.replication_factor,
            "configs": self.overrides(),
        }
        if self.replicas:
            value["replicas"] = [list(r) for r in self.replicas]
        if self.reassigning:
            value["reassigning"] = sorted(self.reassigning)
        return fingerprint(value)


@dataclass(frozen=True)
class LiveReference:
    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class LiveSubject:
    """A subject as the registry has it: its latest version, and its versions (all of them
    where the plan needs them, see ``kafkaplan.read.read_registry``; else the latest)."""

    name: str
    version: int
    schema_id: int
    schema_type: str
    schema: str
    references: tuple[LiveReference, ...] = ()
    versions: tuple[int, ...] = ()

    def digest(self) -> str:
        """Changes with every registration and every deletion of the latest version."""
        return fingerprint(
            {"version": self.version, "id": self.schema_id, "type": self.schema_type}
        )


@dataclass(frozen=True)
class LiveRegistry:
    global_compatibility: str | None = None
    # Subject-level compatibility of each subject read (existing or not); None: none set,
    # or (on registries that report the global level for every subject) the same as global.
    subject_compatibility: Mapping[str, str | None] = field(default_factory=dict)
    # Subjects in the project's owned prefixes, as the registry lists them.
    owned_subjects: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveState:
    cluster_id: str | None
    broker_count: int
    # Managed topics carry their configs; other topics only partitions and replication.
    topics: Mapping[str, LiveTopic]
    # Address (or resource type) -> why it could not be read (only when reading tolerantly).
    not_checked: Mapping[str, str] = field(default_factory=dict)
    # Every ACL binding (read only when the project manages ACLs).
    acls: frozenset[Binding] = frozenset()
    # Bindings this client could not read (resource types or operations it does not know).
    unreadable_acls: tuple[str, ...] = ()
    # Subjects read from the registry (managed, referenced, owned); absent ones are missing.
    subjects: Mapping[str, LiveSubject] = field(default_factory=dict)
    registry: LiveRegistry | None = None  # None: the registry was not read
    # Broker id -> rack (None: no rack configured).
    brokers: Mapping[int, str | None] = field(default_factory=dict)
    # Every partition reassignment in progress on the cluster, by (topic, partition).
    reassignments: Mapping[tuple[str, int], PartitionReassignment] = field(default_factory=dict)
    # False when the principal may not list reassignments (no DESCRIBE on the cluster).
    reassignments_known: bool = True
    # Replication throttle rates set on brokers (dynamic per-broker configs), by broker id;
    # read only when a managed topic shows a reassignment or leftover throttles.
    broker_throttles: Mapping[int, Mapping[str, str]] = field(default_factory=dict)


def fingerprint(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


# Topics kafkaplan never manages, whatever the specs say: Kafka's own, the Schema
# Registry's storage, Kafka Connect's and Kafka Streams' internals, and kafkaplan's own
# apply lease (``__kafkaplan_lease`` and its suffixed variants; see kafkaplan.lease).
_INTERNAL_TOPIC = re.compile(
    r"^(__kafkaplan_lease.*|__.*|_schemas|_confluent.*|kafkasql-journal.*"
    r"|connect-(configs|offsets|status)|.*-(changelog|repartition))$"
)


def is_internal_topic(name: str) -> bool:
    return bool(_INTERNAL_TOPIC.match(name))
