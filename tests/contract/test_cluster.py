"""The ``Cluster`` protocol's behaviour that kafkaplan relies on, the same for the in-memory
double (``MemoryCluster``) and for ``KafkaCluster`` on the real broker.

Reads after a write poll (``eventually``): a real broker applies a change to its metadata a
moment after it answers. Errors are checked by type and by the fields kafkaplan reads
(``resource``, ``code``), never by the broker's wording.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import pytest
from msgspec.structs import replace

from kafkaplan.errors import ClusterError, ClusterTransient, PermissionDenied
from kafkaplan.live.cluster import Cluster, NewTopicRequest, ScramChange
from kafkaplan.live.features import REMOVED_TOPIC_CONFIGS
from kafkaplan.live.state import BROKER_THROTTLE_CONFIGS, ConfigSource
from kafkaplan.spec.acls import Binding, Operation, PatternType, Permission, ResourceType
from kafkaplan.spec.quotas import QuotaEntity
from kafkaplan.spec.topic_configs import TOPIC_CONFIGS
from tests.contract.conftest import Groups, Messages, eventually, no_error
from tests.fakes import BROKER_DEFAULTS, MemoryCluster

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
    # Every config kafkaplan manages is reported for every topic (but those the broker's
    # release removed), none as sensitive.
    removed = {
        key
        for key, (release, _) in REMOVED_TOPIC_CONFIGS.items()
        if cluster.describe_features().at_least(release)
    }
    assert set(TOPIC_CONFIGS) - removed <= set(plain_configs)
    assert not removed & set(plain_configs)
    assert not any(c.sensitive for c in (*tuned_configs.values(), *plain_configs.values()))
    assert not any(c.is_override for c in plain_configs.values())
    # The double's broker defaults are the real broker's.
    assert {key: plain_configs[key].value for key in BROKER_DEFAULTS} == BROKER_DEFAULTS


def test_describe_topic_configs_keeps_the_asked_keys_and_the_overrides(
    cluster: Cluster, prefix: str
) -> None:
    tuned = f"{prefix}tuned"
    create(cluster, NewTopicRequest(tuned, 1, 1, {"cleanup.policy": "compact"}))

    configs = cluster.describe_topic_configs([tuned], keys={"retention.ms"})[tuned]

    assert isinstance(configs, dict), configs
    assert sorted(configs) == ["cleanup.policy", "retention.ms"]
    assert configs["cleanup.policy"].is_override
    assert not configs["retention.ms"].is_override
    assert configs["retention.ms"].value == BROKER_DEFAULTS["retention.ms"]


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


def test_describe_log_dirs_gives_each_replicas_size_on_disk(
    cluster: Cluster, groups: Groups, prefix: str
) -> None:
    name = f"{prefix}sizes"
    create(cluster, NewTopicRequest(name, 2, 1))
    groups.write(name, 0, [int(time.time()) * 1000] * 5)
    both = [(name, 0), (name, 1)]

    def written() -> dict[tuple[str, int], dict[int, int]]:
        sizes = cluster.describe_log_dirs([*both, (f"{prefix}no-such-topic", 0)])
        assert set(sizes) == set(both)
        assert all(size > 0 for size in sizes[(name, 0)].values())
        return sizes

    sizes = eventually(written)
    # One replica each (replication factor 1), on a broker of the cluster; nothing written
    # to partition 1.
    assert [len(replicas) for replicas in sizes.values()] == [1, 1]
    assert list(sizes[(name, 1)].values()) == [0]
    assert cluster.describe_log_dirs([]) == {}


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


def test_topics_exist_answers_for_the_named_topics_alone(cluster: Cluster, prefix: str) -> None:
    present, missing = f"{prefix}present", f"{prefix}missing"
    create(cluster, NewTopicRequest(present, 1, 1))

    assert cluster.topics_exist([present, missing]) == {present: True, missing: False}
    assert cluster.topics_exist([]) == {}


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
    with pytest.raises(PermissionDenied):
        viewer.topics_exist([present])


def test_a_principal_without_describe_on_the_cluster_cannot_ask_for_bindings(
    cluster: Cluster, unprivileged: Callable[[list[str]], Cluster], prefix: str
) -> None:
    binding = bindings_of(prefix)[0]
    no_error(cluster.create_acls([binding]))
    eventually(lambda: assert_shown(cluster, binding))
    viewer = unprivileged([])

    with pytest.raises(PermissionDenied) as refused:
        viewer.acls_exist([binding])
    assert "CLUSTER_AUTHORIZATION_FAILED" in str(refused.value)
    with pytest.raises(PermissionDenied):
        viewer.describe_acls()
    no_error(cluster.delete_acls([binding]))


def assert_shown(cluster: Cluster, binding: Binding) -> None:
    assert cluster.acls_exist([binding]) == {binding: True}


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
    # Asked for one by one: exactly these, not a binding differing in pattern type or host.
    lookalikes = [
        replace(wanted[0], pattern_type=PatternType.PREFIXED),
        replace(wanted[-1], host="*"),
    ]
    assert cluster.acls_exist([*wanted, *lookalikes]) == {
        **dict.fromkeys(wanted, True),
        **dict.fromkeys(lookalikes, False),
    }
    assert cluster.acls_exist([]) == {}
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
    assert cluster.acls_exist(doomed) == dict.fromkeys(doomed, False)
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


# -- SCRAM users ----------------------------------------------------------------------------


def _users_of(cluster: Cluster, prefix: str) -> dict[str, dict[str, int]]:
    return {
        name: creds
        for name, creds in cluster.describe_user_scram_credentials().items()
        if name.startswith(prefix)
    }


def test_scram_users_are_created_updated_and_deleted_by_mechanism(
    cluster: Cluster, prefix: str
) -> None:
    both, one = f"{prefix}both", f"{prefix}one"
    password = "pw-" + prefix

    created = cluster.alter_user_scram_credentials(
        {
            both: ScramChange(
                upserts={"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 8192}, password=password
            ),
            one: ScramChange(upserts={"SCRAM-SHA-512": 4096}, password=password),
        }
    )

    assert created == {both: None, one: None}
    assert eventually(
        lambda: _shows(
            cluster,
            prefix,
            {
                both: {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 8192},
                one: {"SCRAM-SHA-512": 4096},
            },
        )
    )
    # Iterations changed and a mechanism dropped in one change of one user.
    changed = cluster.alter_user_scram_credentials(
        {
            both: ScramChange(
                upserts={"SCRAM-SHA-512": 4096}, deletions=("SCRAM-SHA-256",), password=password
            )
        }
    )
    assert changed == {both: None}
    assert eventually(
        lambda: _shows(
            cluster,
            prefix,
            {
                both: {"SCRAM-SHA-512": 4096},
                one: {"SCRAM-SHA-512": 4096},
            },
        )
    )
    deleted = cluster.alter_user_scram_credentials(
        {
            both: ScramChange(deletions=("SCRAM-SHA-512",)),
            one: ScramChange(deletions=("SCRAM-SHA-512",)),
        }
    )
    assert deleted == {both: None, one: None}
    assert eventually(lambda: _shows(cluster, prefix, {}))


def _shows(cluster: Cluster, prefix: str, expected: dict[str, dict[str, int]]) -> bool:
    found = _users_of(cluster, prefix)
    assert found == expected, found
    return True


def test_scram_refusals_name_their_user_and_spare_the_others(cluster: Cluster, prefix: str) -> None:
    few, many, good, absent = (f"{prefix}{n}" for n in ("few", "many", "good", "absent"))

    results = cluster.alter_user_scram_credentials(
        {
            few: ScramChange(upserts={"SCRAM-SHA-256": 4095}, password="pw"),
            many: ScramChange(upserts={"SCRAM-SHA-512": 16385}, password="pw"),
            good: ScramChange(upserts={"SCRAM-SHA-256": 16384}, password="pw"),
            absent: ScramChange(deletions=("SCRAM-SHA-256",)),
        }
    )

    for name, code in (
        (few, "UNACCEPTABLE_CREDENTIAL"),
        (many, "UNACCEPTABLE_CREDENTIAL"),
        (absent, "RESOURCE_NOT_FOUND"),
    ):
        error = results[name]
        assert isinstance(error, ClusterError), (name, error)
        assert not isinstance(error, ClusterTransient), error
        assert (error.resource, error.code) == (f"user.{name}", code)
    assert results[good] is None
    assert eventually(lambda: _shows(cluster, prefix, {good: {"SCRAM-SHA-256": 16384}}))


def test_a_principal_without_cluster_permissions_may_not_read_or_change_scram_users(
    cluster: Cluster, request: pytest.FixtureRequest, prefix: str
) -> None:
    viewer: Cluster
    if isinstance(cluster, MemoryCluster):
        viewer = MemoryCluster(denied_operations={"describe_scram", "alter_scram"})
    else:
        viewer = request.getfixturevalue("real_unprivileged_writer")

    with pytest.raises(PermissionDenied) as raised:
        viewer.describe_user_scram_credentials()

    assert raised.value.resource == "user"
    assert "DESCRIBE on the cluster" in (raised.value.hint or "")
    name = f"{prefix}denied"
    refused = viewer.alter_user_scram_credentials(
        {name: ScramChange(upserts={"SCRAM-SHA-512": 4096}, password="pw")}
    )[name]
    assert isinstance(refused, PermissionDenied), refused
    assert refused.resource == f"user.{name}"
    assert "ALTER on the cluster" in (refused.hint or "")
    assert name not in cluster.describe_user_scram_credentials()


# -- group configs and features (Kafka 4.x) -------------------------------------------------


def test_features_name_the_release_line(cluster: Cluster) -> None:
    features = cluster.describe_features()
    assert features.release is not None
    assert features.at_least((4, 0)), features
    # metadata.version is finalized at a level the software supports.
    low, high = features.supported["metadata.version"]
    assert low <= features.finalized["metadata.version"] <= high
    assert features.finalized.get("group.version", 0) >= 1


def _group_is(cluster: Cluster, group_id: str, expected: dict[str, str]) -> None:
    described = cluster.describe_group_configs([group_id])[group_id]
    assert not isinstance(described, ClusterError), described
    assert dict(described.overrides) == expected


def test_group_configs_are_set_dry_run_read_and_removed(cluster: Cluster, prefix: str) -> None:
    group_id, other = f"{prefix}billing", f"{prefix}other"
    described = cluster.describe_group_configs([group_id, other])
    assert set(described) == {group_id, other}
    fresh = described[group_id]
    assert not isinstance(fresh, ClusterError), fresh
    # A group nobody configured: no values of its own, every key at the broker's default.
    assert dict(fresh.overrides) == {}
    assert fresh.effective["consumer.session.timeout.ms"] == "45000"
    assert {"consumer.heartbeat.interval.ms", "share.session.timeout.ms"} <= fresh.known

    change = {"consumer.session.timeout.ms": "50000", "consumer.heartbeat.interval.ms": "6000"}
    assert cluster.alter_group_configs({group_id: change}, validate_only=True) == {group_id: None}
    _group_is(cluster, group_id, {})  # validate-only changed nothing

    assert cluster.alter_group_configs({group_id: change}) == {group_id: None}
    eventually(lambda: _group_is(cluster, group_id, change))
    assert cluster.alter_group_configs({group_id: {"consumer.heartbeat.interval.ms": None}}) == {
        group_id: None
    }
    eventually(lambda: _group_is(cluster, group_id, {"consumer.session.timeout.ms": "50000"}))
    assert group_id in cluster.list_group_config_ids()
    no_error(cluster.alter_group_configs({group_id: {"consumer.session.timeout.ms": None}}))
    eventually(lambda: _group_is(cluster, group_id, {}))


def test_group_config_refusals_are_final_and_name_the_group(cluster: Cluster, prefix: str) -> None:
    unknown, low, garbled = f"{prefix}unknown", f"{prefix}low", f"{prefix}garbled"
    results = cluster.alter_group_configs(
        {
            unknown: {"consumer.no.such.config": "1"},
            low: {"consumer.session.timeout.ms": "1000"},
            garbled: {"consumer.session.timeout.ms": "soon"},
        },
        validate_only=True,
    )
    for group_id in (unknown, low, garbled):
        error = results[group_id]
        assert isinstance(error, ClusterError), (group_id, error)
        assert not isinstance(error, ClusterTransient), error
        assert error.resource == f"group.{group_id}"
        assert error.code == "INVALID_CONFIG"


def test_an_unprivileged_principal_may_not_read_group_configs(
    cluster: Cluster, prefix: str, request: pytest.FixtureRequest
) -> None:
    group_id = f"{prefix}billing"
    if isinstance(cluster, MemoryCluster):
        limited: Cluster = MemoryCluster(denied_operations={"describe_group_configs"})
    else:
        limited = request.getfixturevalue("real_unprivileged_cluster")
    error = limited.describe_group_configs([group_id])[group_id]
    assert isinstance(error, PermissionDenied), error
    assert error.resource == f"group.{group_id}"
    assert error.hint == "grant DESCRIBE_CONFIGS on the managed groups"


# -- client quotas ------------------------------------------------------------------------


def quotas_of(cluster: Cluster, prefix: str) -> dict[QuotaEntity, dict[str, float]]:
    return {
        entity: keys
        for entity, keys in cluster.describe_quotas().items()
        if any(name.startswith(prefix) for name in entity.names())
    }


def test_quotas_are_set_described_and_removed_in_one_request(cluster: Cluster, prefix: str) -> None:
    user = QuotaEntity.of(user=f"{prefix}app")
    pair = QuotaEntity.of(user=f"{prefix}app", client_id="<default>")
    client = QuotaEntity.of(client_id=f"{prefix}cli")
    wanted: dict[QuotaEntity, dict[str, float | None]] = {
        user: {"producer_byte_rate": 10485760.0, "consumer_byte_rate": 2048.0},
        pair: {"request_percentage": 12.5},
        client: {"controller_mutation_rate": 0.5},
    }

    assert cluster.alter_quotas(wanted) == dict.fromkeys(wanted)

    def described() -> None:
        assert quotas_of(cluster, prefix) == wanted

    eventually(described)
    # Removing a key leaves the others; removing the last one removes the entity.
    no_error_quotas(
        cluster.alter_quotas(
            {user: {"consumer_byte_rate": None}, client: {"controller_mutation_rate": None}}
        )
    )

    def removed() -> None:
        assert quotas_of(cluster, prefix) == {
            user: {"producer_byte_rate": 10485760.0},
            pair: {"request_percentage": 12.5},
        }

    eventually(removed)
    no_error_quotas(
        cluster.alter_quotas(
            {user: {"producer_byte_rate": None}, pair: {"request_percentage": None}}
        )
    )
    eventually(lambda: _no_quotas(cluster, prefix))
    assert cluster.alter_quotas({}) == {}


def _no_quotas(cluster: Cluster, prefix: str) -> None:
    assert quotas_of(cluster, prefix) == {}


def no_error_quotas(results: Mapping[QuotaEntity, ClusterError | None]) -> None:
    assert {e: r for e, r in results.items() if r is not None} == {}


def test_validate_only_quota_changes_are_judged_per_entity_and_change_nothing(
    cluster: Cluster, prefix: str
) -> None:
    good = QuotaEntity.of(user=f"{prefix}ok")
    wrong_key = QuotaEntity.of(user=f"{prefix}conn")
    fractional = QuotaEntity.of(user=f"{prefix}frac")
    ip = QuotaEntity.of(ip="192.0.2.77")

    results = cluster.alter_quotas(
        {
            good: {"request_percentage": 5.0},
            wrong_key: {"connection_creation_rate": 5.0},
            fractional: {"producer_byte_rate": 1.5},
            ip: {"producer_byte_rate": 1024.0},
        },
        validate_only=True,
    )

    assert results[good] is None
    refusals = {entity: results[entity] for entity in (wrong_key, fractional, ip)}
    assert {e: (r.code if r else None) for e, r in refusals.items()} == dict.fromkeys(
        refusals, "INVALID_REQUEST"
    )
    assert str(refusals[wrong_key]) == (
        f"quota.user={prefix}conn: Invalid configuration key connection_creation_rate "
        "(INVALID_REQUEST) (hint: check the quota keys and values against docs/quotas.md)"
    )
    assert "cannot be a fractional value" in str(refusals[fractional])
    assert quotas_of(cluster, prefix) == {}
    assert ip not in cluster.describe_quotas()


def test_a_principal_without_describe_configs_cannot_read_quotas(
    cluster: Cluster, unprivileged: Callable[[list[str]], Cluster]
) -> None:
    viewer = unprivileged([])
    entity = QuotaEntity.of(user="nobody")

    with pytest.raises(PermissionDenied) as refused_read:
        viewer.describe_quotas()

    assert refused_read.value.code == "CLUSTER_AUTHORIZATION_FAILED"
    assert refused_read.value.hint == (
        "grant DESCRIBE_CONFIGS on the cluster: reading client quotas needs it"
    )
    refused = viewer.alter_quotas({entity: {"request_percentage": 1.0}}, validate_only=True)
    assert isinstance(refused[entity], PermissionDenied)
