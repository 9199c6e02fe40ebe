"""A narrow, typed interface over the Kafka admin API, and its confluent-kafka implementation.

Everything kafkaplan does to a cluster goes through ``Cluster``. Calls are batched: one
metadata request for all topics, one describe-configs submission for all managed topics
(chunked), one create-topics request for every new topic. Results come back as our own
types; broker errors become ``ClusterError`` subclasses carrying the resource and the
broker's reason. The unit tests use an in-memory implementation of the same protocol.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from kafkaplan.errors import (
    AuthenticationFailed,
    ClusterError,
    ClusterUnreachable,
    PermissionDenied,
    ProjectError,
)
from kafkaplan.project import KafkaConnection, unresolved_env
from kafkaplan.state import (
    BROKER_THROTTLE_CONFIGS,
    ConfigSource,
    LiveConfig,
    PartitionReassignment,
)

log = logging.getLogger("kafkaplan.cluster")

DESCRIBE_CHUNK = 500


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str | None
    broker_count: int
    # Broker id -> rack (None: no rack), from DescribeCluster.
    racks: Mapping[int, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicMetadata:
    name: str
    partitions: int
    replication_factor: int
    # Per partition id: replicas (preferred leader first) and the current leader.
    replicas: tuple[tuple[int, ...], ...] = ()
    leaders: tuple[int, ...] = ()


@dataclass(frozen=True)
class NewTopicRequest:
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


# Per resource name: None when the operation succeeded, else the error.
Results = dict[str, ClusterError | None]
# The same per (topic, partition).
Partition = tuple[str, int]
PartitionResults = dict[Partition, ClusterError | None]


class Cluster(Protocol):
    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        """Cluster id, broker count and every topic's partitions, in one metadata request."""
        ...

    def describe_topic_configs(self, names: Sequence[str]) -> dict[str, dict[str, LiveConfig]]: ...

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results: ...

    def alter_topic_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> Results:
        """Incremental: set each given key, delete the override of each key mapped to None."""
        ...

    def create_partitions(self, totals: Mapping[str, int]) -> Results: ...

    def delete_topics(self, names: Sequence[str]) -> Results: ...

    def topic_message_counts(self, partitions: Mapping[str, int]) -> dict[str, int]:
        """Per topic (name -> partition count): messages held, end minus start offsets."""
        ...

    def list_reassignments(self) -> dict[Partition, PartitionReassignment]:
        """Every partition reassignment in progress on the cluster, in one request."""
        ...

    def alter_reassignments(self, targets: Mapping[Partition, Sequence[int]]) -> PartitionResults:
        """Start moving each partition to the given replicas (preferred leader first)."""
        ...

    def describe_broker_throttles(self, brokers: Sequence[int]) -> dict[int, dict[str, str]]:
        """The replication throttle rates set on each broker (dynamic per-broker configs)."""
        ...

    def alter_broker_configs(self, changes: Mapping[int, Mapping[str, str | None]]) -> Results:
        """Incremental, per broker id (results keyed by the id as text); None deletes."""
        ...

    def elect_preferred_leaders(self, partitions: Sequence[Partition]) -> PartitionResults:
        """Make each partition's first replica its leader (already leader: success)."""
        ...

    def close(self) -> None: ...


_SOURCES = {
    "DYNAMIC_TOPIC_CONFIG": ConfigSource.TOPIC,
    "DYNAMIC_BROKER_CONFIG": ConfigSource.BROKER,
    "DYNAMIC_DEFAULT_BROKER_CONFIG": ConfigSource.BROKER,
    "STATIC_BROKER_CONFIG": ConfigSource.BROKER,
    "DEFAULT_CONFIG": ConfigSource.DEFAULT,
}

# librdkafka / Kafka error names, grouped by what the user must do about them.
_UNREACHABLE = {"_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_RESOLVE", "REQUEST_TIMED_OUT"}
_AUTHENTICATION = {"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL"}
_AUTHORIZATION = {
    "TOPIC_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
}

_PERMISSION_HINTS = {
    "describe": "kafkaplan needs DESCRIBE on the topics and DESCRIBE_CONFIGS to read them",
    "describe_configs": "grant DESCRIBE_CONFIGS on the managed topics",
    "create_topics": "grant CREATE on the cluster or on the topics' prefix",
    "alter_configs": "grant ALTER_CONFIGS on the managed topics",
    "create_partitions": "grant ALTER on the managed topics",
    "delete_topics": "grant DELETE on the owned topics",
    "list_offsets": "grant DESCRIBE on the owned topics",
    "reassign": "grant ALTER on the cluster (partition reassignments need it)",
    "describe_cluster": "grant DESCRIBE on the cluster",
    "alter_broker_configs": "grant ALTER_CONFIGS on the cluster (replication throttles)",
    "elect_leaders": "grant ALTER on the cluster (leader elections need it)",
}


def _source_name(raw: Any) -> str:
    from confluent_kafka.admin import ConfigSource as KafkaConfigSource

    try:
        return KafkaConfigSource(raw).name
    except ValueError:
        return "UNKNOWN"


def _source(raw: Any) -> ConfigSource:
    """DescribeConfigs' source, which confluent-kafka reports as a plain int or an enum."""
    return _source_table().get(raw, ConfigSource.UNKNOWN)


@functools.cache
def _source_table() -> dict[Any, ConfigSource]:
    """confluent-kafka's config sources (as ints and as enum members) -> ours."""
    from confluent_kafka.admin import ConfigSource as KafkaConfigSource

    table: dict[Any, ConfigSource] = {}
    for member in KafkaConfigSource:
        ours = _SOURCES.get(member.name, ConfigSource.UNKNOWN)
        table[member] = table[member.value] = ours
    return table


def translate(error: Any, *, resource: str | None, operation: str) -> ClusterError:
    """Turn a confluent-kafka exception or KafkaError into our typed error."""
    kafka_error = error.args[0] if getattr(error, "args", None) else error
    name = kafka_error.name() if hasattr(kafka_error, "name") else type(error).__name__
    reason = kafka_error.str() if hasattr(kafka_error, "str") else str(error)
    if name in _AUTHORIZATION:
        return PermissionDenied(
            f"permission denied ({name}): {reason}",
            resource=resource,
            hint=_PERMISSION_HINTS.get(operation),
        )
    if name in _AUTHENTICATION:
        return AuthenticationFailed(
            f"authentication failed: {reason}",
            resource=resource,
            hint="check the SASL username and the password environment variable",
        )
    if name in _UNREACHABLE:
        return ClusterUnreachable(f"broker did not answer ({name}): {reason}", resource=resource)
    return ClusterError(f"{reason} ({name})", resource=resource)


def client_config(connection: KafkaConnection, environ: Mapping[str, str]) -> dict[str, Any]:
    """librdkafka settings for a connection; secrets are read from the environment here."""
    for attribute in ("bootstrap_servers", "sasl_username"):
        value = getattr(connection, attribute)
        missing = unresolved_env(value) if isinstance(value, str) else None
        if missing:
            raise ProjectError(
                f"kafka.{attribute} refers to environment variable {missing}, which is not set",
                hint=f"export {missing}",
            )
    config: dict[str, Any] = {
        "bootstrap.servers": connection.bootstrap_servers,
        "security.protocol": connection.security_protocol,
        "client.id": "kafkaplan",
        "socket.timeout.ms": int(connection.timeout_seconds() * 1000),
    }
    if connection.security_protocol.startswith("SASL"):
        if connection.sasl_mechanism is None:
            raise ProjectError(
                f"security_protocol {connection.security_protocol} needs sasl_mechanism",
                hint="set kafka.sasl_mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)",
            )
        config["sasl.mechanism"] = connection.sasl_mechanism
        if connection.sasl_mechanism != "OAUTHBEARER":
            config["sasl.username"] = connection.sasl_username or ""
            config["sasl.password"] = _secret(
                connection.sasl_password_env, environ, "SASL password"
            )
    if connection.ssl_ca_location:
        config["ssl.ca.location"] = connection.ssl_ca_location
    if connection.ssl_certificate_location:
        config["ssl.certificate.location"] = connection.ssl_certificate_location
    if connection.ssl_key_location:
        config["ssl.key.location"] = connection.ssl_key_location
    if connection.ssl_key_password_env:
        config["ssl.key.password"] = _secret(
            connection.ssl_key_password_env, environ, "key password"
        )
    return config


def kafka_python_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The same connection for kafka-python's admin client (used for the calls
    confluent-kafka lacks: partition reassignments)."""
    converted: dict[str, Any] = {
        "bootstrap_servers": str(config["bootstrap.servers"]).split(","),
        "security_protocol": config["security.protocol"],
        "client_id": config.get("client.id", "kafkaplan"),
        "request_timeout_ms": int(config.get("socket.timeout.ms", 30000)),
    }
    renames = {
        "sasl.mechanism": "sasl_mechanism",
        "sasl.username": "sasl_plain_username",
        "sasl.password": "sasl_plain_password",
        "ssl.ca.location": "ssl_cafile",
        "ssl.certificate.location": "ssl_certfile",
        "ssl.key.location": "ssl_keyfile",
        "ssl.key.password": "ssl_password",
    }
    converted.update({new: config[old] for old, new in renames.items() if old in config})
    return converted


def translate_kafka_python(
    error: BaseException, *, resource: str | None, operation: str
) -> ClusterError:
    """Turn a kafka-python exception into our typed error."""
    from kafka import errors as kafka_errors

    name = str(getattr(error, "message", "") or type(error).__name__)
    description = str(getattr(error, "description", "") or error or name)
    if name in _AUTHORIZATION:
        return PermissionDenied(
            f"permission denied ({name}): {description}",
            resource=resource,
            hint=_PERMISSION_HINTS.get(operation),
        )
    if name in _AUTHENTICATION:
        return AuthenticationFailed(
            f"authentication failed: {description}",
            resource=resource,
            hint="check the SASL username and the password environment variable",
        )
    if isinstance(error, kafka_errors.KafkaConnectionError | kafka_errors.KafkaTimeoutError):
        return ClusterUnreachable(f"broker did not answer: {error}", resource=resource)
    return ClusterError(f"{description} ({name})", resource=resource)


def _secret(variable: str | None, environ: Mapping[str, str], what: str) -> str:
    if not variable:
        raise ProjectError(
            f"no {what} configured", hint=f"name the environment variable holding the {what}"
        )
    value = environ.get(variable)
    if value is None:
        raise ProjectError(
            f"the {what} comes from environment variable {variable}, which is not set",
            hint=f"export {variable}",
        )
    return value


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class KafkaCluster:
    """``Cluster`` over confluent-kafka's AdminClient."""

    def __init__(
        self,
        connection: KafkaConnection,
        environ: Mapping[str, str],
        *,
        read_only: bool = False,
        admin_factory: Callable[[dict[str, Any]], Any] | None = None,
    ):
        from confluent_kafka.admin import AdminClient

        self.read_only = read_only
        self.timeout = connection.timeout_seconds()
        self.expected_cluster_id = connection.expected_cluster_id
        self._errors: list[Any] = []
        self._lock = threading.Lock()
        config = client_config(connection, environ)
        self._reassignment_config = kafka_python_config(config)
        self._reassignment_admin: Any = None
        config["error_cb"] = self._on_error
        config["logger"] = logging.getLogger("kafkaplan.librdkafka")
        self._admin = (admin_factory or AdminClient)(config)

    def _on_error(self, error: Any) -> None:
        with self._lock:
            self._errors.append(error)

    def _fatal_client_error(self) -> ClusterError | None:
        with self._lock:
            errors = list(self._errors)
        for error in errors:
            if error.name() in _AUTHENTICATION:
                return translate(error, resource="kafka", operation="describe")
        return None

    def _guard_writes(self, operation: str) -> None:
        if self.read_only:
            raise ClusterError(f"{operation} refused: this client is read-only")

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + self.timeout
        racks_future: Future[Any] | None = None
        while True:
            remaining = deadline - time.monotonic()
            try:
                metadata = self._admin.list_topics(timeout=max(0.1, min(1.0, remaining)))
                break
            except KafkaException as exc:
                self._admin.poll(0)
                fatal = self._fatal_client_error()
                if fatal is not None:
                    raise fatal from exc
                if time.monotonic() >= deadline:
                    error = translate(exc, resource="kafka", operation="describe")
                    if isinstance(error, ClusterUnreachable):
                        raise ClusterUnreachable(
                            f"no broker answered within {self.timeout:g}s",
                            resource="kafka",
                            hint="check bootstrap_servers and that the cluster is up",
                        ) from exc
                    raise error from exc
        cluster_id = metadata.cluster_id
        if self.expected_cluster_id and cluster_id != self.expected_cluster_id:
            raise ProjectError(
                f"connected to cluster {cluster_id}, but this environment expects "
                f"{self.expected_cluster_id}",
                hint="check bootstrap_servers and expected_cluster_id",
            )
        # Racks come from DescribeCluster, sent while the metadata is turned into our types.
        racks_future = self._admin.describe_cluster(
            include_authorized_operations=False, request_timeout=self.timeout
        )
        topics: dict[str, TopicMetadata] = {}
        for name, topic in metadata.topics.items():
            if topic.error is not None:
                raise translate(topic.error, resource=f"topic.{name}", operation="describe")
            partitions = topic.partitions
            ordered = [partitions[p] for p in sorted(partitions)]
            replicas = tuple(tuple(p.replicas) for p in ordered)
            replication = max((len(r) for r in replicas), default=0)
            topics[name] = TopicMetadata(
                name, len(partitions), replication, replicas, tuple(p.leader for p in ordered)
            )
        try:
            described = racks_future.result()
        except KafkaException as exc:
            raise translate(exc, resource="kafka", operation="describe_cluster") from exc
        racks = {node.id: node.rack for node in described.nodes}
        return ClusterInfo(cluster_id, len(metadata.brokers), racks), topics

    def describe_topic_configs(self, names: Sequence[str]) -> dict[str, dict[str, LiveConfig]]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import ConfigResource, ResourceType

        # Every chunk is sent before any answer is awaited; answers are converted in order
        # and the client's own objects dropped as soon as they are.
        pending: deque[tuple[str, Future[Any]]] = deque()
        for chunk in _chunks(sorted(names), DESCRIBE_CHUNK):
            resources = [ConfigResource(ResourceType.TOPIC, name) for name in chunk]
            submitted = self._admin.describe_configs(resources, request_timeout=self.timeout)
            pending.extend((resource.name, future) for resource, future in submitted.items())
        sources = _source_table()
        # Most configs of most topics are the same broker defaults: equal (value, source,
        # sensitive) entries share one immutable LiveConfig instead of one object each.
        shared: dict[tuple[Any, Any, Any], LiveConfig] = {}
        result: dict[str, dict[str, LiveConfig]] = {}
        while pending:
            name, future = pending.popleft()
            try:
                entries = future.result()
            except KafkaException as exc:
                raise translate(
                    exc, resource=f"topic.{name}", operation="describe_configs"
                ) from exc
            configs: dict[str, LiveConfig] = {}
            for key, entry in entries.items():
                triple = (entry.value, entry.source, entry.is_sensitive)
                live = shared.get(triple)
                if live is None:
                    live = shared[triple] = LiveConfig(
                        value=entry.value,
                        source=sources.get(entry.source, ConfigSource.UNKNOWN),
                        sensitive=bool(entry.is_sensitive),
                    )
                configs[key] = live
            result[name] = configs
        return result

    def _collect(self, futures: Mapping[str, Future[Any]], operation: str) -> Results:
        from confluent_kafka import KafkaException

        results: Results = {}
        for name, future in futures.items():
            try:
                future.result()
                results[name] = None
            except KafkaException as exc:
                results[name] = translate(exc, resource=f"topic.{name}", operation=operation)
        return results

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results:
        from confluent_kafka.admin import NewTopic

        if not validate_only:
            self._guard_writes("create topics")
        if not topics:
            return {}
        requests = [
            NewTopic(t.name, t.partitions, t.replication_factor, config=dict(t.configs))
            for t in topics
        ]
        futures = self._admin.create_topics(
            requests,
            validate_only=validate_only,
            request_timeout=self.timeout,
            operation_timeout=self.timeout,
        )
        return self._collect(futures, "create_topics")

    def alter_topic_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> Results:
        from confluent_kafka.admin import (
            AlterConfigOpType,
            ConfigEntry,
            ConfigResource,
            ResourceType,
        )

        self._guard_writes("alter configs")
        if not changes:
            return {}
        resources = [
            ConfigResource(
                ResourceType.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(
                        key,
                        value,
                        incremental_operation=AlterConfigOpType.DELETE
                        if value is None
                        else AlterConfigOpType.SET,
                    )
                    for key, value in sorted(configs.items())
                ],
            )
            for name, configs in sorted(changes.items())
        ]
        submitted = self._admin.incremental_alter_configs(resources, request_timeout=self.timeout)
        return self._collect(
            {resource.name: future for resource, future in submitted.items()}, "alter_configs"
        )

    def create_partitions(self, totals: Mapping[str, int]) -> Results:
        from confluent_kafka.admin import NewPartitions

        self._guard_writes("create partitions")
        if not totals:
            return {}
        futures = self._admin.create_partitions(
            [NewPartitions(name, count) for name, count in sorted(totals.items())],
            request_timeout=self.timeout,
            operation_timeout=self.timeout,
        )
        return self._collect(futures, "create_partitions")

    def delete_topics(self, names: Sequence[str]) -> Results:
        self._guard_writes("delete topics")
        if not names:
            return {}
        futures = self._admin.delete_topics(
            list(names), request_timeout=self.timeout, operation_timeout=self.timeout
        )
        return self._collect(futures, "delete_topics")

    def topic_message_counts(self, partitions: Mapping[str, int]) -> dict[str, int]:
        from confluent_kafka import KafkaException, TopicPartition
        from confluent_kafka.admin import OffsetSpec

        if not partitions:
            return {}
        wanted = [TopicPartition(t, p) for t, count in partitions.items() for p in range(count)]
        bounds: dict[str, dict[tuple[str, int], int]] = {}
        earliest, latest = OffsetSpec.earliest(), OffsetSpec.latest()  # type: ignore[no-untyped-call]
        for label, spec in (("start", earliest), ("end", latest)):
            futures = self._admin.list_offsets(
                dict.fromkeys(wanted, spec), request_timeout=self.timeout
            )
            bounds[label] = {}
            for tp, future in futures.items():
                try:
                    bounds[label][(tp.topic, tp.partition)] = future.result().offset
                except KafkaException as exc:
                    raise translate(
                        exc, resource=f"topic.{tp.topic}", operation="list_offsets"
                    ) from exc
        counts = dict.fromkeys(partitions, 0)
        for key, end in bounds["end"].items():
            counts[key[0]] += max(0, end - bounds["start"].get(key, 0))
        return counts

    # -- partition reassignments (kafka-python: confluent-kafka has no such calls) --------

    def _reassigner(self) -> Any:
        if self._reassignment_admin is None:
            from kafka.admin import KafkaAdminClient

            try:
                self._reassignment_admin = KafkaAdminClient(**self._reassignment_config)
            except Exception as exc:
                raise translate_kafka_python(exc, resource="kafka", operation="reassign") from exc
        return self._reassignment_admin

    def list_reassignments(self) -> dict[Partition, PartitionReassignment]:
        try:
            listed = self._reassigner().list_partition_reassignments(
                timeout_ms=int(self.timeout * 1000)
            )
        except ClusterError:
            raise
        except Exception as exc:
            raise translate_kafka_python(exc, resource="kafka", operation="reassign") from exc
        return {
            (tp.topic, tp.partition): PartitionReassignment(
                topic=tp.topic,
                partition=tp.partition,
                replicas=tuple(state["replicas"]),
                adding=tuple(state["adding_replicas"]),
                removing=tuple(state["removing_replicas"]),
            )
            for tp, state in listed.items()
        }

    def alter_reassignments(self, targets: Mapping[Partition, Sequence[int]]) -> PartitionResults:
        from kafka import TopicPartition as KafkaTopicPartition

        self._guard_writes("reassign partitions")
        if not targets:
            return {}
        request = {
            KafkaTopicPartition(topic, partition): list(replicas)
            for (topic, partition), replicas in sorted(targets.items())
        }
        try:
            answered = self._reassigner().alter_partition_reassignments(
                request, timeout_ms=int(self.timeout * 1000)
            )
        except ClusterError:
            raise
        except Exception as exc:
            raise translate_kafka_python(exc, resource="kafka", operation="reassign") from exc
        results: PartitionResults = {}
        for key in targets:
            error = answered.get(KafkaTopicPartition(*key), "missing")
            if error is None:
                results[key] = None
            elif error == "missing":
                results[key] = ClusterError(
                    "the controller did not answer for this partition", resource=f"topic.{key[0]}"
                )
            else:
                results[key] = translate_kafka_python(
                    error() if isinstance(error, type) else error,
                    resource=f"topic.{key[0]}",
                    operation="reassign",
                )
        return results

    def describe_broker_throttles(self, brokers: Sequence[int]) -> dict[int, dict[str, str]]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import ConfigResource, ResourceType

        if not brokers:
            return {}
        # librdkafka takes one BROKER resource per request: one request per broker, all
        # sent before any answer is awaited.
        submitted: dict[Any, Future[Any]] = {}
        for broker in sorted(brokers):
            resource = ConfigResource(ResourceType.BROKER, str(broker))
            submitted.update(self._admin.describe_configs([resource], request_timeout=self.timeout))
        result: dict[int, dict[str, str]] = {}
        for resource, future in submitted.items():
            try:
                entries = future.result()
            except KafkaException as exc:
                raise translate(
                    exc, resource=f"broker.{resource.name}", operation="describe_configs"
                ) from exc
            result[int(resource.name)] = {
                key: entry.value
                for key in BROKER_THROTTLE_CONFIGS
                if (entry := entries.get(key)) is not None
                and _source_name(entry.source) == "DYNAMIC_BROKER_CONFIG"
            }
        return result

    def alter_broker_configs(self, changes: Mapping[int, Mapping[str, str | None]]) -> Results:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import (
            AlterConfigOpType,
            ConfigEntry,
            ConfigResource,
            ResourceType,
        )

        self._guard_writes("alter broker configs")
        if not changes:
            return {}
        resources = [
            ConfigResource(
                ResourceType.BROKER,
                str(broker),
                incremental_configs=[
                    ConfigEntry(
                        key,
                        value,
                        incremental_operation=AlterConfigOpType.DELETE
                        if value is None
                        else AlterConfigOpType.SET,
                    )
                    for key, value in sorted(configs.items())
                ],
            )
            for broker, configs in sorted(changes.items())
        ]
        # One BROKER resource per request (a librdkafka rule), all sent at once.
        submitted: dict[Any, Future[Any]] = {}
        for resource in resources:
            submitted.update(
                self._admin.incremental_alter_configs([resource], request_timeout=self.timeout)
            )
        results: Results = {}
        for resource, future in submitted.items():
            try:
                future.result()
                results[resource.name] = None
            except KafkaException as exc:
                results[resource.name] = translate(
                    exc, resource=f"broker.{resource.name}", operation="alter_broker_configs"
                )
        return results

    def elect_preferred_leaders(self, partitions: Sequence[Partition]) -> PartitionResults:
        from confluent_kafka import ElectionType, KafkaException, TopicPartition

        self._guard_writes("elect leaders")
        if not partitions:
            return {}
        # No timeouts passed: confluent-kafka 2.16's elect_leaders documents request_timeout
        # and operation_timeout but rejects either ("more argument specifiers than keyword
        # list entries"); the client's socket.timeout.ms bounds the call instead.
        future = self._admin.elect_leaders(
            ElectionType.PREFERRED,
            [TopicPartition(topic, partition) for topic, partition in partitions],
        )
        try:
            answered = future.result()
        except KafkaException as exc:
            error = translate(exc, resource="kafka", operation="elect_leaders")
            return dict.fromkeys(partitions, error)
        results: PartitionResults = {}
        for tp, error in answered.items():
            key = (tp.topic, tp.partition)
            if error is None or error.name() == "ELECTION_NOT_NEEDED":
                results[key] = None
            else:
                results[key] = translate(
                    error, resource=f"topic.{tp.topic}", operation="elect_leaders"
                )
        return results

    def close(self) -> None:
        # AdminClient has no close(); dropping the reference ends its threads.
        self._admin = None
        if self._reassignment_admin is not None:
            self._reassignment_admin.close()
            self._reassignment_admin = None
