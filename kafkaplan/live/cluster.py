"""A narrow, typed interface over the Kafka admin API, and its confluent-kafka implementation.

Everything kafkaplan does to a cluster goes through ``Cluster``. Calls are batched: one
metadata request for all topics, one describe-configs submission for all managed topics
(chunked), one create-topics request for every new topic. Results come back as our own
types; broker errors become ``ClusterError`` subclasses carrying the resource and the
broker's reason. The unit tests use an in-memory implementation of the same protocol.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from msgspec import Struct, field

from kafkaplan.errors import (
    AuthenticationFailed,
    ClusterError,
    ClusterNotReached,
    ClusterTransient,
    ClusterUnreachable,
    PermissionDenied,
    ProjectError,
)
from kafkaplan.live.connection import (
    check_token_endpoint,
    interruptible,
    kafka_python_config,
    librdkafka_config,
    make_client,
    oauth_failure,
    tls_failure,
)
from kafkaplan.live.features import BrokerFeatures
from kafkaplan.live.state import (
    BROKER_THROTTLE_CONFIGS,
    ConfigSource,
    LiveConfig,
    LiveGroup,
    PartitionReassignment,
)
from kafkaplan.spec.acls import Binding, ResourceType, parse_operation, parse_resource_type
from kafkaplan.spec.acls import PatternType as AclPatternType
from kafkaplan.spec.acls import Permission as AclPermission
from kafkaplan.spec.project import KafkaConnection
from kafkaplan.spec.quotas import QuotaEntity, quota_address

if TYPE_CHECKING:
    from kafkaplan.live.lease import LeaseLog

log = logging.getLogger("kafkaplan.live.cluster")

DESCRIBE_CHUNK = 500
# Bindings per CreateAcls/DeleteAcls request: KRaft controllers refuse a single operation that
# writes more than 10,000 records.
ACL_CHUNK = 5_000
# How much longer than the request timeout we wait for a future before giving up on it: a
# last guard in case librdkafka never resolves it (it normally times the request out itself).
FUTURE_GRACE_SECONDS = 5.0
# How often a request still waiting checks whether the client has failed meanwhile.
FATAL_CHECK_SECONDS = 0.25


class ClusterInfo(Struct, frozen=True):
    cluster_id: str | None
    broker_count: int
    # Broker id -> rack (None: no rack), from DescribeCluster.
    racks: Mapping[int, str | None] = field(default_factory=dict)


class TopicMetadata(Struct, frozen=True):
    name: str
    partitions: int
    replication_factor: int
    # Per partition id: replicas (preferred leader first) and the current leader.
    replicas: tuple[tuple[int, ...], ...] = ()
    leaders: tuple[int, ...] = ()
    # Partition ids with a replica outside the in-sync set. A reassignment in progress
    # always has one (the controller completes it once every target replica is in sync).
    out_of_sync: tuple[int, ...] = ()


class NewTopicRequest(Struct, frozen=True):
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


class GroupMember(Struct, frozen=True):
    """A live member of a consumer group, and the partitions assigned to it."""

    member_id: str
    client_id: str
    host: str
    assigned: tuple[tuple[str, int], ...] = ()


class ConsumerGroup(Struct, frozen=True):
    """A consumer group as DescribeGroups reports it."""

    group_id: str
    # Kafka's group state: STABLE, EMPTY, PREPARING_REBALANCE, DEAD, ...
    state: str
    members: tuple[GroupMember, ...] = ()


@dataclasses.dataclass(frozen=True)
class ScramChange:
    """One user's SCRAM credential changes: ``upserts`` (mechanism -> iterations) set with
    ``password``, ``deletions`` removed. The password is never shown (``repr``)."""

    upserts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    deletions: tuple[str, ...] = ()
    password: str = dataclasses.field(default="", repr=False, compare=False)

    def alterations(self) -> list[tuple[str, int | None]]:
        """(mechanism, iterations) per upsert, (mechanism, None) per deletion."""
        return [*sorted(self.upserts.items()), *((m, None) for m in sorted(self.deletions))]


# Where ListOffsets looks: the log start, the log end, or (an int) a timestamp in ms.
OffsetQuery = Literal["earliest", "latest"] | int

# Groups per DescribeGroups request (the broker answers each coordinator's share at once).
GROUP_BATCH = 500

# Per resource name: None when the operation succeeded, else the error.
Results = dict[str, ClusterError | None]
# Per binding: None when it was created (or deleted), else the error.
AclResults = dict[Binding, ClusterError | None]
# The same per (topic, partition).
Partition = tuple[str, int]
PartitionResults = dict[Partition, ClusterError | None]
# The same per client quota entity; and each entity's quota keys (None: remove the key).
QuotaResults = dict[QuotaEntity, ClusterError | None]
QuotaChanges = Mapping[QuotaEntity, Mapping[str, float | None]]


class Cluster(Protocol):
    def identify(self) -> str | None:
        """The cluster's id, checked against the environment's ``expected_cluster_id``
        (``ProjectError`` when it is another cluster). One small request, made once per
        client; nothing else is read or written by it."""
        ...

    def lease_log(self, topic: str) -> LeaseLog:
        """The apply lease's log (``kafkaplan.live.lease``) on this cluster, handed out only
        once ``identify`` has vouched for the cluster, so that no lease is read or written
        on a cluster this environment does not expect. A read-only client's log refuses
        writes."""
        ...

    def unreached(self, failure: ClusterError) -> ClusterNotReached | None:
        """For a read that timed out (``failure``) while no broker had answered this client
        yet: the error saying so, which ends the read instead of another try (a wrong
        address or a cluster that is down: see ``kafkaplan.live.retry``). None otherwise."""
        ...

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        """Cluster id, broker count and every topic's partitions, in one metadata request
        (also checked against ``expected_cluster_id``)."""
        ...

    def describe_topic_configs(
        self, names: Sequence[str], keys: Collection[str] | None = None
    ) -> dict[str, dict[str, LiveConfig] | ClusterError]:
        """Every config of each topic (with ``keys``: only those keys and the topic's own
        overrides), or the error that kept it from being read."""
        ...

    def topics_exist(self, names: Sequence[str]) -> dict[str, bool]:
        """Whether each named topic exists, asked of those topics alone (not the whole
        metadata). Raises when the cluster does not say, for a topic the principal may not
        describe, say."""
        ...

    def probe_topics(self, names: Sequence[str]) -> dict[str, ClusterError | None]:
        """For topics absent from the metadata: None if they do not exist, or the error
        (e.g. permission denied) that hides them."""
        ...

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results: ...

    def alter_topic_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        """Incremental: set each given key, delete the override of each key mapped to None.
        With ``validate_only`` the broker checks the request and changes nothing."""
        ...

    def create_partitions(
        self, totals: Mapping[str, int], *, validate_only: bool = False
    ) -> Results: ...

    def delete_topics(self, names: Sequence[str]) -> Results: ...

    def topic_message_counts(self, partitions: Mapping[str, int]) -> dict[str, int]:
        """Per topic (name -> partition count): messages held, end minus start offsets."""
        ...

    def list_consumer_groups(self) -> list[str]:
        """The ids of every consumer group the principal may describe, in one request."""
        ...

    def describe_consumer_groups(self, group_ids: Sequence[str]) -> dict[str, ConsumerGroup]:
        """Each group's state and live members (groups that do not exist are DEAD or absent)."""
        ...

    def list_group_offsets(self, group_ids: Sequence[str]) -> dict[str, dict[Partition, int]]:
        """Each group's committed offsets, by partition (groups without any: empty)."""
        ...

    def list_offsets(
        self, partitions: Sequence[Partition], query: OffsetQuery
    ) -> dict[Partition, int]:
        """Per partition: its log start (``earliest``), its log end (``latest``), or, for a
        timestamp in ms, the offset of the first record written at or after it (-1: none)."""
        ...

    def describe_log_dirs(self, partitions: Sequence[Partition]) -> dict[Partition, dict[int, int]]:
        """Per partition: the bytes on disk of each replica that holds it, by broker id
        (DescribeLogDirs, one request per broker). Partitions no broker holds are absent."""
        ...

    def describe_acls(self) -> tuple[list[Binding], list[str]]:
        """Every ACL binding, in one request; and a description of each binding this client
        cannot represent (resource types or operations it does not know)."""
        ...

    def acls_exist(self, bindings: Sequence[Binding]) -> dict[Binding, bool]:
        """Whether each binding exists, asked with an exact filter per binding (one small
        DescribeAcls each, sent at once) instead of reading every binding. Only for bindings
        this client can represent (``acl_unsupported`` is None)."""
        ...

    def create_acls(self, bindings: Sequence[Binding]) -> AclResults: ...

    def delete_acls(self, bindings: Sequence[Binding]) -> AclResults:
        """Delete exactly these bindings (exact-match filters, never patterns)."""
        ...

    def acl_unsupported(self, binding: Binding) -> str | None:
        """Why this client cannot create or delete ``binding``, or None if it can."""
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

    def describe_user_scram_credentials(self) -> dict[str, dict[str, int]]:
        """Every SCRAM user, in one request: name -> mechanism -> iterations (Kafka never
        reveals anything of the password)."""
        ...

    def alter_user_scram_credentials(self, changes: Mapping[str, ScramChange]) -> Results:
        """Upsert and delete SCRAM credentials, per user name (the salted password is
        computed by the client from the password)."""
        ...

    def describe_features(self) -> BrokerFeatures:
        """The features a broker's software supports and the cluster's finalized levels,
        in one ApiVersions request (``kafkaplan.live.features``)."""
        ...

    def describe_group_configs(
        self, group_ids: Sequence[str]
    ) -> dict[str, LiveGroup | ClusterError]:
        """Every config of each group (the GROUP config resource), in one request, or the
        error that kept it from being read."""
        ...

    def list_group_config_ids(self) -> list[str]:
        """The ids of the groups that have configs of their own (ListConfigResources, Kafka
        4.1+), or, on a broker without that request, of every group it lists."""
        ...

    def alter_group_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        """Incremental, per group id: set each given key, delete the group's own value of
        each key mapped to None. With ``validate_only`` the broker only checks."""
        ...

    def describe_quotas(self) -> dict[QuotaEntity, dict[str, float]]:
        """Every client quota entity with its keys and values, in one request."""
        ...

    def alter_quotas(self, changes: QuotaChanges, *, validate_only: bool = False) -> QuotaResults:
        """Set each given key of each entity, remove each key mapped to None, in one
        request; with ``validate_only`` the broker checks it and changes nothing."""
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
# Errors after which a request may or may not have taken effect, or a leader/controller is
# moving: safe to re-check and retry. Everything else (policy violations, invalid configs,
# authorization, "already exists") is final and never retried.
_TRANSIENT = {
    "_MSG_TIMED_OUT",
    "_WAIT_COORD",
    "NETWORK_EXCEPTION",
    "NOT_CONTROLLER",
    "LEADER_NOT_AVAILABLE",
    "NOT_LEADER_OR_FOLLOWER",
    # librdkafka's name for error 6 (Kafka renamed it NOT_LEADER_OR_FOLLOWER in 2.x).
    "NOT_LEADER_FOR_PARTITION",
    "COORDINATOR_NOT_AVAILABLE",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "THROTTLING_QUOTA_EXCEEDED",
}
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
    "describe_acls": "kafkaplan needs DESCRIBE on the cluster to read ACLs",
    "create_acls": "kafkaplan needs ALTER on the cluster to change ACLs",
    "delete_acls": "kafkaplan needs ALTER on the cluster to change ACLs",
    "lease_create": "apply needs CREATE on the lease topic (see docs/permissions.md)",
    "lease_read": "apply and unlock need DESCRIBE and READ on the lease topic "
    "(see docs/permissions.md)",
    "lease_write": "apply and unlock need WRITE on the lease topic (see docs/permissions.md)",
    "reassign": "grant ALTER on the cluster (partition reassignments need it)",
    "describe_cluster": "grant DESCRIBE on the cluster",
    "alter_broker_configs": "grant ALTER_CONFIGS on the cluster (replication throttles)",
    "describe_group_configs": "grant DESCRIBE_CONFIGS on the managed groups",
    "alter_group_configs": "grant ALTER_CONFIGS on the managed groups",
    "elect_leaders": "grant ALTER on the cluster (leader elections need it)",
    "describe_scram": "grant DESCRIBE on the cluster (DescribeUserScramCredentials needs it)",
    "alter_scram": "grant ALTER on the cluster (AlterUserScramCredentials needs it)",
    "describe_quotas": "grant DESCRIBE_CONFIGS on the cluster: reading client quotas needs it",
    "alter_quotas": "grant ALTER_CONFIGS on the cluster: changing client quotas needs it",
}

# What was refused, per operation, for a permission error. The broker's own text for an
# authorization failure adds nothing to its code ("Broker: Topic authorization failed"), and
# for a request the broker forwards to the KRaft controller (CreateAcls, DeleteAcls) it is a
# dump of the Java request object; it is only logged, for --debug.
_REFUSED = {
    "describe": "reading topic metadata",
    "describe_configs": "reading the topic's configs",
    "create_topics": "creating the topic",
    "alter_configs": "changing the topic's configs",
    "create_partitions": "adding partitions",
    "delete_topics": "deleting the topic",
    "list_offsets": "reading the topic's offsets",
    "describe_acls": "reading ACLs",
    "create_acls": "creating the ACL binding",
    "delete_acls": "deleting the ACL binding",
    "lease_create": "creating the lease topic",
    "lease_read": "reading the lease topic",
    "lease_write": "writing to the lease topic",
    "reassign": "reassigning partitions",
    "describe_cluster": "describing the cluster",
    "alter_broker_configs": "changing broker configs",
    "describe_group_configs": "reading the group's configs",
    "alter_group_configs": "changing the group's configs",
    "elect_leaders": "electing leaders",
    "describe_scram": "reading SCRAM users",
    "alter_scram": "changing the SCRAM user",
    "describe_quotas": "reading client quotas",
    "alter_quotas": "changing client quotas",
}


def _permission_denied(
    name: str, reason: str, *, resource: str | None, operation: str
) -> PermissionDenied:
    """A permission error naming what was refused and, in its hint, the missing permission."""
    log.debug("%s refused %s (%s): %s", resource or "the cluster", operation, name, reason)
    refused = _REFUSED.get(operation)
    return PermissionDenied(
        f"permission denied ({name})" + (f" {refused}" if refused else ""),
        resource=resource,
        hint=_PERMISSION_HINTS.get(operation),
        code=name,
    )


def _source_name(raw: Any) -> str:
    from confluent_kafka.admin import ConfigSource as KafkaConfigSource

    try:
        return KafkaConfigSource(raw).name
    except ValueError:
        return "UNKNOWN"


@functools.cache
def _source_table() -> dict[Any, ConfigSource]:
    """confluent-kafka's config sources (as ints and as enum members) -> ours."""
    from confluent_kafka.admin import ConfigSource as KafkaConfigSource

    table: dict[Any, ConfigSource] = {}
    for member in KafkaConfigSource:
        ours = _SOURCES.get(member.name, ConfigSource.UNKNOWN)
        table[member] = table[member.value] = ours
    return table


def _incremental(resource_type: Any, name: str, configs: Mapping[str, str | None]) -> Any:
    """An incremental alter-configs resource: set each value, delete the key mapped to None."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    return ConfigResource(
        resource_type,
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


def translate(
    error: Any,
    *,
    resource: str | None,
    operation: str,
    connection: KafkaConnection | None = None,
) -> ClusterError:
    """Turn a confluent-kafka exception or KafkaError into our typed error."""
    kafka_error = error.args[0] if getattr(error, "args", None) else error
    name = kafka_error.name() if hasattr(kafka_error, "name") else type(error).__name__
    reason = kafka_error.str() if hasattr(kafka_error, "str") else str(error)
    if name in _AUTHORIZATION:
        return _permission_denied(name, reason, resource=resource, operation=operation)
    refused = tls_failure(name, reason) or oauth_failure(name, reason, connection)
    if refused is not None:
        return AuthenticationFailed(refused[0], resource=resource, hint=refused[1], code=name)
    if name in _AUTHENTICATION:
        return AuthenticationFailed(
            f"authentication failed: {reason}",
            resource=resource,
            hint="check the SASL username and the password environment variable",
            code=name,
        )
    if name in _UNREACHABLE:
        return ClusterUnreachable(
            f"broker did not answer ({name}): {reason}", resource=resource, code=name
        )
    if name in _TRANSIENT:
        return ClusterTransient(f"{reason} ({name})", resource=resource, code=name)
    return ClusterError(f"{reason} ({name})", resource=resource, code=name)


_RESPONSE_SIZE = re.compile(r"Invalid response size (\d+)")
# librdkafka's " (after 12ms in state CONNECT)" at the end of a connection error.
_STATE_SUFFIX = re.compile(r" \(after \d+ms in state \w+\)$")


def silence_reason(reported: Sequence[tuple[str, str]]) -> tuple[str | None, str]:
    """Why no broker answered, as far as the client said (its error callback's (name,
    reason) pairs, oldest first): the last reason it gave, and the hint that fits it."""
    said = [(name, reason) for name, reason in reported if name != "_ALL_BROKERS_DOWN"]
    if not said:
        if reported:
            # Connections taken and then dropped without a word: what a listener does to a
            # client that speaks another protocol (PLAINTEXT to a SASL listener, say).
            return None, (
                "check bootstrap_servers, that the cluster is up, and that security_protocol "
                "and sasl_mechanism match the broker's listener"
            )
        return None, "check bootstrap_servers and that the cluster is up"
    name, reason = said[-1]
    reason = _STATE_SUFFIX.sub("", reason)
    if name == "_RESOLVE":
        return reason, "check the host names in bootstrap_servers"
    if name == "_BAD_MSG":
        size = _RESPONSE_SIZE.search(reason)
        if size is not None and int(size[1]) < 2**32:
            # The first four bytes of the answer, read as a Kafka response's length.
            head = int(size[1]).to_bytes(4, "big")
            if head.isascii() and head.decode().isprintable():
                reason = f"{reason.partition(': ')[0]}: the answer began with {head.decode()!r}"
        return reason, (
            "something answers at that address, but not as a Kafka broker does: check the "
            "port in bootstrap_servers"
        )
    return reason, "check bootstrap_servers and that the cluster is up"


def check_cluster_id(cluster_id: str | None, expected: str | None) -> None:
    """Refuse a cluster that is not the one the environment expects."""
    if expected and cluster_id != expected:
        raise ProjectError(
            f"connected to cluster {cluster_id}, but this environment expects {expected}",
            hint="check bootstrap_servers and expected_cluster_id",
        )


def client_config(connection: KafkaConnection, environ: Mapping[str, str]) -> dict[str, Any]:
    """librdkafka settings for a connection (see kafkaplan.live.connection)."""
    return librdkafka_config(connection, environ)


# kafka-python is imported on first use, from whichever read thread needs it first; two
# threads importing its package tree at once can deadlock in the import system, so every
# use imports it through this lock first.
_KAFKA_PYTHON_LOCK = threading.Lock()


def _kafka_python() -> None:
    with _KAFKA_PYTHON_LOCK:
        # The package imports its admin client, protocol and errors in one go.
        import kafka
        import kafka.protocol.admin.client_quotas  # noqa: F401


def translate_kafka_python(
    error: BaseException, *, resource: str | None, operation: str
) -> ClusterError:
    """Turn a kafka-python exception into our typed error."""
    _kafka_python()
    from kafka import errors as kafka_errors

    name = str(getattr(error, "message", "") or type(error).__name__)
    description = str(getattr(error, "description", "") or error or name)
    if name in _AUTHORIZATION:
        return _permission_denied(name, description, resource=resource, operation=operation)
    if name in _AUTHENTICATION:
        return AuthenticationFailed(
            f"authentication failed: {description}",
            resource=resource,
            hint="check the SASL username and the password environment variable",
        )
    if isinstance(error, kafka_errors.KafkaConnectionError | kafka_errors.KafkaTimeoutError):
        return ClusterUnreachable(f"broker did not answer: {error}", resource=resource)
    return ClusterError(f"{description} ({name})", resource=resource)


def quota_error(
    code: int, message: str | None, *, resource: str, operation: str
) -> ClusterError | None:
    """The typed error of a quota request's error code (None for no error), with the
    broker's reason."""
    _kafka_python()
    from kafka import errors as kafka_errors

    if not code:
        return None
    kind = kafka_errors.for_code(code)
    name = str(getattr(kind, "message", "") or kind.__name__)
    reason = message or str(getattr(kind, "description", "") or name)
    if name in _AUTHORIZATION:
        return _permission_denied(name, reason, resource=resource, operation=operation)
    if getattr(kind, "retriable", False) or name in _TRANSIENT:
        return ClusterTransient(f"{reason} ({name})", resource=resource, code=name)
    hint = (
        "check the quota keys and values against docs/quotas.md"
        if name in ("INVALID_REQUEST", "INVALID_CONFIG", "UNKNOWN_SERVER_ERROR")
        else None
    )
    return ClusterError(f"{reason} ({name})", resource=resource, hint=hint, code=name)


T = TypeVar("T")
E = TypeVar("E", bound=ClusterError)


# The most metadata records a KRaft controller takes from one request (QuorumController's
# MAX_RECORDS_PER_USER_OP is 10,000; kept below it). Past it, it refuses the whole request,
# every topic in it ("Excessively large number of partitions per request").
MAX_RECORDS_PER_REQUEST = 8_000


def _within_records(items: Iterable[T], records: Callable[[T], int]) -> Iterator[list[T]]:
    """``items`` in consecutive requests of at most ``MAX_RECORDS_PER_REQUEST`` records
    (``records`` of each); an item that alone needs more goes in a request of its own, which
    the controller then refuses for that item only."""
    batch: list[T] = []
    used = 0
    for item in items:
        cost = records(item)
        if batch and used + cost > MAX_RECORDS_PER_REQUEST:
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += cost
    if batch:
        yield batch


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
        # Whether any broker has answered this client yet.
        self._reached = False
        self.connection = connection
        self._identified = False
        self._cluster_id: str | None = None
        self._lease_logs: list[LeaseLog] = []
        config = client_config(connection, environ)
        if admin_factory is None:
            check_token_endpoint(connection, config)
        self._environ = environ
        self._client_config = dict(config)
        self._reassignment_admin: Any = None
        # The reads run on several threads, and more than one may want kafka-python first.
        self._reassigner_lock = threading.Lock()
        config["error_cb"] = self._on_error
        config["logger"] = logging.getLogger("kafkaplan.librdkafka")
        self._admin = make_client(admin_factory or AdminClient, config)
        if "oauth_cb" in config:
            # An admin client serves oauth_cb only from poll(): without this it waits in
            # CONNECT for a token that never comes (confluent-kafka-python#1713).
            admin = self._admin
            interruptible(lambda: admin.poll(min(self.timeout, 1.0)))

    def _open_admin(self) -> Any:
        """The admin client; an error once it is closed (while an early read, ``EarlyRead``,
        still waits for an answer)."""
        admin = self._admin
        if admin is None:
            raise ClusterError("the cluster's client was closed", resource="kafka")
        return admin

    def _on_error(self, error: Any) -> None:
        with self._lock:
            self._errors.append(error)

    def _fatal_client_error(self) -> ClusterError | None:
        with self._lock:
            errors = list(self._errors)
        for error in errors:
            refused = tls_failure(error.name(), error.str())
            if error.name() in _AUTHENTICATION or refused is not None:
                return translate(
                    error, resource="kafka", operation="describe", connection=self.connection
                )
        return None

    def _answer(self, future: Future[Any], *, resource: str) -> Any:
        """A request's answer (its KafkaException raised as it is), waiting no longer than
        the timeout plus a grace period; before any broker has answered, no longer at all
        once the client has reported a failed authentication or TLS handshake (the request
        itself would wait out its timeout, and the command with it)."""
        from concurrent.futures import TimeoutError as FutureTimeout

        deadline = time.monotonic() + self.timeout + FUTURE_GRACE_SECONDS
        while True:
            wait = min(FATAL_CHECK_SECONDS, max(0.0, deadline - time.monotonic()))
            try:
                return future.result(timeout=wait)
            except FutureTimeout as exc:
                if not self._reached:
                    # A refused login shows only through the client's error callback,
                    # which poll() serves.
                    interruptible(lambda: self._admin.poll(0))
                    fatal = self._fatal_client_error()
                    if fatal is not None:
                        raise fatal from None
                if time.monotonic() >= deadline:
                    raise ClusterUnreachable(
                        f"no answer within {self.timeout:g}s", resource=resource, code="_TIMED_OUT"
                    ) from exc

    def _guard_writes(self, operation: str) -> None:
        if self.read_only:
            raise ClusterError(f"{operation} refused: this client is read-only")

    def _unanswered(self, exc: Exception, operation: str) -> ClusterError:
        """The error of a request that failed: an authentication failure the client
        reported meanwhile, or the request's own error."""
        interruptible(lambda: self._admin.poll(0))
        fatal = self._fatal_client_error()
        if fatal is not None:
            return fatal
        error = translate(exc, resource="kafka", operation=operation)
        if isinstance(error, ClusterUnreachable):
            return self._no_answer(error.code)
        return error

    def unreached(self, failure: ClusterError) -> ClusterNotReached | None:
        if self._reached or failure.code != "_TIMED_OUT":
            return None
        return self._silence(ClusterNotReached, failure.code)

    def _no_answer(self, code: str | None) -> ClusterError:
        """No broker answered within the timeout. Never reached (a wrong address or a
        cluster that is down): ``ClusterNotReached``, which is not retried, since trying
        again would cost another timeout each time. Once reached, a broker that stops
        answering is transient (a restart): ``ClusterUnreachable``, retried."""
        return self._silence(ClusterUnreachable if self._reached else ClusterNotReached, code)

    def _silence(self, kind: type[E], code: str | None) -> E:
        with self._lock:
            reported = [(error.name(), error.str()) for error in self._errors]
        reason, hint = silence_reason(reported)
        url = self.connection.oauth_token_endpoint_url
        if self.connection.sasl_mechanism == "OAUTHBEARER" and url:
            hint += f", and that the token endpoint {url} answers"
        return kind(
            f"no broker answered within {self.timeout:g}s "
            f"(tried bootstrap_servers {self.connection.bootstrap_servers})"
            + (f"; last reported: {reason}" if reason else ""),
            resource="kafka",
            hint=hint,
            code=code,
        )

    def identify(self) -> str | None:
        from confluent_kafka import KafkaException

        if self._identified:
            return self._cluster_id
        future = self._admin.describe_cluster(
            include_authorized_operations=False, request_timeout=self.timeout
        )
        try:
            described = self._answer(future, resource="kafka")
        except KafkaException as exc:
            raise self._unanswered(exc, "describe_cluster") from exc
        self._reached = True
        check_cluster_id(described.cluster_id, self.expected_cluster_id)
        self._identified, self._cluster_id = True, described.cluster_id
        return self._cluster_id

    def lease_log(self, topic: str) -> LeaseLog:
        from kafkaplan.live.lease import KafkaLeaseLog

        self.identify()
        lease_log = KafkaLeaseLog(
            self._client_config,
            topic,
            timeout=self.timeout,
            create_topic=self._create_lease_topic,
            translate=translate,
            read_only=self.read_only,
        )
        self._lease_logs.append(lease_log)
        return lease_log

    def _create_lease_topic(self, topic: str, configs: Mapping[str, str]) -> None:
        """Create the lease's single-partition topic (already there: fine)."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import NewTopic

        self._guard_writes("create the lease topic")
        futures = self._admin.create_topics(
            [NewTopic(topic, 1, -1, config=dict(configs))],
            request_timeout=self.timeout,
            operation_timeout=self.timeout,
        )
        for future in futures.values():
            try:
                self._answer(future, resource=f"topic.{topic}")
            except KafkaException as exc:
                error = translate(exc, resource=f"topic.{topic}", operation="lease_create")
                if error.code != "TOPIC_ALREADY_EXISTS":
                    raise error from exc

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + self.timeout
        # Racks come from DescribeCluster, sent with the metadata request: the broker answers
        # a connection's requests in order, and sent once the metadata is in, it would wait
        # behind whatever another thread asked meanwhile (the ACLs, the configs).
        racks_future: Future[Any] = self._open_admin().describe_cluster(
            include_authorized_operations=False, request_timeout=self.timeout
        )
        while True:
            admin = self._open_admin()
            remaining = deadline - time.monotonic()
            try:
                metadata = admin.list_topics(timeout=max(0.1, min(1.0, remaining)))
                self._reached = True
                break
            except KafkaException as exc:
                interruptible(functools.partial(admin.poll, 0))
                fatal = self._fatal_client_error()
                if fatal is not None:
                    raise fatal from exc
                if time.monotonic() >= deadline:
                    error = translate(exc, resource="kafka", operation="describe")
                    if isinstance(error, ClusterUnreachable):
                        raise self._no_answer(error.code) from exc
                    raise error from exc
        cluster_id = metadata.cluster_id
        check_cluster_id(cluster_id, self.expected_cluster_id)
        topics: dict[str, TopicMetadata] = {}
        for name, topic in metadata.topics.items():
            if topic.error is not None:
                raise translate(topic.error, resource=f"topic.{name}", operation="describe")
            partitions = topic.partitions
            ordered = [partitions[p] for p in sorted(partitions)]
            replicas = tuple(tuple(p.replicas) for p in ordered)
            replication = max((len(r) for r in replicas), default=0)
            topics[name] = TopicMetadata(
                name,
                len(partitions),
                replication,
                replicas,
                tuple(p.leader for p in ordered),
                tuple(p.id for p in ordered if not set(p.replicas) <= set(p.isrs)),
            )
        try:
            described = self._answer(racks_future, resource="kafka")
        except KafkaException as exc:
            raise translate(exc, resource="kafka", operation="describe_cluster") from exc
        racks = {node.id: node.rack for node in described.nodes}
        return ClusterInfo(cluster_id, len(metadata.brokers), racks), topics

    def describe_topic_configs(
        self, names: Sequence[str], keys: Collection[str] | None = None
    ) -> dict[str, dict[str, LiveConfig] | ClusterError]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import ConfigResource, ResourceType
        from confluent_kafka.admin import ConfigSource as KafkaConfigSource

        # Every chunk is sent before any answer is awaited; answers are converted in order
        # and the client's own objects dropped as soon as they are.
        pending: deque[tuple[str, Future[Any]]] = deque()
        for chunk in _chunks(sorted(names), DESCRIBE_CHUNK):
            resources = [ConfigResource(ResourceType.TOPIC, name) for name in chunk]
            submitted = self._admin.describe_configs(resources, request_timeout=self.timeout)
            pending.extend((resource.name, future) for resource, future in submitted.items())
        sources = _source_table()
        wanted = None if keys is None else frozenset(keys)
        override = KafkaConfigSource.DYNAMIC_TOPIC_CONFIG.value
        # Most configs of most topics are the same broker defaults: equal (value, source,
        # sensitive) entries share one immutable LiveConfig instead of one object each.
        shared: dict[tuple[Any, Any, Any], LiveConfig] = {}
        result: dict[str, dict[str, LiveConfig] | ClusterError] = {}
        while pending:
            name, future = pending.popleft()
            try:
                entries = self._answer(future, resource=f"topic.{name}")
            except KafkaException as exc:
                result[name] = translate(
                    exc, resource=f"topic.{name}", operation="describe_configs"
                )
                continue
            configs: dict[str, LiveConfig] = {}
            for key, entry in entries.items():
                if wanted is not None and key not in wanted and entry.source != override:
                    continue
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

    def _describe_topics(self, names: Sequence[str]) -> dict[str, ClusterError | None]:
        """DescribeTopics of the named topics: None for each one described, else its error."""
        from confluent_kafka import KafkaException, TopicCollection

        if not names:
            return {}
        futures = self._admin.describe_topics(
            TopicCollection(list(names)), request_timeout=self.timeout
        )
        result: dict[str, ClusterError | None] = {}
        for name, future in futures.items():
            try:
                self._answer(future, resource=f"topic.{name}")
                result[name] = None
            except KafkaException as exc:
                result[name] = translate(exc, resource=f"topic.{name}", operation="describe")
        return result

    def topics_exist(self, names: Sequence[str]) -> dict[str, bool]:
        result: dict[str, bool] = {}
        for name, error in self._describe_topics(names).items():
            if error is not None and error.code != "UNKNOWN_TOPIC_OR_PART":
                raise error
            result[name] = error is None
        return result

    def probe_topics(self, names: Sequence[str]) -> dict[str, ClusterError | None]:
        return {
            name: error if isinstance(error, PermissionDenied) else None
            for name, error in self._describe_topics(names).items()
        }

    def _collect(self, futures: Mapping[str, Future[Any]], operation: str) -> Results:
        from confluent_kafka import KafkaException

        results: Results = {}
        for name, future in futures.items():
            try:
                self._answer(future, resource=f"topic.{name}")
                results[name] = None
            except KafkaException as exc:
                results[name] = translate(exc, resource=f"topic.{name}", operation=operation)
            except ClusterError as exc:
                results[name] = exc
        return results

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results:
        from confluent_kafka.admin import NewTopic

        if not validate_only:
            self._guard_writes("create topics")
        if not topics:
            return {}
        futures: dict[str, Future[Any]] = {}
        # A topic is a record, each partition and each config one more.
        for batch in _within_records(topics, lambda t: 1 + max(t.partitions, 1) + len(t.configs)):
            futures.update(
                self._admin.create_topics(
                    [
                        NewTopic(t.name, t.partitions, t.replication_factor, config=dict(t.configs))
                        for t in batch
                    ],
                    validate_only=validate_only,
                    request_timeout=self.timeout,
                    operation_timeout=self.timeout,
                )
            )
        return self._collect(futures, "create_topics")

    def alter_topic_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        from confluent_kafka.admin import (
            ResourceType,
        )

        if not validate_only:
            self._guard_writes("alter configs")
        if not changes:
            return {}
        resources = [
            _incremental(ResourceType.TOPIC, name, configs)
            for name, configs in sorted(changes.items())
        ]
        submitted = self._admin.incremental_alter_configs(
            resources, validate_only=validate_only, request_timeout=self.timeout
        )
        return self._collect(
            {resource.name: future for resource, future in submitted.items()}, "alter_configs"
        )

    def create_partitions(
        self, totals: Mapping[str, int], *, validate_only: bool = False
    ) -> Results:
        from confluent_kafka.admin import NewPartitions

        if not validate_only:
            self._guard_writes("create partitions")
        if not totals:
            return {}
        futures: dict[str, Future[Any]] = {}
        # Counted as if every partition were new: the total bounds the partitions added.
        for batch in _within_records(sorted(totals.items()), lambda item: item[1]):
            futures.update(
                self._admin.create_partitions(
                    [NewPartitions(name, count) for name, count in batch],
                    validate_only=validate_only,
                    request_timeout=self.timeout,
                    operation_timeout=self.timeout,
                )
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
                    bounds[label][(tp.topic, tp.partition)] = self._answer(
                        future, resource=f"topic.{tp.topic}"
                    ).offset
                except KafkaException as exc:
                    raise translate(
                        exc, resource=f"topic.{tp.topic}", operation="list_offsets"
                    ) from exc
        counts = dict.fromkeys(partitions, 0)
        for key, end in bounds["end"].items():
            counts[key[0]] += max(0, end - bounds["start"].get(key, 0))
        return counts

    def list_consumer_groups(self) -> list[str]:
        from confluent_kafka import KafkaException

        future = self._admin.list_consumer_groups(request_timeout=self.timeout)
        try:
            result = self._answer(future, resource="kafka")
        except KafkaException as exc:
            raise translate(exc, resource="kafka", operation="list_consumer_groups") from exc
        # Simple groups (assign() and commit, no membership) hold offsets too.
        return sorted({listing.group_id for listing in result.valid if listing.group_id})

    def describe_consumer_groups(self, group_ids: Sequence[str]) -> dict[str, ConsumerGroup]:
        from confluent_kafka import KafkaException

        groups: dict[str, ConsumerGroup] = {}
        for chunk in _chunks(list(group_ids), GROUP_BATCH):
            futures = self._admin.describe_consumer_groups(
                list(chunk), request_timeout=self.timeout
            )
            for group_id, future in futures.items():
                try:
                    found = self._answer(future, resource=f"group.{group_id}")
                except KafkaException as exc:
                    error = translate(
                        exc, resource=f"group.{group_id}", operation="describe_consumer_groups"
                    )
                    if error.code == "GROUP_ID_NOT_FOUND":
                        continue
                    raise error from exc
                state = getattr(found, "state", None)
                if not found.members and (state is None or state.name == "DEAD"):
                    continue  # a group that does not exist is reported DEAD, without members
                groups[group_id] = ConsumerGroup(
                    group_id=group_id,
                    state=state.name if state is not None else "UNKNOWN",
                    members=tuple(
                        GroupMember(
                            member_id=member.member_id,
                            client_id=member.client_id,
                            host=member.host,
                            assigned=tuple(
                                sorted(
                                    (tp.topic, tp.partition)
                                    for tp in member.assignment.topic_partitions
                                )
                            ),
                        )
                        for member in found.members
                    ),
                )
        return groups

    def list_group_offsets(self, group_ids: Sequence[str]) -> dict[str, dict[Partition, int]]:
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException

        # librdkafka takes one group per request: all are sent at once, then collected.
        futures = {}
        for group_id in group_ids:
            futures.update(
                self._admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group_id)], request_timeout=self.timeout
                )
            )
        offsets: dict[str, dict[Partition, int]] = {}
        for group_id, future in futures.items():
            try:
                found = self._answer(future, resource=f"group.{group_id}")
            except KafkaException as exc:
                error = translate(exc, resource=f"group.{group_id}", operation="offset_fetch")
                if error.code == "GROUP_ID_NOT_FOUND":
                    offsets[group_id] = {}
                    continue
                raise error from exc
            offsets[group_id] = {
                (tp.topic, tp.partition): tp.offset
                for tp in found.topic_partitions or []
                if tp.offset >= 0 and tp.error is None
            }
        return offsets

    def list_offsets(
        self, partitions: Sequence[Partition], query: OffsetQuery
    ) -> dict[Partition, int]:
        from confluent_kafka import KafkaException, TopicPartition
        from confluent_kafka.admin import OffsetSpec

        if not partitions:
            return {}
        if query == "earliest":
            spec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        elif query == "latest":
            spec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        else:
            spec = OffsetSpec.for_timestamp(query)
        futures = self._admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in partitions}, request_timeout=self.timeout
        )
        result: dict[Partition, int] = {}
        for tp, future in futures.items():
            try:
                result[(tp.topic, tp.partition)] = self._answer(
                    future, resource=f"topic.{tp.topic}"
                ).offset
            except KafkaException as exc:
                raise translate(
                    exc, resource=f"topic.{tp.topic}", operation="list_offsets"
                ) from exc
        return result

    def describe_log_dirs(self, partitions: Sequence[Partition]) -> dict[Partition, dict[int, int]]:
        # confluent-kafka has no DescribeLogDirs: kafka-python's admin client sends one
        # request per broker.
        if not partitions:
            return {}
        wanted: dict[str, list[int]] = {}
        for topic, partition in partitions:
            wanted.setdefault(topic, []).append(partition)
        try:
            answered = self._reassigner().describe_log_dirs(topic_partitions=wanted)
        except ClusterError:
            raise
        except Exception as exc:
            raise translate_kafka_python(
                exc, resource="kafka", operation="describe_log_dirs"
            ) from exc
        asked = set(partitions)
        sizes: dict[Partition, dict[int, int]] = {}
        for broker in answered:
            for log_dir in broker.get("log_dirs", ()):
                if log_dir.get("error_code", 0):
                    continue
                for topic in log_dir.get("topics", ()):
                    for entry in topic.get("partitions", ()):
                        key = (topic["name"], entry["partition_index"])
                        if key not in asked or entry.get("is_future_key"):
                            continue
                        sizes.setdefault(key, {})[broker["broker"]] = entry["partition_size"]
        return sizes

    def describe_acls(self) -> tuple[list[Binding], list[str]]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import (
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
        )
        from confluent_kafka.admin import ResourceType as KafkaResourceType

        anything: Any = None  # confluent-kafka's "any" for names, principals and hosts
        any_filter = AclBindingFilter(
            KafkaResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            anything,
            anything,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        try:
            found = self._answer(
                self._admin.describe_acls(any_filter, request_timeout=self.timeout),
                resource="acls",
            )
        except KafkaException as exc:
            error = translate(exc, resource="acls", operation="describe_acls")
            if "SECURITY_DISABLED" in error.message:
                raise ClusterError(
                    "the cluster has no authorizer, so it has no ACLs to manage",
                    resource="acls",
                    hint="configure authorizer.class.name on the brokers, or remove the ACLs "
                    "and acls.ownership from the specs",
                ) from exc
            raise error from exc
        if not found:
            self._believe_no_bindings()
        bindings: list[Binding] = []
        unreadable: list[str] = []
        for acl in found:
            binding = _binding_from_kafka(acl)
            if binding is None:
                unreadable.append(
                    f"{acl.principal} {acl.permission_type.name} {acl.operation.name} on "
                    f"{acl.restype.name} {acl.name!r} ({acl.resource_pattern_type.name})"
                )
            else:
                bindings.append(binding)
        return bindings, sorted(unreadable)

    def acls_exist(self, bindings: Sequence[Binding]) -> dict[Binding, bool]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AclBindingFilter

        submitted = {
            binding: self._admin.describe_acls(
                AclBindingFilter(*_kafka_acl_fields(binding)), request_timeout=self.timeout
            )
            for binding in bindings
        }
        shown: dict[Binding, bool] = {}
        for binding, future in submitted.items():
            resource = f"acl.{binding.key}"
            try:
                found = self._answer(future, resource=resource)
            except KafkaException as exc:
                raise translate(exc, resource=resource, operation="describe_acls") from exc
            shown[binding] = any(_binding_from_kafka(acl) == binding for acl in found)
        if shown and not any(shown.values()):
            self._believe_no_bindings()
        return shown

    def _believe_no_bindings(self) -> None:
        """Raise unless this principal may describe the cluster's bindings: librdkafka drops
        DescribeAcls' CLUSTER_AUTHORIZATION_FAILED and reports no bindings at all
        (confluent-kafka 2.16, Kafka 4.1), so an empty answer is only believed from a
        principal allowed to ask."""
        self._require_describe_on_cluster(
            "DescribeAcls answered no bindings, and DescribeCluster shows no DESCRIBE",
            resource="acls",
            operation="describe_acls",
        )

    def _require_describe_on_cluster(self, reason: str, *, resource: str, operation: str) -> None:
        """Raise CLUSTER_AUTHORIZATION_FAILED for ``operation`` when the broker says this
        principal has no DESCRIBE on the cluster (nothing when it cannot say)."""
        if self._may_describe_cluster() is False:
            raise _permission_denied(
                "CLUSTER_AUTHORIZATION_FAILED", reason, resource=resource, operation=operation
            )

    def _may_describe_cluster(self) -> bool | None:
        """Whether this principal has DESCRIBE on the cluster (the broker's authorized
        operations, KIP-430); None when the broker cannot say."""
        from confluent_kafka import KafkaException

        try:
            result = self._admin.describe_cluster(
                include_authorized_operations=True, request_timeout=self.timeout
            ).result()
        except KafkaException:
            return None
        # Kafka answers a principal without DESCRIBE on the cluster with no operations at
        # all, which confluent-kafka shows as None.
        operations = {op.name for op in result.authorized_operations or ()}
        return "DESCRIBE" in operations

    def acl_unsupported(self, binding: Binding) -> str | None:
        resources, operations = _kafka_names()
        if binding.resource_type not in resources:
            return (
                f"confluent-kafka (librdkafka) cannot create, read or delete "
                f"{binding.resource_type.spelled} ACLs"
            )
        if binding.operation not in operations:
            return f"confluent-kafka (librdkafka) does not know the {binding.operation} operation"
        return None

    def _acl_requests(
        self, bindings: Sequence[Binding], operation: str
    ) -> tuple[list[tuple[Binding, Any]], AclResults]:
        """The confluent-kafka value for each binding; unsupported ones fail up front."""
        self._guard_writes(operation.replace("_", " "))
        requests: list[tuple[Binding, Any]] = []
        results: AclResults = {}
        for binding in bindings:
            reason = self.acl_unsupported(binding)
            if reason is None:
                requests.append((binding, _kafka_acl_fields(binding)))
            else:
                results[binding] = ClusterError(
                    reason,
                    resource=f"acl.{binding.key}",
                    hint="manage this binding with kafka-acls.sh and keep it out of the specs",
                )
        return requests, results

    def _acl_results(
        self,
        submitted: Mapping[Any, Future[Any]],
        by_request: Mapping[Any, Binding],
        operation: str,
    ) -> AclResults:
        from confluent_kafka import KafkaException

        results: AclResults = {}
        for request, future in submitted.items():
            binding = by_request[request]
            try:
                future.result()
                results[binding] = None
            except KafkaException as exc:
                results[binding] = translate(
                    exc, resource=f"acl.{binding.key}", operation=operation
                )
        return results

    def create_acls(self, bindings: Sequence[Binding]) -> AclResults:
        from confluent_kafka.admin import AclBinding

        requests, results = self._acl_requests(bindings, "create_acls")
        for chunk in _chunks(requests, ACL_CHUNK):
            by_request = {AclBinding(*fields): binding for binding, fields in chunk}
            submitted = self._admin.create_acls(list(by_request), request_timeout=self.timeout)
            results.update(self._acl_results(submitted, by_request, "create_acls"))
        return results

    def delete_acls(self, bindings: Sequence[Binding]) -> AclResults:
        from confluent_kafka.admin import AclBindingFilter

        requests, results = self._acl_requests(bindings, "delete_acls")
        for chunk in _chunks(requests, ACL_CHUNK):
            by_request = {AclBindingFilter(*fields): binding for binding, fields in chunk}
            submitted = self._admin.delete_acls(list(by_request), request_timeout=self.timeout)
            results.update(self._acl_results(submitted, by_request, "delete_acls"))
        return results

    # -- partition reassignments (kafka-python: confluent-kafka has no such calls) --------

    def _reassigner(self) -> Any:
        """The one kafka-python admin client of this run, made on first use (by one thread:
        the reads run on several)."""
        with self._reassigner_lock:
            if self._reassignment_admin is None:
                _kafka_python()
                from kafka.admin import KafkaAdminClient

                config = kafka_python_config(self.connection, self._environ)
                try:
                    self._reassignment_admin = KafkaAdminClient(**config)
                except ProjectError:
                    raise  # the OAuth token provider's: one clear line already
                except Exception as exc:
                    raise translate_kafka_python(
                        exc, resource="kafka", operation="reassign"
                    ) from exc
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
        _kafka_python()
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
                entries = self._answer(future, resource=f"broker.{resource.name}")
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
            ResourceType,
        )

        self._guard_writes("alter broker configs")
        if not changes:
            return {}
        resources = [
            _incremental(ResourceType.BROKER, str(broker), configs)
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

    def describe_user_scram_credentials(self) -> dict[str, dict[str, int]]:
        """librdkafka 2.16 aborts the process (``munmap_chunk(): invalid pointer``) when the
        broker refuses DescribeUserScramCredentials for want of DESCRIBE on the cluster
        (Kafka 3.9 and 4.1): the principal's authorized operations are asked first, and a
        principal without DESCRIBE gets the refusal without the request being sent."""
        from confluent_kafka import KafkaException

        self._require_describe_on_cluster(
            "DescribeCluster shows no DESCRIBE on the cluster",
            resource="user",
            operation="describe_scram",
        )
        try:
            future = self._admin.describe_user_scram_credentials(request_timeout=self.timeout)
            described = self._answer(future, resource="user")
        except KafkaException as exc:
            raise translate(exc, resource="user", operation="describe_scram") from exc
        return {
            name: {
                _MECHANISM_NAMES[info.mechanism.name]: info.iterations
                for info in description.scram_credential_infos
                if info.mechanism.name in _MECHANISM_NAMES
            }
            for name, description in sorted(described.items())
        }

    def alter_user_scram_credentials(self, changes: Mapping[str, ScramChange]) -> Results:
        """The broker refuses two alterations of one user in one request (DUPLICATE_RESOURCE,
        Kafka 3.9 and 4.1, even for two mechanisms), so a user's alterations go in rounds,
        one each per request; a user whose alteration fails gets no further round."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import (
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialDeletion,
            UserScramCredentialUpsertion,
        )

        self._guard_writes("alter SCRAM credentials")
        results: Results = {}
        pending = {name: change.alterations() for name, change in sorted(changes.items())}
        while True:
            round_ = {name: steps.pop(0) for name, steps in pending.items() if steps}
            round_ = {name: step for name, step in round_.items() if results.get(name) is None}
            if not round_:
                break
            requests: list[Any] = []
            for name, (mechanism, iterations) in round_.items():
                kafka_mechanism = getattr(ScramMechanism, mechanism.replace("-", "_"))
                if iterations is None:
                    requests.append(UserScramCredentialDeletion(name, kafka_mechanism))
                else:
                    requests.append(
                        UserScramCredentialUpsertion(
                            name,
                            ScramCredentialInfo(kafka_mechanism, iterations),
                            changes[name].password.encode(),
                        )
                    )
            futures = self._admin.alter_user_scram_credentials(
                requests, request_timeout=self.timeout
            )
            for name, future in futures.items():
                try:
                    self._answer(future, resource=f"user.{name}")
                    results[name] = None
                except KafkaException as exc:
                    results[name] = translate(exc, resource=f"user.{name}", operation="alter_scram")
                except ClusterError as exc:
                    results[name] = exc
        return results

    # -- group configs (the GROUP config resource, Kafka 4.0+) -----------------------------

    def describe_features(self) -> BrokerFeatures:
        # confluent-kafka has no DescribeFeatures; kafka-python's sends ApiVersions v3,
        # whose answer carries the supported and finalized features.
        try:
            answered = self._reassigner().describe_features()
        except ClusterError:
            raise
        except Exception as exc:
            raise translate_kafka_python(exc, resource="kafka", operation="describe") from exc
        supported: dict[str, tuple[int, int]] = {}
        finalized: dict[str, int] = {}
        for name, levels in answered.items():
            if "supported" in levels:
                low, high = levels["supported"]
                supported[name] = (int(low), int(high))
            if "finalized" in levels:
                finalized[name] = int(levels["finalized"][1])
        return BrokerFeatures(
            broker=self.connection.bootstrap_servers.split(",")[0].strip(),
            supported=supported,
            finalized=finalized,
        )

    def describe_group_configs(
        self, group_ids: Sequence[str]
    ) -> dict[str, LiveGroup | ClusterError]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import ConfigResource, ResourceType

        if not group_ids:
            return {}
        # librdkafka maps ResourceType.GROUP to the GROUP config resource (type 32).
        pending: deque[tuple[str, Future[Any]]] = deque()
        for chunk in _chunks(sorted(group_ids), DESCRIBE_CHUNK):
            resources = [ConfigResource(ResourceType.GROUP, group_id) for group_id in chunk]
            submitted = self._admin.describe_configs(resources, request_timeout=self.timeout)
            pending.extend((resource.name, future) for resource, future in submitted.items())
        result: dict[str, LiveGroup | ClusterError] = {}
        while pending:
            group_id, future = pending.popleft()
            resource = f"group.{group_id}"
            try:
                entries = self._answer(future, resource=resource)
            except KafkaException as exc:
                result[group_id] = translate(
                    exc, resource=resource, operation="describe_group_configs"
                )
                continue
            except ClusterError as exc:
                result[group_id] = exc
                continue
            result[group_id] = LiveGroup(
                group_id=group_id,
                overrides={
                    key: entry.value
                    for key, entry in sorted(entries.items())
                    if _source_name(entry.source) == "GROUP_CONFIG" and entry.value is not None
                },
                effective={key: entry.value for key, entry in sorted(entries.items())},
            )
        return result

    def list_group_config_ids(self) -> list[str]:
        _kafka_python()
        from kafka import errors as kafka_errors
        from kafka.admin import ConfigResourceType

        try:
            listed = self._reassigner().list_config_resources(
                resource_types=[ConfigResourceType.GROUP]
            )
        except kafka_errors.UnsupportedVersionError:
            return self.list_consumer_groups()
        except ClusterError:
            raise
        except Exception as exc:
            raise translate_kafka_python(
                exc, resource="kafka", operation="describe_group_configs"
            ) from exc
        return sorted(str(group_id) for group_id in listed.get("group", []))

    def alter_group_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import ResourceType

        if not validate_only:
            self._guard_writes("alter group configs")
        if not changes:
            return {}
        resources = [
            _incremental(ResourceType.GROUP, group_id, configs)
            for group_id, configs in sorted(changes.items())
        ]
        submitted = self._admin.incremental_alter_configs(
            resources, validate_only=validate_only, request_timeout=self.timeout
        )
        results: Results = {}
        for resource, future in submitted.items():
            address = f"group.{resource.name}"
            try:
                self._answer(future, resource=address)
                results[resource.name] = None
            except KafkaException as exc:
                results[resource.name] = translate(
                    exc, resource=address, operation="alter_group_configs"
                )
            except ClusterError as exc:
                results[resource.name] = exc
        return results

    # -- client quotas (kafka-python's protocol classes: neither client has an admin call) --

    def _quota_request(self, request: Any, operation: str) -> Any:
        """Send one quota request to any broker (a broker forwards AlterClientQuotas to the
        controller) through the kafka-python client the reassignments use."""
        admin = self._reassigner()
        manager = admin._manager
        try:
            return manager.run(manager.send, request, None, int(self.timeout * 1000))
        except ClusterError:
            raise
        except Exception as exc:
            raise translate_kafka_python(exc, resource="kafka", operation=operation) from exc

    def describe_quotas(self) -> dict[QuotaEntity, dict[str, float]]:
        _kafka_python()
        from kafka.protocol.admin.client_quotas import DescribeClientQuotasRequest

        # No components, not strict: every entity of every type, defaults included.
        answer = self._quota_request(
            DescribeClientQuotasRequest(components=[], strict=False), "describe_quotas"
        )
        error = quota_error(
            answer.error_code, answer.error_message, resource="quota", operation="describe_quotas"
        )
        if error is not None:
            raise error
        return {
            QuotaEntity.from_parts((part.entity_type, part.entity_name) for part in entry.entity): {
                value.key: float(value.value) for value in entry.values
            }
            for entry in answer.entries or []
        }

    def alter_quotas(self, changes: QuotaChanges, *, validate_only: bool = False) -> QuotaResults:
        _kafka_python()
        from kafka.protocol.admin.client_quotas import AlterClientQuotasRequest

        if not validate_only:
            self._guard_writes("alter client quotas")
        if not changes:
            return {}
        entry = AlterClientQuotasRequest.EntryData
        request = AlterClientQuotasRequest(
            entries=[
                entry(
                    entity=[
                        entry.EntityData(entity_type=kind, entity_name=name)
                        for kind, name in entity.parts
                    ],
                    ops=[
                        entry.OpData(key=key, value=value or 0.0, remove=value is None)
                        for key, value in sorted(keys.items())
                    ],
                )
                for entity, keys in sorted(changes.items())
            ],
            validate_only=validate_only,
        )
        answer = self._quota_request(request, "alter_quotas")
        answered = {
            QuotaEntity.from_parts((p.entity_type, p.entity_name) for p in item.entity): item
            for item in answer.entries
        }
        results: QuotaResults = {}
        for entity in changes:
            item = answered.get(entity)
            if item is None:
                results[entity] = ClusterError(
                    "the broker did not answer for this entity", resource=quota_address(entity)
                )
                continue
            results[entity] = quota_error(
                item.error_code,
                item.error_message,
                resource=quota_address(entity),
                operation="alter_quotas",
            )
        return results

    def close(self) -> None:
        for lease_log in self._lease_logs:
            lease_log.close()
        self._lease_logs = []
        # AdminClient has no close(); dropping the reference ends its threads. That waits
        # for librdkafka's background work, which includes a token request to an OAuth
        # endpoint that may not answer for a long time: dropped on a daemon thread, it
        # cannot hold up the end of the run.
        admin, self._admin = self._admin, None
        if self.connection.sasl_mechanism == "OAUTHBEARER":
            threading.Thread(target=_release, args=([admin],), daemon=True).start()
        del admin
        if self._reassignment_admin is not None:
            self._reassignment_admin.close()
            self._reassignment_admin = None


# confluent-kafka's ScramMechanism names -> Kafka's.
_MECHANISM_NAMES = {"SCRAM_SHA_256": "SCRAM-SHA-256", "SCRAM_SHA_512": "SCRAM-SHA-512"}


def _release(holder: list[Any]) -> None:
    holder.clear()


@cache
def _kafka_names() -> tuple[dict[ResourceType, str], frozenset[str]]:
    """Our resource types as confluent-kafka names them, and the operations it knows."""
    from confluent_kafka.admin import AclOperation
    from confluent_kafka.admin import ResourceType as KafkaResourceType

    resources = {
        ResourceType.TOPIC: "TOPIC",
        ResourceType.GROUP: "GROUP",
        ResourceType.CLUSTER: "BROKER",
        ResourceType.TRANSACTIONAL_ID: "TRANSACTIONAL_ID",
    }
    known = {member.name for member in KafkaResourceType}
    operations = frozenset(member.name for member in AclOperation) - {"ANY", "UNKNOWN"}
    return {k: v for k, v in resources.items() if v in known}, operations


def _kafka_acl_fields(binding: Binding) -> tuple[Any, ...]:
    """Positional arguments of confluent-kafka's AclBinding / AclBindingFilter."""
    from confluent_kafka.admin import (
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
    )
    from confluent_kafka.admin import ResourceType as KafkaResourceType

    return (
        KafkaResourceType[_kafka_names()[0][binding.resource_type]],
        binding.resource_name,
        ResourcePatternType[binding.pattern_type.value],
        binding.principal,
        binding.host,
        AclOperation[binding.operation.value],
        AclPermissionType[binding.permission.value],
    )


def _binding_from_kafka(acl: Any) -> Binding | None:
    """Our normalized binding for a confluent-kafka AclBinding; None if it cannot say."""
    resource_type = parse_resource_type(acl.restype.name)
    operation = parse_operation(acl.operation.name)
    pattern = AclPatternType.__members__.get(acl.resource_pattern_type.name)
    permission = AclPermission.__members__.get(acl.permission_type.name)
    if resource_type is None or operation is None or pattern is None or permission is None:
        return None
    return Binding(
        principal=acl.principal,
        resource_type=resource_type,
        pattern_type=pattern,
        resource_name=acl.name,
        operation=operation,
        permission=permission,
        host=acl.host,
    )
