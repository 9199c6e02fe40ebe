"""Replication-factor changes against a real three-broker cluster.

The test starts its own stack (``scripts/stack up --brokers 3 --no-registry``: a dedicated
KRaft controller and three brokers on racks rack-a/b/c) in its own stack dir and ports,
and stops it at the end. Data produced before the changes is all there, unchanged, after
1 -> 3 (first throttled so hard that apply times out and the next apply finishes the
reassignment it left running) and 3 -> 2.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType

from tests.integration.conftest import (
    Project,
    eventually,
    free_port,
    port_is_free,
    run_stack,
    stack_settings,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BROKERS = 3
RECORDS = 1500
VALUE_BYTES = 4096  # ~2 MB per partition: more than one replica fetch can copy at once


@functools.cache
def ports() -> dict[str, str]:
    """Free ports for this session's stack: BROKERS consecutive ones for the brokers (the
    stack puts broker i on KAFKA_PORT + i - 1), one for the controller."""
    rng, taken = random.Random(), set[int]()
    for _ in range(200):
        base = free_port(rng, taken)
        rest = [base + i for i in range(1, BROKERS)]
        if all(port not in taken and port_is_free(port) for port in rest):
            taken.update(rest)
            return {
                "KAFKAPLAN_STACK_KAFKA_PORT": str(base),
                "KAFKAPLAN_STACK_CONTROLLER_PORT": str(free_port(rng, taken)),
                # Unused (--no-registry), but kept off the main stack's ports.
                "KAFKAPLAN_STACK_REGISTRY_PORT": str(free_port(rng, taken)),
                "KAFKAPLAN_STACK_REGISTRY_MANAGEMENT_PORT": str(free_port(rng, taken)),
            }
    raise RuntimeError(f"no {BROKERS} consecutive free ports")


def stack_env() -> dict[str, str]:
    directory = ROOT / ".stack-replication"
    directory.mkdir(exist_ok=True)
    cache = directory / "cache"
    if not cache.exists():
        # Share the downloads of the main stack (same Kafka version) instead of fetching again.
        main = Path(os.environ.get("KAFKAPLAN_STACK_DIR", ROOT / ".stack")) / "cache"
        if main.is_dir():
            cache.symlink_to(main.resolve())
    return {**os.environ, **ports(), "KAFKAPLAN_STACK_DIR": str(directory)}


@pytest.fixture(scope="session")
def cluster3() -> Iterator[dict[str, str]]:
    """A three-broker stack of this test's own; its client settings."""
    env = stack_env()
    try:
        started = run_stack(env, "up", "--brokers", str(BROKERS), "--no-registry", timeout=300)
    except subprocess.TimeoutExpired as exc:
        run_stack(env, "down", timeout=120)
        pytest.fail(f"the three-broker stack did not start within {exc.timeout}s", pytrace=False)
    if started.returncode != 0:
        run_stack(env, "down", timeout=120)
        pytest.fail(
            "could not start the three-broker stack (scripts/stack up --brokers 3):\n"
            + started.stderr[-4000:],
            pytrace=False,
        )
    try:
        yield stack_settings(env)
    finally:
        run_stack(env, "down", timeout=120)


def client(settings: dict[str, str]) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": settings["KAFKAPLAN_SASL_USERNAME"],
        "sasl.password": settings["KAFKAPLAN_SASL_PASSWORD"],
    }


PROJECT = """\
specs: [specs]
default_environment: rf
reassignment:
  throttle: {throttle}
  timeout: {timeout}
  poll_interval: 250ms
environments:
  rf:
    kafka:
      bootstrap_servers: {servers}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: admin
      sasl_password_env: KAFKAPLAN_RF_PASSWORD
      timeout: 20s
    defaults: {{partitions: 3, replication_factor: 1}}
"""


def configure(project: Project, settings: dict[str, str], throttle: str, timeout: str) -> None:
    project.write(
        "kafkaplan.yaml",
        PROJECT.format(
            throttle=throttle, timeout=timeout, servers=settings["KAFKAPLAN_BOOTSTRAP_SERVERS"]
        ),
    )


def value_of(index: int) -> bytes:
    seed = hashlib.sha256(str(index).encode()).hexdigest().encode()
    return (seed * (VALUE_BYTES // len(seed) + 1))[:VALUE_BYTES]


def produce(settings: dict[str, str], topic: str) -> None:
    producer = Producer({**client(settings), "acks": "all", "linger.ms": 20})
    for index in range(RECORDS):
        producer.produce(topic, key=str(index).encode(), value=value_of(index))
        if index % 500 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def consume(settings: dict[str, str], topic: str) -> dict[int, bytes]:
    consumer = Consumer(
        {
            **client(settings),
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: dict[int, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                if len(seen) >= RECORDS:
                    break
                continue
            assert message.error() is None, message.error()
            raw_key, value = message.key(), message.value()
            assert raw_key is not None
            assert value is not None
            key = int(raw_key)
            assert key not in seen, f"record {key} read twice"
            seen[key] = value
    finally:
        consumer.close()
    return seen


def replicas(admin: AdminClient, topic: str) -> list[tuple[list[int], list[int], int]]:
    """Per partition: (replicas, in-sync replicas, leader)."""
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    return [(list(p.replicas), sorted(p.isrs), p.leader) for _, p in sorted(partitions.items())]


def throttles(admin: AdminClient, topic: str) -> dict[str, str]:
    """Dynamic replication throttles on the topic and on any broker."""
    resources = [ConfigResource(ResourceType.TOPIC, topic)] + [
        ConfigResource(ResourceType.BROKER, str(b)) for b in (1, 2, 3)
    ]
    found = {}
    answers = {}
    for resource in resources:  # librdkafka: one BROKER resource per request
        answers.update(admin.describe_configs([resource]))
    for resource, future in answers.items():
        for key, entry in future.result().items():
            dynamic = ConfigSource(entry.source).name in (
                "DYNAMIC_TOPIC_CONFIG",
                "DYNAMIC_BROKER_CONFIG",
            )
            if "throttled" in key and dynamic:
                found[f"{resource.name}:{key}"] = entry.value
    return found


def test_replication_factor_up_and_down_keeps_every_record(
    cluster3: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = AdminClient(client(cluster3))
    assert len(admin.describe_cluster().result().nodes) == 3
    racks = {n.id: n.rack for n in admin.describe_cluster().result().nodes}
    assert racks == {1: "rack-a", 2: "rack-b", 3: "rack-c"}

    prefix = "r" + uuid.uuid4().hex[:8]
    root = tmp_path / prefix
    (root / "specs").mkdir(parents=True)
    project = Project(root, prefix, capsys, monkeypatch)
    project.env["KAFKAPLAN_RF_PASSWORD"] = cluster3["KAFKAPLAN_SASL_PASSWORD"]
    topic = project.name("orders")
    spec = f"topics:\n  - name: {topic}\n    replication_factor: {{rf}}\n"

    configure(project, cluster3, throttle="50MiB", timeout="60s")
    project.specs(spec.format(rf=1))
    created = project.run("apply", "--auto-approve")
    assert created.code == 0, created.out + created.err
    produce(cluster3, topic)

    # 1 -> 3, throttled to a trickle: apply gives up waiting and says so; the copy goes on.
    configure(project, cluster3, throttle="8KiB", timeout="2s")
    project.specs(spec.format(rf=3))
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    assert "~ replication_factor  1 -> 3" in plan.out
    assert "! data-movement: replicas are added to 3 partition(s)" in plan.out
    slow = project.run("apply", "--auto-approve")
    assert slow.code == 1, slow.out + slow.err
    assert "failed: replicas: reassignment still in progress after 2s" in slow.out
    left = throttles(admin, topic)
    assert left[f"{topic}:leader.replication.throttled.replicas"]
    assert left["1:follower.replication.throttled.rate"] == str(8 * 1024)

    # The next run finds it in progress, waits for it (now at full speed) and cleans up.
    configure(project, cluster3, throttle="50MiB", timeout="90s")
    resumed_plan = project.run("plan")
    assert "a partition reassignment is in progress on" in resumed_plan.out, resumed_plan.out
    resumed = project.run("apply", "--auto-approve")
    assert resumed.code == 0, resumed.out + resumed.err
    state = replicas(admin, topic)
    for partition_replicas, isr, leader in state:
        assert len(partition_replicas) == 3
        assert {racks[b] for b in partition_replicas} == {"rack-a", "rack-b", "rack-c"}
        assert isr == sorted(partition_replicas)
        assert leader == partition_replicas[0], "preferred leader"
    assert throttles(admin, topic) == {}
    assert project.run("plan", "--detailed-exitcode").code == 0

    # 3 -> 2: the leader keeps its place, one replica goes, nothing is copied.
    project.specs(spec.format(rf=2))
    plan = project.run("plan")
    assert "! durability: replication factor 3 -> 2" in plan.out
    down = project.run("apply", "--auto-approve")
    assert down.code == 0, down.out + down.err

    def shrunk() -> None:
        now = replicas(admin, topic)
        for (before, _, _), (after, isr, leader) in zip(state, now, strict=True):
            assert len(after) == 2
            assert after[0] == before[0]
            assert isr == sorted(after)
            assert leader == after[0]

    eventually(shrunk, timeout=20)
    assert throttles(admin, topic) == {}
    assert project.run("plan", "--detailed-exitcode").code == 0

    # Every record is there, once, unchanged.
    seen = consume(cluster3, topic)
    assert len(seen) == RECORDS
    assert all(seen[i] == value_of(i) for i in range(RECORDS))
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        future.result()


def test_stack_env_lists_every_broker(cluster3: dict[str, str]) -> None:
    base = int(ports()["KAFKAPLAN_STACK_KAFKA_PORT"])
    assert cluster3["KAFKAPLAN_BOOTSTRAP_SERVERS"] == ",".join(
        f"127.0.0.1:{base + i}" for i in range(BROKERS)
    )
    assert cluster3["KAFKAPLAN_STACK_BROKERS"] == str(BROKERS)
    status = run_stack(stack_env(), "status", timeout=30)
    assert status.returncode == 0, status.stdout + status.stderr
    assert textwrap.dedent(status.stdout).count("running") == 4
