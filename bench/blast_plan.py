"""How long `kafkaplan plan` takes with the blast radius, at many changed topics (a
benchmark, not a test).

Creates N topics (default 1,000; 1 partition each, batched create_topics) under a unique
prefix with retention 7d, writes one record to each, commits offsets on all of them for G
consumer groups (default 20, without joining: simple groups), writes specs that shorten
every topic's retention to 1d (so all N topics change and each is a retention cut), then
times `plan` in-process with the blast radius on and off (`blast_radius.enabled`), median
of the runs, and prints the figures. Deletes the topics and groups at the end.

    eval "$(scripts/stack env)"
    .venv/bin/python -m bench.blast_plan [--topics 1000] [--groups 20] [--runs 3] [--no-op]

``--no-op`` keeps the retention (a plan with nothing to change: what the blast radius
costs every plan that changes nothing). cProfile only sees the main thread: the reads run
on worker threads, so a profile shows their wait, not their work.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkaplan.commands import connect, load_context, make_plan
from tests.clients import delete_groups, settings

CHUNK = 500

PROJECT = """\
specs: [specs]
default_environment: bench
ignore_topics: ['^(?!{prefix})']
blast_radius:
  enabled: {enabled}
environments:
  bench:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: ${{env:KAFKAPLAN_SASL_USERNAME}}
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
      timeout: 60s
    defaults:
      partitions: 1
      replication_factor: 1
"""


_NOT_YET = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.COORDINATOR_LOAD_IN_PROGRESS)


def commit_all(env: dict[str, str], group: str, names: list[str]) -> None:
    """Commit offset 1 of every topic for ``group``; a coordinator that does not know the
    new topics yet answers UNKNOWN_TOPIC_OR_PART for a moment, and one still loading the
    offsets topic (a broker just started) COORDINATOR_LOAD_IN_PROGRESS: try again (bounded)."""
    consumer = Consumer({**settings(env), "group.id": group, "enable.auto.commit": False})
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                consumer.commit(
                    offsets=[TopicPartition(n, 0, 1) for n in names], asynchronous=False
                )
                return
            except KafkaException as exc:
                if exc.args[0].code() not in _NOT_YET:
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        consumer.close()


def leaders_ready(admin: AdminClient, names: list[str]) -> None:
    """Wait (bounded) until every new partition answers ListOffsets: right after creation
    a loaded broker answers NOT_LEADER_FOR_PARTITION for a while, longer than a plan's
    retries, and that is not what is measured."""
    from confluent_kafka.admin import OffsetSpec

    deadline = time.monotonic() + 120
    pending = [TopicPartition(name, 0) for name in names]
    while pending:
        futures = admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in pending},  # type: ignore[no-untyped-call]
            request_timeout=30,
        )
        failed = []
        for tp, future in futures.items():
            try:
                future.result()
            except KafkaException:
                failed.append(tp)
        pending = failed
        if pending and time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} partitions have no leader after 120s")
        if pending:
            time.sleep(1)


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description="Time `kafkaplan plan` with the blast radius.")
    parser.add_argument("--topics", type=int, default=1_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--profile", action="store_true", help="Also print a profile of one plan with it on."
    )
    parser.add_argument(
        "--no-op",
        action="store_true",
        help="Specs that match the cluster (retention 7d kept): a plan without changes.",
    )
    args = parser.parse_args()
    env = dict(os.environ)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    names = [f"{prefix}t{i:06d}.v1" for i in range(args.topics)]
    groups = [f"{prefix}group{i:03d}" for i in range(args.groups)]
    admin = AdminClient(settings(env))
    started = time.perf_counter()
    for start in range(0, len(names), CHUNK):
        futures = admin.create_topics(
            [
                NewTopic(n, 1, 1, config={"retention.ms": "604800000"})
                for n in names[start : start + CHUNK]
            ],
            operation_timeout=60,
        )
        for future in futures.values():
            future.result()
    print(f"created {len(names)} topics in {time.perf_counter() - started:.1f}s")
    try:
        producer = Producer(settings(env))
        for name in names:
            producer.produce(name, value=b"x", partition=0)
        assert producer.flush(600) == 0
        leaders_ready(admin, names)
        for group in groups:
            commit_all(env, group, names)
        print(f"{len(groups)} groups committed offsets on every topic")
        results = {}
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / "specs").mkdir()
            lines = ["topics:"]
            for name in names:
                retention = "7d" if args.no_op else "1d"
                lines += [f"  - name: {name}", "    configs:", f"      retention.ms: {retention}"]
            (root / "specs" / "bench.yaml").write_text("\n".join(lines) + "\n")
            for enabled in ("true", "false"):
                (root / "kafkaplan.yaml").write_text(PROJECT.format(prefix=prefix, enabled=enabled))
                timings = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    context = load_context(root / "kafkaplan.yaml", None)
                    cluster = connect(context, read_only=True)
                    plan = make_plan(context, cluster)
                    if args.no_op:
                        assert not plan.changes, plan.changes[:3]
                    timings.append(time.perf_counter() - started)
                    cluster.close()
                changed = sum(1 for c in plan.changes if c.kind.value == "topic")
                with_radius = sum(1 for c in plan.changes if c.affected is not None)
                groups_seen = {
                    g.group for c in plan.changes if c.affected for g in c.affected.groups
                }
                results[enabled] = statistics.median(timings)
                print(
                    f"blast radius {'on ' if enabled == 'true' else 'off'}: {changed} changed "
                    f"topics, {with_radius} with a blast radius, {len(groups_seen)} groups seen; "
                    f"plan median {statistics.median(timings):.2f}s "
                    f"(min {min(timings):.2f}s, max {max(timings):.2f}s, {args.runs} runs)"
                )
            if args.profile:
                import cProfile
                import pstats

                (root / "kafkaplan.yaml").write_text(PROJECT.format(prefix=prefix, enabled="true"))
                context = load_context(root / "kafkaplan.yaml", None)
                cluster = connect(context, read_only=True)
                profile = cProfile.Profile()
                profile.runcall(make_plan, context, cluster)
                cluster.close()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        print(f"blast radius cost: {results['true'] - results['false']:+.2f}s")
    finally:
        delete_groups(env, groups)
        for start in range(0, len(names), CHUNK):
            for future in admin.delete_topics(
                names[start : start + CHUNK], operation_timeout=60
            ).values():
                future.result()
        print("deleted the topics and groups")


if __name__ == "__main__":
    main()
