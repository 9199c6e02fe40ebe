"""In-memory doubles of the Kafka admin API (``Cluster``) and the Schema Registry
(``Registry``), for unit tests.

It behaves like a broker where unit tests rely on it: broker defaults for configs that are
not overridden, topic-level overrides reported as such, incremental alter with set and
delete, partitions that only grow, replication limited by the broker count, ACL bindings
created and deleted exactly (a duplicate create is a no-op, as on Kafka), replicas placed
round-robin over brokers with racks, partition reassignments that complete after a number
of listings (or never, while ``stuck``), dynamic broker configs and preferred leader
elections, group configs (the keys and defaults of a 4.1 broker, refused on a 3.x one) and
the broker's features (ApiVersions), the environment's ``expected_cluster_id`` checked as ``KafkaCluster`` checks it,
and the apply lease's log (``lease``) handed out only after that check. Every behaviour unit tests rely on is also exercised against the real broker in
tests/integration.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafkaplan.errors import (
    ClusterError,
    ClusterNotReached,
    PermissionDenied,
    RegistryError,
    RegistryUnreachable,
    SchemaRejected,
)
from kafkaplan.live.cluster import (
    AclResults,
    ClusterInfo,
    ConsumerGroup,
    GroupMember,
    NewTopicRequest,
    OffsetQuery,
    Partition,
    PartitionResults,
    Results,
    ScramChange,
    TopicMetadata,
    check_cluster_id,
    quota_error,
)
from kafkaplan.live.features import REMOVED_TOPIC_CONFIGS, BrokerFeatures
from kafkaplan.live.lease import LeaseRecord, decode
from kafkaplan.live.registry import CompatibilityResult, RegisteredSchema, SchemaPayload
from kafkaplan.live.state import (
    BROKER_THROTTLE_CONFIGS,
    TOPIC_THROTTLE_CONFIGS,
    ConfigSource,
    LiveConfig,
    LiveGroup,
    PartitionReassignment,
)
from kafkaplan.spec.acls import Binding, Operation, ResourceType
from kafkaplan.spec.quotas import BYTE_RATE_KEYS, QuotaEntity, quota_address
from kafkaplan.spec.schemas import LEVELS
from kafkaplan.spec.topic_configs import TOPIC_CONFIGS, ConfigValueError, normalize

BROKER_DEFAULTS: dict[str, str] = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "max.message.bytes": "1048588",
    "min.insync.replicas": "1",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "unclean.leader.election.enable": "false",
}


# What ApiVersions answers on each release (as the real brokers of the stack answer it, with
# the features each release finalizes by default).
FEATURES_3_9 = BrokerFeatures(
    broker="fake:9092",
    supported={"metadata.version": (1, 21), "kraft.version": (0, 1)},
    finalized={"metadata.version": 21},
)
FEATURES_4_1 = BrokerFeatures(
    broker="fake:9092",
    supported={
        "metadata.version": (7, 27),
        "group.version": (0, 1),
        "share.version": (0, 1),
        "kraft.version": (0, 1),
    },
    finalized={"metadata.version": 27, "group.version": 1},
)
FEATURES_4_4 = BrokerFeatures(
    broker="fake:9092",
    supported={
        "metadata.version": (7, 33),
        "group.version": (0, 1),
        "share.version": (0, 2),
        "streams.version": (0, 1),
        "kraft.version": (0, 1),
    },
    finalized={
        "metadata.version": 33,
        "group.version": 1,
        "share.version": 2,
        "streams.version": 1,
    },
)
# The group configs a 4.1 broker knows, with its defaults.
GROUP_DEFAULTS_4_1: dict[str, str] = {
    "consumer.heartbeat.interval.ms": "5000",
    "consumer.session.timeout.ms": "45000",
    "share.auto.offset.reset": "latest",
    "share.heartbeat.interval.ms": "5000",
    "share.isolation.level": "read_uncommitted",
    "share.record.lock.duration.ms": "30000",
    "share.session.timeout.ms": "45000",
    "streams.heartbeat.interval.ms": "5000",
    "streams.num.standby.replicas": "0",
    "streams.session.timeout.ms": "45000",
}
# Broker bounds of group timeouts: the broker configs that hold them, and their defaults.
GROUP_BOUNDS: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "consumer.session.timeout.ms": (
        ("group.consumer.min.session.timeout.ms", 45000),
        ("group.consumer.max.session.timeout.ms", 60000),
    ),
    "consumer.heartbeat.interval.ms": (
        ("group.consumer.min.heartbeat.interval.ms", 5000),
        ("group.consumer.max.heartbeat.interval.ms", 15000),
    ),
}


@dataclass
class FakeTopic:
    partitions: int
    replication_factor: int
    overrides: dict[str, str] = field(default_factory=dict)
    # Per partition: replicas (preferred leader first); placed round-robin when left empty.
    replicas: list[list[int]] = field(default_factory=list)
    # Per partition: the leader; the preferred one when left empty.
    leaders: list[int] = field(default_factory=list)


def _unknown_topic(name: str) -> ClusterError:
    return ClusterError(
        "This server does not host this topic-partition.",
        resource=f"topic.{name}",
        code="UNKNOWN_TOPIC_OR_PART",
    )


def _invalid_config(name: str, configs: Mapping[str, str]) -> ClusterError | None:
    """The broker's refusal of a topic's configs (unknown keys, values it cannot parse, and,
    as on a broker without tiered storage, remote storage)."""
    for key, value in configs.items():
        if key in TOPIC_THROTTLE_CONFIGS:  # kafkaplan sets these itself, during reassignments
            continue
        if key == "remote.storage.enable" and value == "true":
            return ClusterError(
                "Tiered Storage functionality is disabled in the broker. Topic cannot be "
                "configured with remote log storage.",
                resource=f"topic.{name}",
                code="INVALID_CONFIG",
            )
        try:
            normalize(key, value)
        except ConfigValueError as exc:
            return ClusterError(
                f"Invalid config: {exc}", resource=f"topic.{name}", code="INVALID_CONFIG"
            )
    return None


def round_robin(partitions: int, rf: int, brokers: int, start: int = 0) -> list[list[int]]:
    return [[(start + p + i) % brokers + 1 for i in range(rf)] for p in range(partitions)]


@dataclass
class Fault:
    """An injected failure of the next call of ``operation``.

    A read raises ``error``. A write answers ``error`` for every resource of the call; with
    ``applied`` the write took effect first (the answer was lost, as after a timeout).
    """

    operation: str
    error: ClusterError
    applied: bool = False


@dataclass
class MemoryLeaseLog:
    """An in-memory lease log: the broker's log-append clock is ``now_ms``."""

    topic: str = "__kafkaplan_lease"
    now_ms: int = 1_800_000_000_000
    entries: list[tuple[int, bytes]] = field(default_factory=list)
    exists: bool = False
    # Offsets below this were removed by retention.
    start: int = 0
    appends: int = 0

    def read(self) -> tuple[list[LeaseRecord], bool]:
        records = [
            decode(offset, timestamp, payload)
            for offset, (timestamp, payload) in enumerate(self.entries)
            if offset >= self.start
        ]
        return [r for r in records if r is not None], self.start > 0

    def append(self, payload: bytes, *, create: bool) -> None:
        if not self.exists:
            if not create:
                raise ClusterError("Unknown topic", code="UNKNOWN_TOPIC_OR_PART")
            self.exists = True
        self.appends += 1
        self.entries.append((self.now_ms, payload))

    def close(self) -> None:
        pass


# Bytes one record takes on disk in the fake's logs.
RECORD_BYTES = 100


@dataclass
class FakeLog:
    """One partition's log: its start offset and the timestamp (ms) of each record held."""

    start: int = 0
    timestamps: list[int] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + len(self.timestamps)

    @property
    def size(self) -> int:
        """Bytes on disk: a fixed size per record held (the real broker's depend on batches)."""
        return RECORD_BYTES * len(self.timestamps)


@dataclass
class FakeGroup:
    """A consumer group: its live members and its committed offsets."""

    state: str = "EMPTY"
    members: list[GroupMember] = field(default_factory=list)
    offsets: dict[Partition, int] = field(default_factory=dict)


@dataclass
class MemoryCluster:
    cluster_id: str = "fake-cluster"
    # The environment's expected_cluster_id (None: any cluster will do).
    expected_cluster_id: str | None = None
    lease: MemoryLeaseLog = field(default_factory=MemoryLeaseLog)
    brokers: int = 3
    topics: dict[str, FakeTopic] = field(default_factory=dict)
    denied_topics: set[str] = field(default_factory=set)
    messages: dict[str, int] = field(default_factory=dict)
    # Topics the principal may not describe: absent from the metadata, refused on describe.
    hidden_topics: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    acls: set[Binding] = field(default_factory=set)
    # ACL changes for these principals fail with a permission error.
    denied_acl_principals: set[str] = field(default_factory=set)
    # Resource types and operations this "client" cannot express: by default those
    # confluent-kafka (librdkafka) cannot, as KafkaCluster reports them.
    unsupported_acl_types: set[ResourceType] = field(
        default_factory=lambda: {ResourceType.DELEGATION_TOKEN}
    )
    unsupported_acl_operations: set[Operation] = field(
        default_factory=lambda: {Operation.TWO_PHASE_COMMIT}
    )
    # Descriptions of live bindings the client cannot read.
    unreadable_acls: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # What ``unreached`` answers for a timed-out read: set, no broker has answered yet.
    not_reached: ClusterNotReached | None = None
    # Topic config keys the broker reports as sensitive (their values are real, but masked).
    sensitive: set[str] = field(default_factory=set)
    # Broker id -> rack; rack-a, rack-b, ... for brokers 1..N when left empty.
    racks: dict[int, str | None] = field(default_factory=dict)
    # Reassignments in progress and how many more listings each takes to complete.
    reassignments: dict[Partition, PartitionReassignment] = field(default_factory=dict)
    remaining: dict[Partition, int] = field(default_factory=dict)
    # Listings a new reassignment takes to complete; stuck: never completes.
    reassign_polls: int = 1
    stuck: bool = False
    broker_configs: dict[int, dict[str, str]] = field(default_factory=dict)
    denied_operations: set[str] = field(default_factory=set)
    # Partition logs (ListOffsets answers; partitions without one are empty) and groups.
    logs: dict[Partition, FakeLog] = field(default_factory=dict)
    groups: dict[str, FakeGroup] = field(default_factory=dict)
    # SCRAM users: name -> mechanism -> iterations, and the password each credential was
    # last set with (what a client would authenticate with).
    scram_users: dict[str, dict[str, int]] = field(default_factory=dict)
    scram_passwords: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    # The broker's version and features (ApiVersions), the group configs it knows (with
    # their defaults), and each group's own values.
    features: BrokerFeatures = FEATURES_4_1
    group_defaults: dict[str, str] = field(default_factory=lambda: dict(GROUP_DEFAULTS_4_1))
    group_configs: dict[str, dict[str, str]] = field(default_factory=dict)
    # Client quota entities and their keys.
    quotas: dict[QuotaEntity, dict[str, float]] = field(default_factory=dict)

    def _fault(self, operation: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.operation == operation:
                return self.faults.pop(index)
        return None

    def _read_fault(self, operation: str) -> None:
        fault = self._fault(operation)
        if fault is not None:
            raise fault.error

    @staticmethod
    def _answer(fault: Fault | None, results: Results) -> Results:
        if fault is None:
            return results
        return {name: fault.error if error is None else error for name, error in results.items()}

    def __post_init__(self) -> None:
        if not self.racks:
            self.racks = {b: f"rack-{chr(ord('a') + b - 1)}" for b in range(1, self.brokers + 1)}
        for index, topic in enumerate(self.topics.values()):
            self._place(topic, index)

    def _place(self, topic: FakeTopic, start: int = 0) -> None:
        if not topic.replicas:
            topic.replicas = round_robin(
                topic.partitions, min(topic.replication_factor, self.brokers), self.brokers, start
            )
        if not topic.leaders:
            topic.leaders = [r[0] for r in topic.replicas]

    def identify(self) -> str | None:
        self.calls.append("identify")
        self._read_fault("identify")
        check_cluster_id(self.cluster_id, self.expected_cluster_id)
        return self.cluster_id

    def lease_log(self, topic: str) -> MemoryLeaseLog:
        self.identify()
        self.lease.topic = topic
        return self.lease

    def unreached(self, failure: ClusterError) -> ClusterNotReached | None:
        return self.not_reached if failure.code == "_TIMED_OUT" else None

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        self.calls.append("describe")
        self._read_fault("describe")
        check_cluster_id(self.cluster_id, self.expected_cluster_id)
        for topic in self.topics.values():
            self._place(topic)
        return ClusterInfo(self.cluster_id, self.brokers, dict(self.racks)), {
            name: TopicMetadata(
                name,
                t.partitions,
                max((len(r) for r in t.replicas), default=t.replication_factor),
                tuple(tuple(r) for r in t.replicas),
                tuple(t.leaders),
                # Like a broker's: the partitions being reassigned have replicas that are
                # not in sync yet.
                tuple(p for (topic, p) in sorted(self.reassignments) if topic == name),
            )
            for name, t in self.topics.items()
            if name not in self.hidden_topics
        }

    def describe_topic_configs(
        self, names: Sequence[str], keys: Collection[str] | None = None
    ) -> dict[str, dict[str, LiveConfig] | ClusterError]:
        self.calls.append(f"describe_topic_configs:{len(names)}")
        self._read_fault("describe_topic_configs")
        result: dict[str, dict[str, LiveConfig] | ClusterError] = {}
        for name in names:
            if name in self.hidden_topics:
                result[name] = self._hidden(name)
                continue
            topic = self.topics.get(name)
            if topic is None:
                result[name] = _unknown_topic(name)
                continue
            # As a broker of its release: the configs that release removed are not listed.
            configs = {
                key: LiveConfig(BROKER_DEFAULTS.get(key), ConfigSource.DEFAULT)
                for key in TOPIC_CONFIGS
                if key not in REMOVED_TOPIC_CONFIGS
                or not self.features.at_least(REMOVED_TOPIC_CONFIGS[key][0])
            }
            configs.update(
                {
                    k: LiveConfig(v, ConfigSource.TOPIC, sensitive=k in self.sensitive)
                    for k, v in topic.overrides.items()
                }
            )
            if keys is not None:
                configs = {k: c for k, c in configs.items() if k in keys or c.is_override}
            result[name] = configs
        return result

    def topics_exist(self, names: Sequence[str]) -> dict[str, bool]:
        self.calls.append(f"topics_exist:{len(names)}")
        self._read_fault("topics_exist")
        hidden = next((name for name in names if name in self.hidden_topics), None)
        if hidden is not None:
            raise self._hidden(hidden)
        return {name: name in self.topics for name in names}

    def _hidden(self, name: str) -> ClusterError:
        return PermissionDenied(
            "permission denied (TOPIC_AUTHORIZATION_FAILED)", resource=f"topic.{name}"
        )

    def _check(self, name: str) -> ClusterError | None:
        if name in self.denied_topics:
            return PermissionDenied("permission denied", resource=f"topic.{name}")
        return None

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results:
        self.calls.append(f"create_topics:{len(topics)}:{validate_only}")
        fault = self._fault("create_topics")
        if fault is not None and not fault.applied:
            return {t.name: fault.error for t in topics}
        results: Results = {}
        for request in topics:
            error = self._check(request.name)
            resource = f"topic.{request.name}"
            if error is None and request.name in self.topics:
                error = ClusterError(
                    "Topic already exists", resource=resource, code="TOPIC_ALREADY_EXISTS"
                )
            if error is None and request.replication_factor > self.brokers:
                error = ClusterError(
                    "Replication factor larger than available brokers",
                    resource=resource,
                    code="INVALID_REPLICATION_FACTOR",
                )
            error = error or _invalid_config(request.name, request.configs)
            results[request.name] = error
            if error is None and not validate_only:
                topic = FakeTopic(
                    request.partitions, request.replication_factor, dict(request.configs)
                )
                self._place(topic, len(self.topics))
                self.topics[request.name] = topic
        return self._answer(fault, results)

    def alter_topic_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        self.calls.append(f"alter_topic_configs:{len(changes)}" + (":validate" * validate_only))
        fault = self._fault("alter_topic_configs")
        if fault is not None and not fault.applied:
            return dict.fromkeys(changes, fault.error)
        results: Results = {}
        for name, configs in changes.items():
            error = self._check(name)
            if error is None and name not in self.topics:
                error = _unknown_topic(name)
            # Kafka validates the whole request of a topic: one bad value changes nothing.
            error = error or _invalid_config(
                name, {k: v for k, v in configs.items() if v is not None}
            )
            results[name] = error
            if error is None and not validate_only:
                overrides = self.topics[name].overrides
                for key, value in configs.items():
                    if value is None:
                        overrides.pop(key, None)
                    else:
                        overrides[key] = value
        return self._answer(fault, results)

    def create_partitions(
        self, totals: Mapping[str, int], *, validate_only: bool = False
    ) -> Results:
        self.calls.append(f"create_partitions:{len(totals)}" + (":validate" * validate_only))
        fault = self._fault("create_partitions")
        if fault is not None and not fault.applied:
            return dict.fromkeys(totals, fault.error)
        results: Results = {}
        for name, total in totals.items():
            error = self._check(name)
            if error is None and name not in self.topics:
                error = _unknown_topic(name)
            if error is None and total <= self.topics[name].partitions:
                error = ClusterError(
                    f"Topic already has {self.topics[name].partitions} partitions",
                    resource=f"topic.{name}",
                    code="INVALID_PARTITIONS",
                )
            results[name] = error
            if error is None and not validate_only:
                topic = self.topics[name]
                rf = len(topic.replicas[0]) if topic.replicas else topic.replication_factor
                added = round_robin(total, rf, self.brokers)[topic.partitions :]
                topic.replicas.extend(added)
                topic.leaders.extend(r[0] for r in added)
                topic.partitions = total
        return self._answer(fault, results)

    def probe_topics(self, names: Sequence[str]) -> dict[str, ClusterError | None]:
        self.calls.append(f"probe_topics:{len(names)}")
        return {n: self._hidden(n) if n in self.hidden_topics else None for n in names}

    def delete_topics(self, names: Sequence[str]) -> Results:
        self.calls.append(f"delete_topics:{len(names)}")
        fault = self._fault("delete_topics")
        if fault is not None and not fault.applied:
            return dict.fromkeys(names, fault.error)
        results: Results = {}
        for name in names:
            error = self._check(name)
            if error is None and name not in self.topics:
                error = _unknown_topic(name)
            results[name] = error
            if error is None:
                del self.topics[name]
        return self._answer(fault, results)

    def topic_message_counts(self, partitions: Mapping[str, int]) -> dict[str, int]:
        self.calls.append(f"topic_message_counts:{len(partitions)}")
        self._read_fault("topic_message_counts")
        held = {name: self.messages.get(name, 0) for name in partitions}
        for (name, _), log in self.logs.items():
            if name in held:
                held[name] += len(log.timestamps)
        return held

    def list_consumer_groups(self) -> list[str]:
        self.calls.append("list_consumer_groups")
        self._read_fault("list_consumer_groups")
        return sorted(self.groups)

    def describe_consumer_groups(self, group_ids: Sequence[str]) -> dict[str, ConsumerGroup]:
        self.calls.append(f"describe_consumer_groups:{len(group_ids)}")
        self._read_fault("describe_consumer_groups")
        return {
            group_id: ConsumerGroup(group_id, group.state, tuple(group.members))
            for group_id in group_ids
            if (group := self.groups.get(group_id)) is not None
        }

    def list_group_offsets(self, group_ids: Sequence[str]) -> dict[str, dict[Partition, int]]:
        self.calls.append(f"list_group_offsets:{len(group_ids)}")
        self._read_fault("list_group_offsets")
        return {
            group_id: dict(self.groups[group_id].offsets) if group_id in self.groups else {}
            for group_id in group_ids
        }

    def list_offsets(
        self, partitions: Sequence[Partition], query: OffsetQuery
    ) -> dict[Partition, int]:
        self.calls.append(f"list_offsets:{query}:{len(partitions)}")
        self._read_fault("list_offsets")
        result = {}
        for partition in partitions:
            if partition[0] not in self.topics:
                raise ClusterError(
                    "This server does not host this topic-partition (UNKNOWN_TOPIC_OR_PART)",
                    resource=f"topic.{partition[0]}",
                    code="UNKNOWN_TOPIC_OR_PART",
                )
            log = self.logs.get(partition, FakeLog())
            if query == "earliest":
                result[partition] = log.start
            elif query == "latest":
                result[partition] = log.end
            else:
                later = [i for i, ts in enumerate(log.timestamps) if ts >= query]
                result[partition] = log.start + later[0] if later else -1
        return result

    def describe_log_dirs(self, partitions: Sequence[Partition]) -> dict[Partition, dict[int, int]]:
        self.calls.append(f"describe_log_dirs:{len(partitions)}")
        self._read_fault("describe_log_dirs")
        sizes: dict[Partition, dict[int, int]] = {}
        for partition in partitions:
            topic = self.topics.get(partition[0])
            if topic is None or partition[1] >= len(topic.replicas):
                continue
            size = self.logs.get(partition, FakeLog()).size
            sizes[partition] = dict.fromkeys(topic.replicas[partition[1]], size)
        return sizes

    def describe_acls(self) -> tuple[list[Binding], list[str]]:
        self.calls.append("describe_acls")
        self._read_fault("describe_acls")
        self._acls_denied()
        return sorted(self.acls), list(self.unreadable_acls)

    def acls_exist(self, bindings: Sequence[Binding]) -> dict[Binding, bool]:
        self.calls.append(f"acls_exist:{len(bindings)}")
        self._acls_denied()
        return {binding: binding in self.acls for binding in bindings}

    def _acls_denied(self) -> None:
        if "describe_acls" in self.denied_operations:
            raise PermissionDenied(
                "permission denied (CLUSTER_AUTHORIZATION_FAILED) reading the ACL bindings",
                resource="acls",
                code="CLUSTER_AUTHORIZATION_FAILED",
            )

    def acl_unsupported(self, binding: Binding) -> str | None:
        if binding.resource_type in self.unsupported_acl_types:
            return f"this client cannot manage {binding.resource_type.spelled} ACLs"
        if binding.operation in self.unsupported_acl_operations:
            return f"this client does not know the {binding.operation} operation"
        return None

    def _acl_check(self, binding: Binding) -> ClusterError | None:
        if binding.principal in self.denied_acl_principals:
            return PermissionDenied("permission denied", resource=f"acl.{binding.key}")
        reason = self.acl_unsupported(binding)
        return ClusterError(reason) if reason else None

    def create_acls(self, bindings: Sequence[Binding]) -> AclResults:
        self.calls.append(f"create_acls:{len(bindings)}")
        results: AclResults = {}
        for binding in bindings:
            results[binding] = self._acl_check(binding)
            if results[binding] is None:
                self.acls.add(binding)
        return results

    def delete_acls(self, bindings: Sequence[Binding]) -> AclResults:
        self.calls.append(f"delete_acls:{len(bindings)}")
        results: AclResults = {}
        for binding in bindings:
            results[binding] = self._acl_check(binding)
            if results[binding] is None:
                self.acls.discard(binding)
        return results

    def list_reassignments(self) -> dict[Partition, PartitionReassignment]:
        self.calls.append("list_reassignments")
        denied = self._denied("list_reassignments")
        if denied is not None:
            raise denied
        for key in list(self.reassignments):
            if self.stuck:
                continue
            self.remaining[key] -= 1
            if self.remaining[key] < 0:
                self._complete(key)
        return dict(self.reassignments)

    def _complete(self, key: Partition) -> None:
        reassignment = self.reassignments.pop(key)
        del self.remaining[key]
        topic = self.topics[key[0]]
        target = list(reassignment.target)
        topic.replicas[key[1]] = target
        if topic.leaders[key[1]] not in target:
            topic.leaders[key[1]] = target[0]

    def alter_reassignments(self, targets: Mapping[Partition, Sequence[int]]) -> PartitionResults:
        self.calls.append(f"alter_reassignments:{len(targets)}")
        refused = self._denied("alter_reassignments")
        if refused is not None:  # the whole request, as Kafka does without ALTER on the cluster
            raise refused
        results: PartitionResults = {}
        for (name, partition), replicas in targets.items():
            key = (name, partition)
            error = self._check(name) or self._denied("reassign")
            topic = self.topics.get(name)
            if error is None and (topic is None or partition >= topic.partitions):
                error = ClusterError("Unknown topic or partition", resource=f"topic.{name}")
            if error is None and (
                len(set(replicas)) != len(replicas) or not set(replicas) <= set(self.racks)
            ):
                error = ClusterError("Replica assignment is invalid", resource=f"topic.{name}")
            results[key] = error
            if error is not None or topic is None:
                continue
            ongoing = self.reassignments.get(key)
            original = list(ongoing.original if ongoing else topic.replicas[partition])
            if list(replicas) == original:
                self.reassignments.pop(key, None)
                self.remaining.pop(key, None)
                continue
            adding = [b for b in replicas if b not in original]
            removing = [b for b in original if b not in replicas]
            full = list(replicas) + removing
            topic.replicas[partition] = full
            self.reassignments[key] = PartitionReassignment(
                name, partition, tuple(full), tuple(adding), tuple(removing)
            )
            self.remaining[key] = self.reassign_polls
        return results

    def _denied(self, operation: str) -> ClusterError | None:
        if operation in self.denied_operations:
            return PermissionDenied(f"permission denied ({operation})")
        return None

    def describe_broker_throttles(self, brokers: Sequence[int]) -> dict[int, dict[str, str]]:
        self.calls.append(f"describe_broker_throttles:{len(brokers)}")
        return {
            b: {
                k: v
                for k, v in self.broker_configs.get(b, {}).items()
                if k in BROKER_THROTTLE_CONFIGS
            }
            for b in brokers
        }

    def alter_broker_configs(self, changes: Mapping[int, Mapping[str, str | None]]) -> Results:
        self.calls.append(f"alter_broker_configs:{len(changes)}")
        results: Results = {}
        for broker, configs in changes.items():
            error = self._denied("alter_broker_configs")
            results[str(broker)] = error
            if error is None:
                current = self.broker_configs.setdefault(broker, {})
                for key, value in configs.items():
                    if value is None:
                        current.pop(key, None)
                    else:
                        current[key] = value
        return results

    def elect_preferred_leaders(self, partitions: Sequence[Partition]) -> PartitionResults:
        self.calls.append(f"elect_preferred_leaders:{len(partitions)}")
        results: PartitionResults = {}
        for name, partition in partitions:
            error = self._denied("elect_leaders")
            results[(name, partition)] = error
            if error is None:
                topic = self.topics[name]
                topic.leaders[partition] = topic.replicas[partition][0]
        return results

    def describe_user_scram_credentials(self) -> dict[str, dict[str, int]]:
        self.calls.append("describe_user_scram_credentials")
        self._read_fault("describe_user_scram_credentials")
        if "describe_scram" in self.denied_operations:
            raise PermissionDenied(
                "permission denied (CLUSTER_AUTHORIZATION_FAILED) reading SCRAM users",
                resource="user",
                hint="grant DESCRIBE on the cluster (DescribeUserScramCredentials needs it)",
            )
        return {name: dict(creds) for name, creds in sorted(self.scram_users.items()) if creds}

    def alter_user_scram_credentials(self, changes: Mapping[str, ScramChange]) -> Results:
        """As the broker and KafkaCluster together: per user, the upserts then the
        deletions, stopping at the first refusal (earlier ones stay made); iterations
        outside 4096..16384 are refused, and so is deleting a credential that is absent."""
        self.calls.append(f"alter_user_scram_credentials:{len(changes)}")
        fault = self._fault("alter_user_scram_credentials")
        if fault is not None and not fault.applied:
            return dict.fromkeys(changes, fault.error)
        results: Results = {}
        for name, change in sorted(changes.items()):
            error: ClusterError | None = None
            if "alter_scram" in self.denied_operations:
                error = PermissionDenied(
                    "permission denied (CLUSTER_AUTHORIZATION_FAILED) changing the SCRAM user",
                    resource=f"user.{name}",
                    hint="grant ALTER on the cluster (AlterUserScramCredentials needs it)",
                )
            for mechanism, iterations in change.alterations() if error is None else []:
                creds = self.scram_users.setdefault(name, {})
                if iterations is None:
                    if mechanism not in creds:
                        error = ClusterError(
                            "Attempt to delete a user credential that does not exist",
                            resource=f"user.{name}",
                            code="RESOURCE_NOT_FOUND",
                        )
                        break
                    del creds[mechanism]
                    self.scram_passwords.pop((name, mechanism), None)
                elif not 4096 <= iterations <= 16384:
                    error = ClusterError(
                        f"Too {'few' if iterations < 4096 else 'many'} iterations",
                        resource=f"user.{name}",
                        code="UNACCEPTABLE_CREDENTIAL",
                    )
                    break
                else:
                    creds[mechanism] = iterations
                    self.scram_passwords[(name, mechanism)] = change.password
            if not self.scram_users.get(name):
                self.scram_users.pop(name, None)
            results[name] = error
        return self._answer(fault, results)

    def _group_denied(self, operation: str, group_id: str) -> ClusterError | None:
        """As KafkaCluster reports GROUP_AUTHORIZATION_FAILED for a group's configs."""
        if operation not in self.denied_operations:
            return None
        reading = operation == "describe_group_configs"
        return PermissionDenied(
            "permission denied (GROUP_AUTHORIZATION_FAILED) "
            + ("reading the group's configs" if reading else "changing the group's configs"),
            resource=f"group.{group_id}",
            hint=f"grant {'DESCRIBE_CONFIGS' if reading else 'ALTER_CONFIGS'} on the managed groups",
            code="GROUP_AUTHORIZATION_FAILED",
        )

    def describe_features(self) -> BrokerFeatures:
        self.calls.append("describe_features")
        self._read_fault("describe_features")
        return self.features

    def _group_resource_missing(self, group_id: str) -> ClusterError | None:
        """A 3.x broker has no GROUP config resource (its error, as Kafka 3.9.1 answers)."""
        if self.group_defaults:
            return None
        return ClusterError(
            "Unknown resource type 32 (INVALID_REQUEST)",
            resource=f"group.{group_id}",
            code="INVALID_REQUEST",
        )

    def describe_group_configs(
        self, group_ids: Sequence[str]
    ) -> dict[str, LiveGroup | ClusterError]:
        self.calls.append(f"describe_group_configs:{len(group_ids)}")
        self._read_fault("describe_group_configs")
        result: dict[str, LiveGroup | ClusterError] = {}
        for group_id in group_ids:
            error = self._group_denied(
                "describe_group_configs", group_id
            ) or self._group_resource_missing(group_id)
            if error is not None:
                result[group_id] = error
                continue
            own = self.group_configs.get(group_id, {})
            result[group_id] = LiveGroup(
                group_id=group_id,
                overrides=dict(sorted(own.items())),
                effective={k: own.get(k, v) for k, v in sorted(self.group_defaults.items())},
            )
        return result

    def list_group_config_ids(self) -> list[str]:
        self.calls.append("list_group_config_ids")
        self._read_fault("list_group_config_ids")
        error = self._group_denied("describe_group_configs", "*") or (
            self._group_resource_missing("*") if self.group_configs else None
        )
        if error is not None:
            raise error
        return sorted(self.group_configs)

    def _group_refusal(
        self, group_id: str, configs: Mapping[str, str | None]
    ) -> ClusterError | None:
        resource = f"group.{group_id}"
        for key, value in sorted(configs.items()):
            if key not in self.group_defaults:
                return ClusterError(
                    f"Unknown group config name: {key}", resource=resource, code="INVALID_CONFIG"
                )
            if value is None or not self.group_defaults[key].isdigit():
                continue
            if not value.isdigit():
                return ClusterError(
                    f"Invalid value {value} for configuration {key}: Not a number of type INT",
                    resource=resource,
                    code="INVALID_CONFIG",
                )
            bounds = GROUP_BOUNDS.get(key)
            if bounds is None:
                continue
            (low_name, low), (high_name, high) = bounds
            if int(value) < low:
                return ClusterError(
                    f"{key} must be greater than or equal to {low_name}",
                    resource=resource,
                    code="INVALID_CONFIG",
                )
            if int(value) > high:
                return ClusterError(
                    f"{key} must be less than or equal to {high_name}",
                    resource=resource,
                    code="INVALID_CONFIG",
                )
        return None

    def alter_group_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        self.calls.append(f"alter_group_configs:{len(changes)}:{validate_only}")
        fault = self._fault("alter_group_configs")
        if fault is not None and not fault.applied:
            return dict.fromkeys(changes, fault.error)
        results: Results = {}
        for group_id, configs in sorted(changes.items()):
            error = (
                self._group_denied("alter_group_configs", group_id)
                or self._group_resource_missing(group_id)
                or self._group_refusal(group_id, configs)
            )
            results[group_id] = error
            if error is not None or validate_only:
                continue
            own = self.group_configs.setdefault(group_id, {})
            for key, value in configs.items():
                if value is None:
                    own.pop(key, None)
                else:
                    own[key] = value
            if not own:
                del self.group_configs[group_id]
        return self._answer(fault, results)

    def describe_quotas(self) -> dict[QuotaEntity, dict[str, float]]:
        self.calls.append("describe_quotas")
        self._read_fault("describe_quotas")
        if "describe_quotas" in self.denied_operations:
            raise quota_refusal(31, "Cluster authorization failed.", "quota", "describe_quotas")
        return {entity: dict(keys) for entity, keys in self.quotas.items() if keys}

    def alter_quotas(
        self,
        changes: Mapping[QuotaEntity, Mapping[str, float | None]],
        *,
        validate_only: bool = False,
    ) -> dict[QuotaEntity, ClusterError | None]:
        self.calls.append(f"alter_quotas:{len(changes)}" + (":validate" if validate_only else ""))
        fault = self._fault("alter_quotas")
        if fault is not None and not fault.applied:
            return dict.fromkeys(changes, fault.error)
        results: dict[QuotaEntity, ClusterError | None] = {}
        for entity, keys in changes.items():
            address = quota_address(entity)
            if "alter_quotas" in self.denied_operations:
                results[entity] = quota_refusal(
                    31, "Cluster authorization failed.", address, "alter_quotas"
                )
                continue
            problem = _quota_problem(entity, keys)
            results[entity] = (
                None if problem is None else quota_refusal(42, problem, address, "alter_quotas")
            )
            if problem is None and not validate_only:
                current = self.quotas.setdefault(entity, {})
                for key, value in keys.items():
                    if value is None:
                        current.pop(key, None)
                    else:
                        current[key] = float(value)
                if not current:
                    del self.quotas[entity]
        if fault is not None:  # applied, but the answer was lost
            return dict.fromkeys(changes, fault.error)
        return results

    def close(self) -> None:
        pass


def quota_refusal(code: int, message: str, resource: str, operation: str) -> ClusterError:
    error = quota_error(code, message, resource=resource, operation=operation)
    assert error is not None
    return error


def _quota_problem(entity: QuotaEntity, keys: Mapping[str, float | None]) -> str | None:
    """What Kafka 4.1 says of a quota change it refuses (its own wording), or None."""
    if entity.is_ip and entity.parts[0][1] is not None:
        try:
            ipaddress.ip_address(entity.parts[0][1])
        except ValueError:
            return f"{entity.parts[0][1]} is not a valid IP or resolvable host."
    for key, value in sorted(keys.items()):
        if key not in entity.quota_keys():
            return f"Invalid configuration key {key}"
        if value is None:
            continue
        if value <= 0:
            return f"Quota {key} must be greater than 0"
        if key in BYTE_RATE_KEYS and value != int(value):
            return f"{key} cannot be a fractional value."
    return None


# ---------------------------------------------------------------------------------------
# Schema Registry
# ---------------------------------------------------------------------------------------


@dataclass
class FakeVersion:
    version: int
    schema_id: int
    payload: SchemaPayload
    deleted: bool = False  # soft-deleted on its own (DELETE .../versions/{n})


def _avro_fields(text: str) -> dict[str, dict[str, Any]]:
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("type") != "record":
        return {}
    return {f["name"]: f for f in document.get("fields", [])}


def avro_incompatibilities(old: str, new: str, level: str) -> list[str]:
    """A registry's verdict on top-level Avro record fields, enough for unit tests: a reader
    needs a default for every field the writer lacks, and field types must match."""
    directions, _ = LEVELS[level]
    before, after = _avro_fields(old), _avro_fields(new)
    problems = []
    if "backward" in directions:  # the new schema reads old data
        problems += [
            f"READER_FIELD_MISSING_DEFAULT_VALUE: {n}"
            for n, f in after.items()
            if n not in before and "default" not in f
        ]
    if "forward" in directions:  # old readers read new data
        problems += [
            f"READER_FIELD_MISSING_DEFAULT_VALUE: {n}"
            for n, f in before.items()
            if n not in after and "default" not in f
        ]
    if directions:
        problems += [
            f"TYPE_MISMATCH: {n}"
            for n in before.keys() & after.keys()
            if before[n]["type"] != after[n]["type"]
        ]
    return problems


@dataclass
class MemoryRegistry:
    """An in-memory double of the ``Registry`` protocol, behaving like a Confluent-compatible
    registry where unit tests rely on it (tests/integration checks the real one): versions
    and ids, subject and global levels, compatibility checked at registration, soft then
    hard deletes, references that must exist and block deleting what they point at (until
    the referring schema is deleted for good)."""

    global_level: str = "BACKWARD"
    subjects: dict[str, list[FakeVersion]] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    soft_deleted: set[str] = field(default_factory=set)
    # Apicurio: GET /config/{subject} of a subject without a level of its own answers the
    # level the registry started with (apicurio.rules.global.compatibility), the global
    # level until that is changed; Confluent answers 40408 (None).
    reports_global_for_subjects: bool = False
    # Errors to raise instead of registering under a subject (e.g. a 5xx).
    failures: dict[str, RegistryError] = field(default_factory=dict)
    # Errors to raise after registering under a subject (a 5xx once the schema was stored).
    failures_after: dict[str, RegistryError] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    # Schema types (JSON, PROTOBUF) whose changed versions this double refuses without a
    # reason, as Apicurio answers {"is_compatible": false}: it checks only Avro itself.
    incompatible_types: set[str] = field(default_factory=set)
    next_id: int = 1
    # False: the registry hangs; every call (still recorded) raises RegistryUnreachable.
    answering: bool = True
    # The global level the registry was started with.
    startup_level: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.startup_level = self.global_level

    def _ask(self, call: str) -> None:
        self.calls.append(call)
        if not self.answering:
            # Named like HttpRegistry names them: by the subject asked about, if any.
            subject = call.split(":")[1] if ":" in call else None
            raise RegistryUnreachable(
                "the registry at memory:// did not answer (timed out)",
                resource=None if subject is None else f"subject.{subject}",
            )

    def _live(self, subject: str) -> list[FakeVersion]:
        if subject in self.soft_deleted:
            return []
        return [v for v in self.subjects.get(subject, []) if not v.deleted]

    def global_compatibility(self) -> str:
        self._ask("global_compatibility")
        return self.global_level

    def subject_compatibility(self, subject: str) -> str | None:
        self._ask(f"subject_compatibility:{subject}")
        if subject in self.levels:
            return self.levels[subject]
        if self.reports_global_for_subjects and self._live(subject):
            return self.startup_level
        return None

    def latest(self, subject: str) -> RegisteredSchema | None:
        self._ask(f"latest:{subject}")
        versions = self._live(subject)
        if not versions:
            return None
        last = versions[-1]
        return RegisteredSchema(
            subject,
            last.version,
            last.schema_id,
            last.payload.schema_type,
            last.payload.schema,
            last.payload.references,
        )

    def versions(self, subject: str) -> list[int]:
        self._ask(f"versions:{subject}")
        return [v.version for v in self._live(subject)]

    def referenced_by(self, subject: str, version: int) -> list[int]:
        self._ask(f"referenced_by:{subject}:{version}")
        return sorted(
            v.schema_id
            for versions in self.subjects.values()
            for v in versions
            if any(r.subject == subject and r.version == version for r in v.payload.references)
        )

    def schema_usages(self, schema_id: int) -> list[tuple[str, int]] | None:
        self._ask(f"schema_usages:{schema_id}")
        usages = sorted(
            (name, v.version)
            for name, versions in self.subjects.items()
            for v in versions
            if v.schema_id == schema_id
        )
        return usages or None

    def list_subjects(self, prefixes: Sequence[str]) -> list[str]:
        self._ask("list_subjects")
        return sorted(
            name
            for name, versions in self.subjects.items()
            if versions and name not in self.soft_deleted and name.startswith(tuple(prefixes))
        )

    def level_of(self, subject: str) -> str:
        return self.levels.get(subject, self.global_level)

    def _problems(self, subject: str, payload: SchemaPayload) -> list[str]:
        versions = self._live(subject)
        if not versions:
            return []
        level = self.level_of(subject)
        if level == "NONE":
            return []
        if versions[-1].payload.schema_type != payload.schema_type:
            return ["the schema type differs"]
        against = versions if level.endswith("_TRANSITIVE") else versions[-1:]
        problems = []
        for version in against:
            if payload.schema_type == "AVRO":
                problems += avro_incompatibilities(version.payload.schema, payload.schema, level)
        changed = any(v.payload.schema != payload.schema for v in against)
        if payload.schema_type in self.incompatible_types and not problems and changed:
            return [""]  # refused, with no reason given
        return problems

    def check_compatibility(self, subject: str, schema: SchemaPayload) -> CompatibilityResult:
        self._ask(f"check_compatibility:{subject}")
        problems = self._problems(subject, schema)
        return CompatibilityResult(not problems, tuple(problems))

    def register(self, subject: str, schema: SchemaPayload) -> RegisteredSchema:
        self._ask(f"register:{subject}")
        if subject in self.failures:
            raise self.failures[subject]
        for ref in schema.references:
            if ref.version not in [v.version for v in self._live(ref.subject)]:
                raise SchemaRejected(
                    "the registry refused the request as invalid (HTTP 422 42201): "
                    f"Unresolved reference {ref.name}",
                    resource=f"subject.{subject}",
                    status=422,
                    error_code=42201,
                )
        for version in self._live(subject):
            if version.payload == schema:
                return RegisteredSchema(subject, version.version, version.schema_id)
        problems = self._problems(subject, schema)
        if problems:
            raise SchemaRejected(
                "the registry refused the schema as incompatible (HTTP 409): "
                + "; ".join(problems),
                resource=f"subject.{subject}",
                status=409,
                error_code=409,
            )
        if subject in self.soft_deleted:
            self.soft_deleted.discard(subject)
            self.subjects[subject] = []
        versions = self.subjects.setdefault(subject, [])
        number = versions[-1].version + 1 if versions else 1  # numbers are never reused
        versions.append(FakeVersion(number, self.next_id, schema))
        self.next_id += 1
        if subject in self.failures_after:
            raise self.failures_after[subject]
        return RegisteredSchema(subject, number, self.next_id - 1)

    def lookup(self, subject: str, schema: SchemaPayload) -> RegisteredSchema | None:
        self._ask(f"lookup:{subject}")
        for version in self._live(subject):
            if version.payload == schema:
                return RegisteredSchema(subject, version.version, version.schema_id)
        return None

    def delete_version(self, subject: str, version: int) -> None:
        self._ask(f"delete_version:{subject}:{version}")
        if any(v.version == version and v.deleted for v in self.subjects.get(subject, [])):
            # Apicurio answers 409 (40406), which HttpRegistry reads as a refusal.
            raise SchemaRejected(
                f"Version {version} is already soft deleted.",
                resource=f"subject.{subject}",
                status=409,
                error_code=40406,
            )
        found = [v for v in self._live(subject) if v.version == version]
        if not found:
            raise RegistryError(
                f"Version {version} not found.",
                resource=f"subject.{subject}",
                status=404,
                error_code=40402,
            )
        found[0].deleted = True

    def set_compatibility(self, subject: str | None, level: str) -> None:
        self._ask(f"set_compatibility:{subject}:{level}")
        if level not in LEVELS:
            raise SchemaRejected(f"Invalid compatibility level: {level}", status=422)
        if subject is None:
            self.global_level = level
        else:
            self.levels[subject] = level

    def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        self._ask(f"delete_subject:{subject}:{permanent}")
        resource = f"subject.{subject}"
        if subject not in self.subjects:
            raise RegistryError(
                "Subject not found", resource=resource, status=404, error_code=40401
            )
        # As on Apicurio: a schema refers until it is deleted for good (soft-deleted versions
        # and subjects still do).
        referrers = [
            name
            for name, versions in self.subjects.items()
            if name != subject
            and any(r.subject == subject for v in versions for r in v.payload.references)
        ]
        if referrers:
            raise SchemaRejected(
                "There are subjects referencing " + subject,
                resource=resource,
                status=422,
                error_code=42206,
            )
        versions = [v.version for v in self.subjects[subject]]
        if not permanent:
            if subject in self.soft_deleted:
                raise RegistryError(
                    f"Subject {subject} is in soft deleted state.",
                    resource=resource,
                    status=404,
                    error_code=40404,
                )
            self.soft_deleted.add(subject)
            return versions
        if subject not in self.soft_deleted:
            raise RegistryError(
                f"Subject {subject} must be soft deleted first",
                resource=resource,
                status=409,
                error_code=40405,
            )
        del self.subjects[subject]
        self.soft_deleted.discard(subject)
        return versions

    def close(self) -> None:
        pass
