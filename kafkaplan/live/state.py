"""The live state: what the cluster and the registry hold (``kafkaplan.live.read`` builds it).

A plain immutable value, one of the two inputs of ``kafkaplan.plan.compute.compute_plan``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec
from msgspec import Struct, field

from kafkaplan.live.features import BrokerFeatures
from kafkaplan.spec.acls import Binding
from kafkaplan.spec.quotas import QuotaEntity


class ConfigSource(StrEnum):
    """Where a live config value comes from (Kafka's DescribeConfigs source)."""

    TOPIC = "topic"  # DYNAMIC_TOPIC_CONFIG: set on the topic
    BROKER = "broker"  # static or dynamic broker config
    DEFAULT = "default"  # Kafka's built-in default
    UNKNOWN = "unknown"


class LiveGroup(Struct, frozen=True):
    """A group's configs: the values it sets itself, and every key the broker knows."""

    group_id: str
    # Key -> the group's own value (DescribeConfigs source GROUP_CONFIG).
    overrides: Mapping[str, str] = field(default_factory=dict)
    # Key -> the value in effect (the group's own or the broker's default).
    effective: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.effective)


class LiveConfig(Struct, frozen=True):
    value: str | None
    source: ConfigSource
    sensitive: bool = False

    @property
    def is_override(self) -> bool:
        return self.source is ConfigSource.TOPIC


class PartitionReassignment(Struct, frozen=True):
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


class LiveTopic(Struct, frozen=True):
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


class LiveReference(Struct, frozen=True):
    name: str
    subject: str
    version: int


class LiveSubject(Struct, frozen=True):
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


class LiveRegistry(Struct, frozen=True):
    global_compatibility: str | None = None
    # Subject-level compatibility of each subject read (existing or not); None: none set,
    # or (on registries that report the global level for every subject) the same as global.
    subject_compatibility: Mapping[str, str | None] = field(default_factory=dict)
    # Subjects in the project's owned prefixes, as the registry lists them.
    owned_subjects: tuple[str, ...] = ()


class GroupUse(Struct, frozen=True):
    """One consumer group's use of one topic."""

    group_id: str
    state: str  # Kafka's group state: STABLE, EMPTY, ...
    # Its live members (``client-id@host``), and those assigned partitions of the topic.
    members: tuple[str, ...] = ()
    assigned: tuple[str, ...] = ()
    # Partition -> committed offset.
    committed: Mapping[int, int] = field(default_factory=dict)


class TopicUsage(Struct, frozen=True):
    """Who reads a changed topic and where its partitions stand."""

    groups: tuple[GroupUse, ...] = ()
    start: Mapping[int, int] = field(default_factory=dict)  # partition -> log start offset
    end: Mapping[int, int] = field(default_factory=dict)  # partition -> log end offset
    # Partition -> offset of the first record written at or after ``cut_ms`` (-1: none),
    # read when the plan shortens the topic's retention.
    cut: Mapping[int, int] = field(default_factory=dict)
    cut_ms: int | None = None
    # Partition -> offset of the first record written within the in-use window (-1: none),
    # read when the plan deletes the topic (or removes access to it).
    recent: Mapping[int, int] = field(default_factory=dict)
    # Partition -> bytes on disk of its leader replica (DescribeLogDirs), read when the plan
    # deletes the topic or shortens its retention.
    sizes: Mapping[int, int] = field(default_factory=dict)


class LiveUsage(Struct, frozen=True):
    """The consumer groups and offsets behind a plan's blast radius, read only for the
    topics a draft plan changes (``kafkaplan.live.read.read_usage``)."""

    topics: Mapping[str, TopicUsage] = field(default_factory=dict)
    # When it was read (ms since the epoch): retention cuts and windows are relative to it.
    read_at_ms: int = 0
    window_ms: int = 0  # the in-use window (project `in_use.window`)
    # Why the consumer groups could not be read (None: they were).
    groups_unread: str | None = None
    # Live ACL bindings, when the plan did not read them already (None: not read).
    acls: frozenset[Binding] | None = None
    # Every consumer group listed, by id: its state and live members (not its offsets).
    groups: Mapping[str, GroupUse] = field(default_factory=dict)
    # Why the partitions' sizes could not be read (None: they were, or were not needed).
    sizes_unread: str | None = None


class LiveState(Struct, frozen=True):
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
    # Consumer groups and offsets of the topics the plan changes (None: not read).
    usage: LiveUsage | None = None
    # SCRAM users: name -> mechanism -> iterations (read only when the specs manage users).
    users: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # The declared groups' configs (kafkaplan.live.groups), by group id.
    groups: Mapping[str, LiveGroup] = field(default_factory=dict)
    # What the broker's version supports (read only when the plan depends on it).
    features: BrokerFeatures | None = None
    # Every client quota entity with its keys (read only when the project manages quotas).
    quotas: Mapping[QuotaEntity, Mapping[str, float]] = field(default_factory=dict)


# Keys sorted, anything JSON has no type for as its str(). A plan is applied only by the
# kafkaplan version that made it, so the encoding need only be stable within a version.
_FINGERPRINT_ENCODER = msgspec.json.Encoder(enc_hook=str, order="sorted")


def fingerprint(value: Any) -> str:
    """A short digest of a JSON-like value (what the plan saw of a resource)."""
    return hashlib.sha256(_FINGERPRINT_ENCODER.encode(value)).hexdigest()[:16]


# Topics kafkaplan never manages, whatever the specs say: Kafka's own, the Schema
# Registry's storage, Kafka Connect's and Kafka Streams' internals, and kafkaplan's own
# apply lease (``__kafkaplan_lease`` and its suffixed variants; see kafkaplan.lease).
