"""An in-memory double of the Kafka admin API (the ``Cluster`` protocol), for unit tests.

It behaves like a broker where unit tests rely on it: broker defaults for configs that are
not overridden, topic-level overrides reported as such, incremental alter with set and
delete, partitions that only grow, replication limited by the broker count. Every
behaviour unit tests rely on is also exercised against the real broker in tests/integration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafkaplan.cluster import ClusterInfo, NewTopicRequest, Results, TopicMetadata
from kafkaplan.errors import ClusterError, PermissionDenied
from kafkaplan.lease import LeaseRecord, decode
from kafkaplan.state import ConfigSource, LiveConfig
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
class MemoryCluster:
    cluster_id: str = "fake-cluster"
    brokers: int = 3
    topics: dict[str, FakeTopic] = field(default_factory=dict)
    denied_topics: set[str] = field(default_factory=set)
    messages: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # Topic config keys the broker reports as sensitive (their values are real, but masked).
    sensitive: set[str] = field(default_factory=set)

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

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        self.calls.append("describe")
        self._read_fault("describe")
        return ClusterInfo(self.cluster_id, self.brokers), {
            name: TopicMetadata(name, t.partitions, t.replication_factor)
            for name, t in self.topics.items()
        }

    def describe_topic_configs(self, names: Sequence[str]) -> dict[str, dict[str, LiveConfig]]:
        self.calls.append(f"describe_topic_configs:{len(names)}")
        self._read_fault("describe_topic_configs")
        result = {}
        for name in names:
            topic = self.topics[name]
            configs = {
                key: LiveConfig(BROKER_DEFAULTS.get(key), ConfigSource.DEFAULT)
                for key in TOPIC_CONFIGS
            }
            configs.update(
                {
                    k: LiveConfig(v, ConfigSource.TOPIC, sensitive=k in self.sensitive)
                    for k, v in topic.overrides.items()
                }
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
        fault = self._fault("create_topics")
        if fault is not None and not fault.applied:
            return {t.name: fault.error for t in topics}
        results: Results = {}
        for request in topics:
            error = self._check(request.name)
            if error is None and request.name in self.topics:
                error = ClusterError(
                    "Topic already exists",
                    resource=f"topic.{request.name}",
                    code="TOPIC_ALREADY_EXISTS",
                )
            if error is None and request.replication_factor > self.brokers:
                error = ClusterError("Replication factor larger than available brokers")
            for key, value in request.configs.items():
                try:
                    normalize(key, value)
                except ConfigValueError as exc:
                    error = ClusterError(f"Invalid config: {exc}")
            results[request.name] = error
            if error is None and not validate_only:
                self.topics[request.name] = FakeTopic(
                    request.partitions, request.replication_factor, dict(request.configs)
                )
        return self._answer(fault, results)

    def alter_topic_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> Results:
        self.calls.append(f"alter_topic_configs:{len(changes)}")
        fault = self._fault("alter_topic_configs")
        if fault is not None and not fault.applied:
            return dict.fromkeys(changes, fault.error)
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
        return self._answer(fault, results)

    def create_partitions(self, totals: Mapping[str, int]) -> Results:
        self.calls.append(f"create_partitions:{len(totals)}")
        fault = self._fault("create_partitions")
        if fault is not None and not fault.applied:
            return dict.fromkeys(totals, fault.error)
        results: Results = {}
        for name, total in totals.items():
            error = self._check(name)
            if error is None and total <= self.topics[name].partitions:
                error = ClusterError(f"Topic already has {self.topics[name].partitions} partitions")
            results[name] = error
            if error is None:
                self.topics[name].partitions = total
        return self._answer(fault, results)

    def delete_topics(self, names: Sequence[str]) -> Results:
        self.calls.append(f"delete_topics:{len(names)}")
        fault = self._fault("delete_topics")
        if fault is not None and not fault.applied:
            return dict.fromkeys(names, fault.error)
        results: Results = {}
        for name in names:
            error = self._check(name)
            if error is None and name not in self.topics:
                error = ClusterError("Unknown topic", resource=f"topic.{name}")
            results[name] = error
            if error is None:
                del self.topics[name]
        return self._answer(fault, results)

    def topic_message_counts(self, partitions: Mapping[str, int]) -> dict[str, int]:
        self.calls.append(f"topic_message_counts:{len(partitions)}")
        self._read_fault("topic_message_counts")
        return {name: self.messages.get(name, 0) for name in partitions}

    def close(self) -> None:
        pass


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
