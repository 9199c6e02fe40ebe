"""Real producers and consumers on the local stack, for tests of what kafkaplan reads about
them: records written with known timestamps, consumer groups that consume and commit.

The stack's connection settings come from ``scripts/stack env`` (the environment).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def settings(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "bootstrap.servers": env["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        "security.protocol": env.get("KAFKAPLAN_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        "sasl.mechanism": env.get("KAFKAPLAN_SASL_MECHANISM", "SCRAM-SHA-512"),
        "sasl.username": env["KAFKAPLAN_SASL_USERNAME"],
        "sasl.password": env["KAFKAPLAN_SASL_PASSWORD"],
    }


def produce_at(
    env: Mapping[str, str], topic: str, partition: int, timestamps: Sequence[int]
) -> None:
    """Write one record per timestamp (ms, CreateTime) to ``topic``'s ``partition``."""
    producer = Producer(settings(env))
    errors: list[str] = []

    def delivered(error: object, _: object) -> None:
        if error is not None:
            errors.append(str(error))

    for index, timestamp in enumerate(timestamps):
        producer.produce(
            topic,
            value=b"r%d" % index,
            partition=partition,
            timestamp=timestamp,
            on_delivery=delivered,
        )
    left = producer.flush(30)
    assert left == 0, f"{left} record(s) not delivered"
    assert not errors, errors


@dataclass
class Reader:
    """A consumer group member that read and committed; ``close`` leaves the group EMPTY."""

    consumer: Consumer
    group: str
    client_id: str
    read: int = 0
    closed: bool = field(default=False)

    def close(self) -> None:
        if not self.closed:
            self.consumer.close()
            self.closed = True


def consume_and_commit(
    env: Mapping[str, str],
    group: str,
    topic: str,
    count: int,
    *,
    client_id: str,
    timeout: float = 60.0,
) -> Reader:
    """Join ``group`` subscribed to ``topic``, read ``count`` records from the start, commit
    their offsets (synchronously), and stay a live member until ``close``."""
    consumer = Consumer(
        {
            **settings(env),
            "group.id": group,
            "client.id": client_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 45_000,
        }
    )
    consumer.subscribe([topic])
    reader = Reader(consumer, group, client_id)
    deadline = time.monotonic() + timeout
    while reader.read < count:
        assert time.monotonic() < deadline, f"read {reader.read} of {count} record(s)"
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        reader.read += 1
        consumer.commit(message=message, asynchronous=False)
    if count == 0:
        # Wait until the group has assigned the topic to this member.
        while not consumer.assignment():
            assert time.monotonic() < deadline, "no assignment"
            consumer.poll(0.5)
    return reader


def commit_offsets(
    env: Mapping[str, str], group: str, offsets: Mapping[tuple[str, int], int]
) -> None:
    """Commit offsets for ``group`` without joining it (a simple group, no members)."""
    consumer = Consumer({**settings(env), "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            asynchronous=False,
        )
    finally:
        consumer.close()


def delete_groups(env: Mapping[str, str], groups: Sequence[str]) -> None:
    """Delete the (empty) groups a test made; already gone is fine."""
    if not groups:
        return
    admin = AdminClient(settings(env))
    for future in admin.delete_consumer_groups(list(groups), request_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() not in ("GROUP_ID_NOT_FOUND", "NON_EMPTY_GROUP"):
                raise


def partition_sizes(
    env: Mapping[str, str], partitions: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """Each partition's size on disk (its largest replica), asked with kafka-python's own
    DescribeLogDirs, beside kafkaplan's adapter."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=env["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        security_protocol=env.get("KAFKAPLAN_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        sasl_mechanism=env.get("KAFKAPLAN_SASL_MECHANISM", "SCRAM-SHA-512"),
        sasl_plain_username=env["KAFKAPLAN_SASL_USERNAME"],
        sasl_plain_password=env["KAFKAPLAN_SASL_PASSWORD"],
    )
    try:
        wanted: dict[str, list[int]] = {}
        for topic, partition in partitions:
            wanted.setdefault(topic, []).append(partition)
        sizes: dict[tuple[str, int], int] = {}
        for broker in admin.describe_log_dirs(topic_partitions=wanted):
            for log_dir in broker["log_dirs"]:
                for topic_entry in log_dir["topics"]:
                    for entry in topic_entry["partitions"]:
                        key = (topic_entry["name"], entry["partition_index"])
                        sizes[key] = max(sizes.get(key, 0), entry["partition_size"])
        return sizes
    finally:
        admin.close()
