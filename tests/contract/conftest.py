"""Fixtures of the contract tests: each test runs twice, once against the in-memory double
(tests/fakes.py) and once against the real adapter on the local stack (scripts/stack).

The real ones are built the way kafkaplan builds them (``kafkaplan.commands.connect`` and
``connect_registry`` on a project file), from the settings ``scripts/stack env`` exports,
as the stack's admin user. Without the stack the real cases fail; they never skip. They
carry the ``integration`` marker, so ``-m "not integration"`` runs the fast half alone.

Every test names what it creates after its own unique prefix, and what it created is
deleted again when it ends, so the tests share the stack with every other suite.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from confluent_kafka import Producer

from kafkaplan.commands import connect, connect_registry, load_context
from kafkaplan.errors import KafkaplanError
from kafkaplan.live.cluster import Cluster, GroupMember, ScramChange
from kafkaplan.live.registry import Registry
from tests import clients
from tests.fakes import FakeGroup, FakeLog, MemoryCluster, MemoryRegistry
from tests.integration.conftest import REQUIRED
from tests.integration.conftest import Registry as PlainRegistry

# The local stack runs one broker; the double is given as many.
STACK_BROKERS = 1

PROJECT = """\
specs: [specs]
default_environment: contract
environments:
  contract:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: {protocol}
      sasl_mechanism: {mechanism}
      sasl_username: {username}
      sasl_password_env: {password_env}
      timeout: 20s
    schema_registry:
      url: ${{env:KAFKAPLAN_SCHEMA_REGISTRY_URL}}
"""

KINDS = ["fake", pytest.param("real", marks=pytest.mark.integration)]

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.2) -> T:
    """Poll ``check`` until it stops raising AssertionError, or re-raise at the deadline. A
    real broker applies metadata changes (new topics, ACLs, dynamic configs) a moment after
    it answers the request; the double at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        pytest.fail(
            f"the local stack's settings are missing ({', '.join(missing)}): run the suite "
            'with `make test`, or `scripts/stack up && eval "$(scripts/stack env)"` first',
            pytrace=False,
        )
    return dict(os.environ)


def write_project(root: Path, env: dict[str, str], username: str, password_env: str) -> Path:
    (root / "specs").mkdir()
    (root / "kafkaplan.yaml").write_text(
        PROJECT.format(
            protocol=env.get("KAFKAPLAN_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            mechanism=env.get("KAFKAPLAN_SASL_MECHANISM", "SCRAM-SHA-512"),
            username=username,
            password_env=password_env,
        )
    )
    return root / "kafkaplan.yaml"


@pytest.fixture(scope="session")
def stack_project(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project file whose one environment points at the stack, as the admin user."""
    return write_project(
        tmp_path_factory.mktemp("contract-project"),
        stack_env,
        "${env:KAFKAPLAN_SASL_USERNAME}",
        "KAFKAPLAN_SASL_PASSWORD",
    )


@pytest.fixture(scope="session")
def real_unprivileged_cluster(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """The stack's broker as alice, a user the stack grants nothing."""
    project = write_project(
        tmp_path_factory.mktemp("contract-unprivileged"),
        stack_env,
        stack_env.get("KAFKAPLAN_STACK_USER_ALICE", "alice"),
        "KAFKAPLAN_STACK_PASSWORD_ALICE",
    )
    cluster = connect(load_context(project, None, specs=False), read_only=True, environ=stack_env)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def real_unprivileged_writer(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """The stack's broker as alice, with writes allowed (the broker refuses them)."""
    project = write_project(
        tmp_path_factory.mktemp("contract-unprivileged-writer"),
        stack_env,
        stack_env.get("KAFKAPLAN_STACK_USER_ALICE", "alice"),
        "KAFKAPLAN_STACK_PASSWORD_ALICE",
    )
    cluster = connect(load_context(project, None, specs=False), read_only=False, environ=stack_env)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def real_cluster(stack_project: Path, stack_env: dict[str, str]) -> Iterator[Cluster]:
    context = load_context(stack_project, None, specs=False)
    cluster = connect(context, read_only=False, environ=stack_env)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def real_registry(stack_project: Path, stack_env: dict[str, str]) -> Iterator[Registry]:
    context = load_context(stack_project, None, specs=False)
    registry = connect_registry(context, read_only=False, environ=stack_env)
    assert registry is not None, "the stack's project has a schema_registry"
    yield registry
    registry.close()


@pytest.fixture
def prefix() -> str:
    """This test's unique prefix for topic names, principals and subjects."""
    return "ct" + uuid.uuid4().hex[:10] + "-"


@pytest.fixture(params=KINDS)
def cluster(request: pytest.FixtureRequest, prefix: str) -> Iterator[Cluster]:
    if request.param == "fake":
        yield MemoryCluster(brokers=STACK_BROKERS)
        return
    real: Cluster = request.getfixturevalue("real_cluster")
    yield real
    _clean_cluster(real, prefix)


@pytest.fixture
def unprivileged(
    cluster: Cluster, request: pytest.FixtureRequest
) -> Callable[[list[str]], Cluster]:
    """The cluster under test as seen by a principal without any ACL, asked about ``names``
    (the double is told which names that principal may not describe)."""
    if isinstance(cluster, MemoryCluster):
        fake = cluster
        return lambda names: MemoryCluster(
            brokers=fake.brokers,
            topics=fake.topics,
            hidden_topics=set(names),
            # Nothing on the cluster either: no DESCRIBE_CONFIGS, no ALTER_CONFIGS.
            denied_operations={"describe_quotas", "alter_quotas", "describe_acls"},
        )
    real: Cluster = request.getfixturevalue("real_unprivileged_cluster")
    return lambda names: real


def _clean_cluster(cluster: Cluster, prefix: str) -> None:
    """Delete this test's topics, ACL bindings and client quotas (their names or
    principals carry the prefix)."""
    _, topics = cluster.describe()
    doomed = [name for name in topics if name.startswith(prefix)]
    if doomed:
        failed = {n: e for n, e in cluster.delete_topics(doomed).items() if e is not None}
        assert not failed, failed
    quotas = {
        entity: dict.fromkeys(keys)
        for entity, keys in cluster.describe_quotas().items()
        if any(name.startswith(prefix) for name in entity.names())
    }
    if quotas:
        failed_quotas = {e: r for e, r in cluster.alter_quotas(quotas).items() if r is not None}
        assert not failed_quotas, failed_quotas
    bindings, _ = cluster.describe_acls()
    mine = [b for b in bindings if prefix in b.principal or b.resource_name.startswith(prefix)]
    if mine:
        failed_acls = {b: e for b, e in cluster.delete_acls(mine).items() if e is not None}
        assert not failed_acls, failed_acls
    users = {
        name: ScramChange(deletions=tuple(creds))
        for name, creds in cluster.describe_user_scram_credentials().items()
        if name.startswith(prefix)
    }
    if users:
        failed_users = {
            n: e for n, e in cluster.alter_user_scram_credentials(users).items() if e is not None
        }
        assert not failed_users, failed_users


@pytest.fixture(params=KINDS)
def registry(request: pytest.FixtureRequest, prefix: str) -> Iterator[Registry]:
    if request.param == "fake":
        yield MemoryRegistry()
        return
    real: Registry = request.getfixturevalue("real_registry")
    plain = PlainRegistry(request.getfixturevalue("stack_env")["KAFKAPLAN_SCHEMA_REGISTRY_URL"])
    global_level = real.global_compatibility()
    yield real
    # Subjects soft then hard, and their levels (kept after the subject on Apicurio).
    plain.purge(prefix)
    assert real.global_compatibility() == global_level


@dataclass
class Messages:
    """Writes messages to a topic of the cluster under test, through the back door: the
    ``Cluster`` protocol only reads message counts."""

    produce: Callable[[str, int, int], None]


@pytest.fixture
def messages(cluster: Cluster, request: pytest.FixtureRequest) -> Messages:
    if isinstance(cluster, MemoryCluster):
        fake = cluster

        def produce_fake(topic: str, partition: int, count: int) -> None:
            fake.messages[topic] = fake.messages.get(topic, 0) + count

        return Messages(produce_fake)
    env: dict[str, str] = request.getfixturevalue("stack_env")
    producer = Producer(
        {
            "bootstrap.servers": env["KAFKAPLAN_BOOTSTRAP_SERVERS"],
            "security.protocol": env.get("KAFKAPLAN_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            "sasl.mechanism": env.get("KAFKAPLAN_SASL_MECHANISM", "SCRAM-SHA-512"),
            "sasl.username": env["KAFKAPLAN_SASL_USERNAME"],
            "sasl.password": env["KAFKAPLAN_SASL_PASSWORD"],
        }
    )

    def produce_real(topic: str, partition: int, count: int) -> None:
        errors: list[str] = []

        def delivered(error: object, _: object) -> None:
            if error is not None:
                errors.append(str(error))

        for index in range(count):
            producer.produce(
                topic, value=b"m%d" % index, partition=partition, on_delivery=delivered
            )
        left = producer.flush(30)
        assert left == 0, f"{left} message(s) not delivered"
        assert not errors, errors

    return Messages(produce_real)


@dataclass
class Groups:
    """Records with known timestamps and consumer groups on the cluster under test, through
    the back door (the ``Cluster`` protocol only reads them). Topics of one partition."""

    # (topic, partition, timestamps in ms)
    write: Callable[[str, int, list[int]], None]
    # (group, topic, records to read and commit, client id) -> close (leaves the group)
    member: Callable[[str, str, int, str], Callable[[], None]]
    # (group, {(topic, partition): offset}): a group without members
    commit: Callable[[str, dict[tuple[str, int], int]], None]


@pytest.fixture
def groups(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Groups]:
    if isinstance(cluster, MemoryCluster):
        fake = cluster

        def write_fake(topic: str, partition: int, timestamps: list[int]) -> None:
            fake.logs.setdefault((topic, partition), FakeLog()).timestamps.extend(timestamps)

        def member_fake(group: str, topic: str, count: int, client_id: str) -> Callable[[], None]:
            member = GroupMember(f"{client_id}-1", client_id, "/127.0.0.1", ((topic, 0),))
            fake.groups[group] = FakeGroup("STABLE", [member], {(topic, 0): count})

            def close() -> None:
                fake.groups[group] = FakeGroup("EMPTY", [], fake.groups[group].offsets)

            return close

        def commit_fake(group: str, offsets: dict[tuple[str, int], int]) -> None:
            fake.groups[group] = FakeGroup("EMPTY", [], dict(offsets))

        yield Groups(write_fake, member_fake, commit_fake)
        return
    env: dict[str, str] = request.getfixturevalue("stack_env")
    made: list[str] = []
    readers: list[clients.Reader] = []

    def member_real(group: str, topic: str, count: int, client_id: str) -> Callable[[], None]:
        made.append(group)
        reader = clients.consume_and_commit(env, group, topic, count, client_id=client_id)
        readers.append(reader)
        return reader.close

    def commit_real(group: str, offsets: dict[tuple[str, int], int]) -> None:
        made.append(group)
        clients.commit_offsets(env, group, offsets)

    yield Groups(
        lambda topic, partition, stamps: clients.produce_at(env, topic, partition, stamps),
        member_real,
        commit_real,
    )
    for reader in readers:
        reader.close()
    clients.delete_groups(env, made)


def no_error(results: Mapping[T, KafkaplanError | None]) -> None:
    """Every result of a write is a success."""
    failed = {key: str(error) for key, error in results.items() if error is not None}
    assert not failed, failed
