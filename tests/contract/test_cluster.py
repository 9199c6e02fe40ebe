"""The ``Cluster`` protocol's behaviour that kafkaplan relies on, the same for the in-memory
double (``MemoryCluster``) and for ``KafkaCluster`` on the real broker.

Reads after a write poll (``eventually``): a real broker applies a change to its metadata a
moment after it answers. Errors are checked by type and by the fields kafkaplan reads
(``resource``, ``code``), never by the broker's wording.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kafkaplan.errors import ClusterError, ClusterTransient, PermissionDenied
from kafkaplan.live.cluster import Cluster, NewTopicRequest
from kafkaplan.live.state import BROKER_THROTTLE_CONFIGS, ConfigSource
from kafkaplan.spec.acls import Binding, Operation, PatternType, Permission, ResourceType
from kafkaplan.spec.topic_configs import TOPIC_CONFIGS
from tests.contract.conftest import Groups, Messages, eventually, no_error
from tests.fakes import BROKER_DEFAULTS

HOUR_MS = "3600000"

T = TypeVar("T")


def create(cluster: Cluster, *topics: NewTopicRequest) -> None:
    """Create ``topics`` and wait until the metadata shows all of them, each partition
    with a leader."""
    no_error(cluster.create_topics(topics))

    def visible() -> None:
        _, metadata = cluster.describe()
        assert {t.name for t in topics} <= set(metadata)
        for topic in topics:
            assert all(leader >= 0 for leader in metadata[topic.name].leaders)

    eventually(visible)


def refused(error: ClusterError | None, name: str) -> ClusterError:
    """``error`` is a final (never retried) refusal naming topic ``name``."""
    assert isinstance(error, ClusterError), error
    assert not isinstance(error, ClusterTransient), error
    assert error.resource == f"topic.{name}", error
    return error


# -- topics ---------------------------------------------------------------------------------


def test_describe_shows_created_topics_with_partitions_and_replicas(
    cluster: Cluster, prefix: str
) -> None:
    three, one = f"{prefix}three", f"{prefix}one"
    create(cluster, NewTopicRequest(three, 3, 1), NewTopicRequest(one, 1, 1))

    info, metadata = cluster.describe()

    assert info.cluster_id
    assert info.broker_count >= 1
    assert len(info.racks) == info.broker_count
    for name, partitions in ((three, 3), (one, 1)):
        topic = metadata[name]
        assert (topic.name, topic.partitions, topic.replication_factor) == (name, partitions, 1)
        assert len(topic.replicas) == partitions
        assert all(len(replicas) == 1 for replicas in topic.replicas)
        assert {b for replicas in topic.replicas for b in replicas} <= set(info.racks)
        # Each partition is led by its (only) replica.
        assert topic.leaders == tuple(replicas[0] for replicas in topic.replicas)
        # Every replica in sync: no partition is reported out of sync.
        assert topic.out_of_sync == ()


def test_create_topics_dry_run_creates_nothing_and_refuses_per_topic(
    cluster: Cluster, prefix: str
) -> None:
    existing = f"{prefix}existing"
    create(cluster, NewTopicRequest(existing, 1, 1))
    info, _ = cluster.describe()
    good, bad_value, bad_key, too_many = (
        f"{prefix}good",
        f"{prefix}bad-value",
        f"{prefix}bad-key",
        f"{prefix}too-many-replicas",
    )
    requests = [
        NewTopicRequest(good, 2, 1, {"retention.ms": HOUR_MS}),
        NewTopicRequest(bad_value, 1, 1, {"retention.ms": "an hour"}),
        NewTopicRequest(bad_key, 1, 1, {"no.such.config": "1"}),
        NewTopicRequest(too_many, 1, info.broker_count + 1),
        NewTopicRequest(existing, 1, 1),
    ]

    results = cluster.create_topics(requests, validate_only=True)

    assert set(results) == {r.name for r in requests}
    assert results[good] is None
    for name in (bad_value, bad_key, too_many):
        refused(results[name], name)
    assert refused(results[existing], existing).code == "TOPIC_ALREADY_EXISTS"
    # Nothing was created: the topics are absent, and not hidden either.
    _, metadata = cluster.describe()
    assert not {good, bad_value, bad_key, too_many} & set(metadata)
    assert cluster.probe_topics([good, bad_value]) == {good: None, bad_value: None}


def test_create_topics_refuses_one_topic_and_creates_the_others(
    cluster: Cluster, prefix: str
) -> None:
    existing, new, bad = f"{prefix}existing", f"{prefix}new", f"{prefix}bad"
    create(cluster, NewTopicRequest(existing, 1, 1))

    results = cluster.create_topics(
        [
            NewTopicRequest(existing, 2, 1),
            NewTopicRequest(new, 2, 1),
            NewTopicRequest(bad, 1, 1, {"cleanup.policy": "shred"}),
        ]
    )

    assert refused(results[existing], existing).code == "TOPIC_ALREADY_EXISTS"
    refused(results[bad], bad)
    assert results[new] is None

    def created() -> None:
        _, metadata = cluster.describe()
        assert metadata[new].partitions == 2
        assert bad not in metadata
        assert metadata[existing].partitions == 1  # untouched by the refused request

    eventually(created)


def test_describe_topic_configs_tells_overrides_from_defaults(
    cluster: Cluster, prefix: str
) -> None:
    tuned, plain = f"{prefix}tuned", f"{prefix}plain"
    create(
        cluster,
        NewTopicRequest(tuned, 1, 1, {"retention.ms": HOUR_MS, "cleanup.policy": "compact"}),
        NewTopicRequest(plain, 1, 1),
    )

    configs = cluster.describe_topic_configs([tuned, plain])

    assert set(configs) == {tuned, plain}
    tuned_configs, plain_configs = configs[tuned], configs[plain]
    assert isinstance(tuned_configs, dict), tuned_configs
    assert isinstance(plain_configs, dict), plain_configs
    for key, value in (("retention.ms", HOUR_MS), ("cleanup.policy", "compact")):
        assert tuned_configs[key].value == value
        assert tuned_configs[key].source is ConfigSource.TOPIC
        assert tuned_configs[key].is_override
        assert not plain_configs[key].is_override
    # Every config kafkaplan manages is reported for every topic, none as sensitive.
    assert set(TOPIC_CONFIGS) <= set(plain_configs)
    assert not any(c.sensitive for c in (*tuned_configs.values(), *plain_configs.values()))
    assert not any(c.is_override for c in plain_configs.values())
    # The double's broker defaults are the real broker's.
    assert {key: plain_configs[key].value for key in BROKER_DEFAULTS} == BROKER_DEFAULTS


def test_describe_topic_configs_of_a_missing_topic_is_an_error_for_it_alone(
    cluster: Cluster, prefix: str
) -> None:
    present, missing = f"{prefix}present", f"{prefix}missing"
    create(cluster, NewTopicRequest(present, 1, 1))

    configs = cluster.describe_topic_configs([present, missing])

    assert isinstance(configs[present], dict)
    error = configs[missing]
    assert isinstance(error, ClusterError)
    assert not isinstance(error, ClusterTransient)
    assert error.resource == f"topic.{missing}"


def test_alter_topic_configs_sets_and_removes_overrides(cluster: Cluster, prefix: str) -> None:
    first, second = f"{prefix}first", f"{prefix}second"
    create(
        cluster,
        NewTopicRequest(first, 1, 1, {"retention.ms": HOUR_MS}),
        NewTopicRequest(second, 1, 1),
    )

    results = cluster.alter_topic_configs(
        {
            # Remove one override, set another, remove one that is not set (a no-op).
            first: {"retention.ms": None, "cleanup.policy": "compact", "segment.ms": None},
            second: {"max.message.bytes": "2097152"},
        }
    )

    no_error(results)

    def altered() -> None:
        configs = cluster.describe_topic_configs([first, second])
        first_configs, second_configs = configs[first], configs[second]
        assert isinstance(first_configs, dict)
        assert isinstance(second_configs, dict)
        assert not first_configs["retention.ms"].is_override
        assert first_configs["retention.ms"].value == BROKER_DEFAULTS["retention.ms"]
        assert first_configs["cleanup.policy"].is_override
        assert first_configs["cleanup.policy"].value == "compact"
        assert second_configs["max.message.bytes"].is_override
        assert second_configs["max.message.bytes"].value == "2097152"

    eventually(altered)


def test_alter_topic_configs_refuses_a_bad_value_for_that_topic_only(
    cluster: Cluster, prefix: str
) -> None:
    good, bad = f"{prefix}good", f"{prefix}bad"
    create(cluster, NewTopicRequest(good, 1, 1), NewTopicRequest(bad, 1, 1))

    results = cluster.alter_topic_configs(
        {good: {"retention.ms": HOUR_MS}, bad: {"retention.ms": "an hour"}}
    )

    assert results[good] is None
    refused(results[bad], bad)

    def settled() -> None:
        configs = cluster.describe_topic_configs([good, bad])
        good_configs, bad_configs = configs[good], configs[bad]
        assert isinstance(good_configs, dict)
        assert isinstance(bad_configs, dict)
        assert good_configs["retention.ms"].value == HOUR_MS
        assert not bad_configs["retention.ms"].is_override

    eventually(settled)


def test_create_partitions_grows_and_never_shrinks(cluster: Cluster, prefix: str) -> None:
    grow, shrink, same = f"{prefix}grow", f"{prefix}shrink", f"{prefix}same"
    create(
        cluster,
        NewTopicRequest(grow, 1, 1),
        NewTopicRequest(shrink, 3, 1),
        NewTopicRequest(same, 2, 1),
    )

    results = cluster.create_partitions({grow: 4, shrink: 2, same: 2})

    assert results[grow] is None
    refused(results[shrink], shrink)
    refused(results[same], same)

    def grown() -> None:
        _, metadata = cluster.describe()
        assert metadata[grow].partitions == 4
        assert len(metadata[grow].replicas) == 4
        assert metadata[shrink].partitions == 3
        assert metadata[same].partitions == 2

    eventually(grown)


def test_validate_only_config_updates_are_judged_but_change_nothing(
    cluster: Cluster, prefix: str
) -> None:
    good, bad = f"{prefix}good", f"{prefix}bad"
    create(cluster, NewTopicRequest(good, 1, 1), NewTopicRequest(bad, 1, 1))

    results = cluster.alter_topic_configs(
        {
            good: {"retention.ms": HOUR_MS},
            # Refused by a broker without tiered storage, like the test stack's.
            bad: {"remote.storage.enable": "true"},
        },
        validate_only=True,
    )

    assert results[good] is None
    assert refused(results[bad], bad).code == "INVALID_CONFIG"
    # A real change after the dry run: once it shows, the dry run's value would too.
    no_error(cluster.alter_topic_configs({good: {"cleanup.policy": "compact"}}))

    def unchanged() -> None:
        configs = cluster.describe_topic_configs([good])[good]
        assert isinstance(configs, dict)
        assert configs["cleanup.policy"].value == "compact"
        assert not configs["retention.ms"].is_override

    eventually(unchanged)


def test_validate_only_partition_increases_are_judged_but_change_nothing(
    cluster: Cluster, prefix: str
) -> None:
    grow, shrink = f"{prefix}grow", f"{prefix}shrink"
    create(cluster, NewTopicRequest(grow, 1, 1), NewTopicRequest(shrink, 3, 1))

    results = cluster.create_partitions({grow: 4, shrink: 2}, validate_only=True)

    assert results[grow] is None
    refused(results[shrink], shrink)
    no_error(cluster.create_partitions({shrink: 5}))

    def unchanged() -> None:
        _, metadata = cluster.describe()
        assert metadata[shrink].partitions == 5
        assert metadata[grow].partitions == 1

    eventually(unchanged)


def test_delete_topics_deletes_and_refuses_a_missing_topic(cluster: Cluster, prefix: str) -> None:
    doomed, kept, missing = f"{prefix}doomed", f"{prefix}kept", f"{prefix}missing"
    create(cluster, NewTopicRequest(doomed, 2, 1), NewTopicRequest(kept, 1, 1))

    results = cluster.delete_topics([doomed, missing])

    assert results[doomed] is None
    refused(results[missing], missing)

    def deleted() -> None:
        _, metadata = cluster.describe()
        assert doomed not in metadata
        assert kept in metadata

    eventually(deleted)
    assert cluster.probe_topics([doomed]) == {doomed: None}


def test_topic_message_counts_sum_every_partition(
    cluster: Cluster, messages: Messages, prefix: str
) -> None:
    full, empty = f"{prefix}full", f"{prefix}empty"
    create(cluster, NewTopicRequest(full, 2, 1), NewTopicRequest(empty, 3, 1))
    messages.produce(full, 0, 3)
    messages.produce(full, 1, 2)

    def counted() -> dict[str, int]:
        try:
            return cluster.topic_message_counts({full: 2, empty: 3})
        except ClusterError as exc:
            # A new partition can answer "not leader" for a moment after the metadata shows
            # its leader; KafkaCluster takes that for final (see
            # tests/unit/live/test_cluster.py::test_a_partition_without_its_leader_yet_is_transient).
            if exc.code == "NOT_LEADER_FOR_PARTITION":
                raise AssertionError(str(exc)) from exc
            raise

    assert eventually(counted) == {full: 5, empty: 0}
    assert cluster.topic_message_counts({}) == {}


def _leaders_ready(call: Callable[[], T]) -> Callable[[], T]:
    """``call``, with "not leader" of a new partition taken for "not yet" (see above)."""

    def wrapped() -> T:
        try:
            return call()
        except ClusterError as exc:
            if exc.code == "NOT_LEADER_FOR_PARTITION":
                raise AssertionError(str(exc)) from exc
            raise

    return wrapped


def test_list_offsets_by_position_and_by_timestamp(
    cluster: Cluster, groups: Groups, prefix: str
) -> None:
    name = f"{prefix}times"
    create(cluster, NewTopicRequest(name, 2, 1))
    base = (int(time.time()) - 10 * 86_400) * 1000
    groups.write(name, 0, [base, base, base + 1000])
    both = [(name, 0), (name, 1)]

    def latest() -> None:
        assert cluster.list_offsets(both, "latest") == {(name, 0): 3, (name, 1): 0}

    eventually(_leaders_ready(latest))
    assert cluster.list_offsets(both, "earliest") == {(name, 0): 0, (name, 1): 0}
    # The first record written at or after the time; -1 where there is none.
    assert cluster.list_offsets(both, base) == {(name, 0): 0, (name, 1): -1}
    assert cluster.list_offsets(both, base + 1) == {(name, 0): 2, (name, 1): -1}
    assert cluster.list_offsets(both, base + 1001) == {(name, 0): -1, (name, 1): -1}
    assert cluster.list_offsets([], "latest") == {}


def test_consumer_groups_members_and_committed_offsets(
    cluster: Cluster, groups: Groups, prefix: str
) -> None:
    topic = f"{prefix}read"
    create(cluster, NewTopicRequest(topic, 1, 1))
    now = int(time.time() * 1000)
    groups.write(topic, 0, [now] * 5)
    live, simple, missing = f"{prefix}live", f"{prefix}simple", f"{prefix}missing"
    leave = groups.member(live, topic, 3, f"{prefix}client")
    groups.commit(simple, {(topic, 0): 1})

    def listed() -> None:
        assert {live, simple} <= set(cluster.list_consumer_groups())
        assert missing not in cluster.list_consumer_groups()

    eventually(listed)
    assert cluster.list_group_offsets([live, simple, missing]) == {
        live: {(topic, 0): 3},
        simple: {(topic, 0): 1},
        missing: {},
    }
    described = cluster.describe_consumer_groups([live, simple, missing])
    assert set(described) == {live, simple}
    assert described[live].state == "STABLE"
    [member] = described[live].members
    assert member.client_id == f"{prefix}client"
    assert member.assigned == ((topic, 0),)
    assert member.host
    assert (described[simple].state, described[simple].members) == ("EMPTY", ())
    leave()

    def left() -> None:
        group = cluster.describe_consumer_groups([live])[live]
        assert (group.state, group.members) == ("EMPTY", ())

    eventually(left)
    assert cluster.list_group_offsets([live]) == {live: {(topic, 0): 3}}


def test_probe_topics_says_missing_topics_are_not_hidden(cluster: Cluster, prefix: str) -> None:
    present, missing = f"{prefix}present", f"{prefix}missing"
    create(cluster, NewTopicRequest(present, 1, 1))

    assert cluster.probe_topics([present, missing]) == {present: None, missing: None}
    assert cluster.probe_topics([]) == {}


def test_a_principal_without_describe_sees_no_topic_and_cannot_tell_missing_ones(
    cluster: Cluster, unprivileged: Callable[[list[str]], Cluster], prefix: str
) -> None:
    present, missing = f"{prefix}present", f"{prefix}missing"
    create(cluster, NewTopicRequest(present, 1, 1))
    viewer = unprivileged([present, missing])

    _, metadata = viewer.describe()
    probed = viewer.probe_topics([present, missing])
    configs = viewer.describe_topic_configs([present])

    assert present not in metadata
    # Kafka answers an authorization error whether the topic exists or not.
    for name in (present, missing):
        error = probed[name]
        assert isinstance(error, PermissionDenied), error
        assert error.resource == f"topic.{name}"
    assert isinstance(configs[present], PermissionDenied)


# -- ACLs -----------------------------------------------------------------------------------


def bindings_of(prefix: str) -> list[Binding]:
    """Literal and prefixed, allow and deny, on each resource type kafkaplan manages."""
    user = f"User:{prefix}app"
    other = f"User:{prefix}other"

    def binding(
        principal: str,
        resource_type: ResourceType,
        pattern: PatternType,
        name: str,
        operation: Operation,
        permission: Permission = Permission.ALLOW,
        host: str = "*",
    ) -> Binding:
        return Binding(principal, resource_type, pattern, name, operation, permission, host)

    return [
        binding(user, ResourceType.TOPIC, PatternType.LITERAL, f"{prefix}orders", Operation.READ),
        binding(user, ResourceType.TOPIC, PatternType.PREFIXED, prefix, Operation.DESCRIBE),
        binding(
            user,
            ResourceType.TOPIC,
            PatternType.PREFIXED,
            f"{prefix}secret",
            Operation.WRITE,
            Permission.DENY,
        ),
        binding(user, ResourceType.GROUP, PatternType.LITERAL, f"{prefix}app", Operation.READ),
        binding(user, ResourceType.TRANSACTIONAL_ID, PatternType.PREFIXED, prefix, Operation.WRITE),
        binding(
            user,
            ResourceType.CLUSTER,
            PatternType.LITERAL,
            "kafka-cluster",
            Operation.IDEMPOTENT_WRITE,
        ),
        binding(
            other,
            ResourceType.TOPIC,
            PatternType.LITERAL,
            f"{prefix}orders",
            Operation.READ,
            host="127.0.0.1",
        ),
    ]


def acls_of(cluster: Cluster, prefix: str) -> set[Binding]:
    bindings, _ = cluster.describe_acls()
    return {b for b in bindings if b.principal.startswith(f"User:{prefix}")}


def test_acls_are_created_described_and_deleted_exactly(cluster: Cluster, prefix: str) -> None:
    wanted = bindings_of(prefix)
    assert all(cluster.acl_unsupported(b) is None for b in wanted)

    results = cluster.create_acls(wanted)

    assert set(results) == set(wanted)
    no_error(results)

    def described() -> None:
        assert acls_of(cluster, prefix) == set(wanted)

    eventually(described)
    # Creating a binding again is a no-op: no error, no second binding.
    no_error(cluster.create_acls(wanted[:2]))
    described()
    bindings, _ = cluster.describe_acls()
    assert len([b for b in bindings if b in wanted]) == len(wanted)

    doomed, kept = wanted[:3], wanted[3:]
    no_error(cluster.delete_acls(doomed))

    def deleted() -> None:
        assert acls_of(cluster, prefix) == set(kept)

    eventually(deleted)
    # Deleting what is gone is a no-op too; delete matches exactly, never as a pattern:
    # the prefixed binding on `prefix` did not take the literal ones under it along.
    no_error(cluster.delete_acls(doomed))
    deleted()
    no_error(cluster.delete_acls(kept))
    eventually(lambda: _none_left(cluster, prefix))


def _none_left(cluster: Cluster, prefix: str) -> None:
    assert acls_of(cluster, prefix) == set()


def test_acl_unsupported_names_delegation_tokens(cluster: Cluster, prefix: str) -> None:
    """confluent-kafka (librdkafka) cannot express delegation-token ACLs: kafkaplan leaves
    such bindings to kafka-acls.sh, and the plan says so up front."""
    token = Binding(
        f"User:{prefix}app",
        ResourceType.DELEGATION_TOKEN,
        PatternType.LITERAL,
        f"{prefix}token",
        Operation.DESCRIBE,
        Permission.ALLOW,
    )
    assert cluster.acl_unsupported(token)
    results = cluster.create_acls([token])
    assert isinstance(results[token], ClusterError)
    assert acls_of(cluster, prefix) == set()


# -- partition reassignments, throttles, leader elections -----------------------------------


def test_reassignment_to_the_current_replicas_completes_and_bad_targets_are_refused(
    cluster: Cluster, prefix: str
) -> None:
    name = f"{prefix}moved"
    create(cluster, NewTopicRequest(name, 2, 1))
    info, metadata = cluster.describe()
    current = metadata[name].replicas
    unknown_broker = max(info.racks) + 100

    results = cluster.alter_reassignments(
        {(name, 0): list(current[0]), (name, 1): [unknown_broker], (name, 7): list(current[0])}
    )

    assert results[(name, 0)] is None
    for partition in (1, 7):
        error = results[(name, partition)]
        assert isinstance(error, ClusterError), error
        assert not isinstance(error, ClusterTransient), error
        assert error.resource == f"topic.{name}"

    def finished() -> None:
        ongoing = cluster.list_reassignments()
        assert not [key for key in ongoing if key[0] == name], ongoing
        _, after = cluster.describe()
        assert after[name].replicas == current

    eventually(finished)
    assert cluster.alter_reassignments({}) == {}


def test_broker_throttles_are_set_read_and_removed(cluster: Cluster) -> None:
    info, _ = cluster.describe()
    broker = min(info.racks)
    leader, follower = BROKER_THROTTLE_CONFIGS
    assert cluster.describe_broker_throttles([broker]) == {broker: {}}, (
        "the broker has replication throttles left from elsewhere"
    )
    try:
        results = cluster.alter_broker_configs({broker: {leader: "10485760", follower: "5242880"}})
        assert results == {str(broker): None}
        eventually(
            lambda: _throttles_are(cluster, broker, {leader: "10485760", follower: "5242880"})
        )
        assert cluster.alter_broker_configs({broker: {leader: None}}) == {str(broker): None}
        eventually(lambda: _throttles_are(cluster, broker, {follower: "5242880"}))
    finally:
        no_error(cluster.alter_broker_configs({broker: {leader: None, follower: None}}))
    eventually(lambda: _throttles_are(cluster, broker, {}))
    assert cluster.describe_broker_throttles([]) == {}


def _throttles_are(cluster: Cluster, broker: int, expected: dict[str, str]) -> None:
    assert cluster.describe_broker_throttles([broker]) == {broker: expected}


def test_electing_the_preferred_leader_that_leads_already_succeeds(
    cluster: Cluster, prefix: str
) -> None:
    name = f"{prefix}led"
    create(cluster, NewTopicRequest(name, 2, 1))

    def leaders_known() -> None:
        _, metadata = cluster.describe()
        assert metadata[name].leaders == tuple(r[0] for r in metadata[name].replicas)

    eventually(leaders_known)

    assert cluster.elect_preferred_leaders([(name, 0), (name, 1)]) == {
        (name, 0): None,
        (name, 1): None,
    }
    assert cluster.elect_preferred_leaders([]) == {}
