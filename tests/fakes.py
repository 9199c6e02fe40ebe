"""An in-memory double of the Kafka admin API (the ``Cluster`` protocol), for unit tests.

It behaves like a broker where unit tests rely on it: broker defaults for configs that are
not overridden, topic-level overrides reported as such, incremental alter with set and
delete, partitions that only grow, replication limited by the broker count, ACL bindings
created and deleted exactly (a duplicate create is a no-op, as on Kafka). Every
behaviour unit tests rely on is also exercised against the real broker in tests/integration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafkaplan.acls import Binding, Operation, ResourceType
from kafkaplan.cluster import AclResults, ClusterInfo, NewTopicRequest, Results, TopicMetadata
from kafkaplan.errors import ClusterError, PermissionDenied
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
class MemoryCluster:
    cluster_id: str = "fake-cluster"
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
    # Resource types and operations this "client" cannot express (as librdkafka cannot
    # express delegation tokens); empty by default.
    unsupported_acl_types: set[ResourceType] = field(default_factory=set)
    unsupported_acl_operations: set[Operation] = field(default_factory=set)
    # Descriptions of live bindings the client cannot read.
    unreadable_acls: list[str] = field(default_factory=list)

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        self.calls.append("describe")
        return ClusterInfo(self.cluster_id, self.brokers), {
            name: TopicMetadata(name, t.partitions, t.replication_factor)
            for name, t in self.topics.items()
            if name not in self.hidden_topics
        }

    def describe_topic_configs(
        self, names: Sequence[str]
    ) -> dict[str, dict[str, LiveConfig] | ClusterError]:
        self.calls.append(f"describe_topic_configs:{len(names)}")
        result: dict[str, dict[str, LiveConfig] | ClusterError] = {}
        for name in names:
            if name in self.hidden_topics:
                result[name] = self._hidden(name)
                continue
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
                self.topics[request.name] = FakeTopic(
                    request.partitions, request.replication_factor, dict(request.configs)
                )
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
                self.topics[name].partitions = total
        return results

    def probe_topics(self, names: Sequence[str]) -> dict[str, ClusterError | None]:
        self.calls.append(f"probe_topics:{len(names)}")
        return {n: self._hidden(n) if n in self.hidden_topics else None for n in names}

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

    def describe_acls(self) -> tuple[list[Binding], list[str]]:
        self.calls.append("describe_acls")
        return sorted(self.acls), list(self.unreadable_acls)

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

    def close(self) -> None:
        pass
