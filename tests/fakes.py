"""An in-memory double of the Kafka admin API (the ``Cluster`` protocol), for unit tests.

It behaves like a broker where unit tests rely on it: broker defaults for configs that are
not overridden, topic-level overrides reported as such, incremental alter with set and
delete, partitions that only grow, replication limited by the broker count, replicas
placed round-robin over brokers with racks, partition reassignments that complete after a
number of listings (or never, while ``stuck``), dynamic broker configs and preferred
leader elections. Every behaviour unit tests rely on is also exercised against the real
broker in tests/integration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafkaplan.cluster import (
    ClusterInfo,
    NewTopicRequest,
    Partition,
    PartitionResults,
    Results,
    TopicMetadata,
)
from kafkaplan.errors import ClusterError, PermissionDenied
from kafkaplan.state import BROKER_THROTTLE_CONFIGS, ConfigSource, LiveConfig, PartitionReassignment
from kafkaplan.topic_configs import TOPIC_CONFIGS, ConfigValueError, normalize

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


@dataclass
class FakeTopic:
    partitions: int
    replication_factor: int
    overrides: dict[str, str] = field(default_factory=dict)
    # Per partition: replicas (preferred leader first); placed round-robin when left empty.
    replicas: list[list[int]] = field(default_factory=list)
    # Per partition: the leader; the preferred one when left empty.
    leaders: list[int] = field(default_factory=list)


def round_robin(partitions: int, rf: int, brokers: int, start: int = 0) -> list[list[int]]:
    return [[(start + p + i) % brokers + 1 for i in range(rf)] for p in range(partitions)]


@dataclass
class MemoryCluster:
    cluster_id: str = "fake-cluster"
    brokers: int = 3
    topics: dict[str, FakeTopic] = field(default_factory=dict)
    denied_topics: set[str] = field(default_factory=set)
    messages: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
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

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        self.calls.append("describe")
        for topic in self.topics.values():
            self._place(topic)
        return ClusterInfo(self.cluster_id, self.brokers, dict(self.racks)), {
            name: TopicMetadata(
                name,
                t.partitions,
                max((len(r) for r in t.replicas), default=t.replication_factor),
                tuple(tuple(r) for r in t.replicas),
                tuple(t.leaders),
            )
            for name, t in self.topics.items()
        }

    def describe_topic_configs(self, names: Sequence[str]) -> dict[str, dict[str, LiveConfig]]:
        self.calls.append(f"describe_topic_configs:{len(names)}")
        result = {}
        for name in names:
            topic = self.topics[name]
            configs = {
                key: LiveConfig(BROKER_DEFAULTS.get(key), ConfigSource.DEFAULT)
                for key in TOPIC_CONFIGS
            }
            configs.update(
                {k: LiveConfig(v, ConfigSource.TOPIC) for k, v in topic.overrides.items()}
            )
            result[name] = configs
        return result

    def _check(self, name: str) -> ClusterError | None:
        if name in self.denied_topics:
            return PermissionDenied("permission denied", resource=f"topic.{name}")
        return None

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results:
        self.calls.append(f"create_topics:{len(topics)}:{validate_only}")
        results: Results = {}
        for request in topics:
            error = self._check(request.name)
            if error is None and request.name in self.topics:
                error = ClusterError("Topic already exists", resource=f"topic.{request.name}")
            if error is None and request.replication_factor > self.brokers:
                error = ClusterError("Replication factor larger than available brokers")
            for key, value in request.configs.items():
                try:
                    normalize(key, value)
                except ConfigValueError as exc:
                    error = ClusterError(f"Invalid config: {exc}")
            results[request.name] = error
            if error is None and not validate_only:
                topic = FakeTopic(
                    request.partitions, request.replication_factor, dict(request.configs)
                )
                self._place(topic, len(self.topics))
                self.topics[request.name] = topic
        return results

    def alter_topic_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> Results:
        self.calls.append(f"alter_topic_configs:{len(changes)}")
        results: Results = {}
        for name, configs in changes.items():
            error = self._check(name)
            results[name] = error
            if error is None:
                overrides = self.topics[name].overrides
                for key, value in configs.items():
                    if value is None:
                        overrides.pop(key, None)
                    else:
                        overrides[key] = value
        return results

    def create_partitions(self, totals: Mapping[str, int]) -> Results:
        self.calls.append(f"create_partitions:{len(totals)}")
        results: Results = {}
        for name, total in totals.items():
            error = self._check(name)
            if error is None and total <= self.topics[name].partitions:
                error = ClusterError(f"Topic already has {self.topics[name].partitions} partitions")
            results[name] = error
            if error is None:
                topic = self.topics[name]
                rf = len(topic.replicas[0]) if topic.replicas else topic.replication_factor
                added = round_robin(total, rf, self.brokers)[topic.partitions :]
                topic.replicas.extend(added)
                topic.leaders.extend(r[0] for r in added)
                topic.partitions = total
        return results

    def delete_topics(self, names: Sequence[str]) -> Results:
        self.calls.append(f"delete_topics:{len(names)}")
        results: Results = {}
        for name in names:
            error = self._check(name)
            if error is None and name not in self.topics:
                error = ClusterError("Unknown topic", resource=f"topic.{name}")
            results[name] = error
            if error is None:
                del self.topics[name]
        return results

    def topic_message_counts(self, partitions: Mapping[str, int]) -> dict[str, int]:
        self.calls.append(f"topic_message_counts:{len(partitions)}")
        return {name: self.messages.get(name, 0) for name in partitions}

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

    def close(self) -> None:
        pass
