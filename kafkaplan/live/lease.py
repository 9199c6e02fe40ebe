"""The apply lease: at most one apply changes a cluster at a time.

The lease lives in the cluster itself, in a single-partition topic (``__kafkaplan_lease`` by
default) used as an append-only log. No external lock service is needed, and a principal
that may apply also holds the lease with a handful of topic permissions.

Why a log and not just "create a topic, the loser gets TOPIC_ALREADY_EXISTS": creating is
atomic, but *taking over* an expired lease from a crashed run is not — two runs that both
see it expired would both delete and re-create it. A single partition gives every record a
total order, which is enough for compare-and-set:

- every record (``acquire``, ``renew``, ``release``) names the offset of the last valid
  record its writer saw (``base``);
- replaying the log from the start, a record is valid only if its ``base`` is the offset
  of the last valid record before it, and the transition is allowed: ``acquire`` when the
  lease is free or expired, ``renew`` and ``release`` by the holder, a forced ``release``
  (``kafkaplan unlock``) of exactly the lease its writer was shown;
- expiry is judged by the broker's log-append timestamps (the topic is created with
  ``message.timestamp.type=LogAppendTime``), the same for every reader, so no two clients'
  clocks are ever compared.

Two runs racing to take over an expired lease both append an ``acquire`` with the same
``base``; whichever the broker appends first is valid, the other is stale by construction
and its writer, re-reading, sees the winner. Duplicates from producer retries are stale in
the same way. Every writer re-reads after appending and believes only the replayed state.

An apply renews the lease between batches (after a third of the ttl has passed); a renewal
that is not valid means the lease was lost (taken over after expiring, or broken with
``unlock``) and the apply stops before its next batch.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from msgspec import Struct
from msgspec.structs import replace

from kafkaplan import __version__
from kafkaplan.errors import ClusterError, ClusterUnreachable, LeaseHeld, LeaseLost
from kafkaplan.live.connection import interruptible, make_client

log = logging.getLogger("kafkaplan.live.lease")

RECORD_VERSION = 1
POLL_SECONDS = 1.0
# Lease records are a few hundred bytes; keep a month of them.
RETENTION_MS = 30 * 86_400_000


class LeaseRecord(Struct, frozen=True):
    offset: int
    timestamp_ms: int  # the broker's log-append time
    kind: str  # acquire | renew | release
    holder: str  # the writing run's id
    base: int  # offset of the last valid record the writer saw (-1: none)
    owner: str = ""  # who, for people: user@host, pid, CI run
    ttl_ms: int = 0
    forced: bool = False


def encode(kind: str, holder: str, base: int, owner: str, ttl_ms: int, forced: bool) -> bytes:
    body = {
        "v": RECORD_VERSION,
        "kind": kind,
        "holder": holder,
        "base": base,
        "owner": owner,
        "ttl_ms": ttl_ms,
        "forced": forced,
    }
    return json.dumps(body, sort_keys=True).encode()


def decode(offset: int, timestamp_ms: int, value: bytes | None) -> LeaseRecord | None:
    """A record from the log, or None for anything that is not one of ours."""
    try:
        body = json.loads(value or b"")
        return LeaseRecord(
            offset=offset,
            timestamp_ms=timestamp_ms,
            kind=str(body["kind"]),
            holder=str(body["holder"]),
            base=int(body["base"]),
            owner=str(body.get("owner", "")),
            ttl_ms=int(body.get("ttl_ms", 0)),
            forced=bool(body.get("forced", False)),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


class LeaseState(Struct, frozen=True):
    head: int = -1  # offset of the last valid record
    holder: str | None = None
    owner: str | None = None
    since_ms: int | None = None
    expires_ms: int | None = None

    @property
    def held(self) -> bool:
        return self.holder is not None

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and now_ms >= self.expires_ms

    def describe(self) -> str:
        if not self.held:
            return "the apply lease is free"
        return (
            f"the apply lease is held by {self.owner or 'an unknown run'} since "
            f"{_time(self.since_ms)}; it expires at {_time(self.expires_ms)} unless renewed"
        )


def _time(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def replay(records: Iterable[LeaseRecord], *, truncated: bool = False) -> LeaseState:
    """The lease state a log describes. ``truncated``: its start was removed by retention,
    so the first remaining record is trusted as valid."""
    state = LeaseState()
    first = True
    for record in records:
        if first and truncated:
            state = replace(state, head=record.base)
        first = False
        if record.base != state.head:
            continue  # its writer had not seen the latest state: stale
        if record.kind == "acquire":
            if state.held and not state.expired(record.timestamp_ms):
                continue
            state = LeaseState(
                head=record.offset,
                holder=record.holder,
                owner=record.owner,
                since_ms=record.timestamp_ms,
                expires_ms=record.timestamp_ms + record.ttl_ms,
            )
        elif record.kind == "renew":
            if state.holder != record.holder:
                continue
            state = replace(
                state, head=record.offset, expires_ms=record.timestamp_ms + record.ttl_ms
            )
        elif record.kind == "release":
            if not state.held or (state.holder != record.holder and not record.forced):
                continue
            state = LeaseState(head=record.offset)
    return state


class LeaseLog(Protocol):
    """The single-partition log behind the lease."""

    topic: str

    def read(self) -> tuple[list[LeaseRecord], bool]:
        """Every retained record, in order, and whether the log's start was truncated."""
        ...

    def append(self, payload: bytes, *, create: bool) -> None:
        """Append one record (creating the topic first if ``create`` and it is missing)."""
        ...

    def close(self) -> None: ...


def run_owner(environment: str, environ: Mapping[str, str] | None = None) -> str:
    """Who a run is, for the people waiting on it (no secrets: user, host, pid, CI run)."""
    environ = os.environ if environ is None else environ
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    text = f"{user}@{socket.gethostname()} (pid {os.getpid()}, environment {environment}"
    text += f", kafkaplan {__version__}"
    if environ.get("GITHUB_RUN_ID") and environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        text += f", {server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
    return text + ")"


class Lease:
    """This run's handle on the lease: acquire, keep (renew), release."""

    def __init__(
        self,
        log_: LeaseLog,
        *,
        ttl: float,
        owner: str,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.log = log_
        self.ttl_ms = max(1, int(ttl * 1000))
        self.owner = owner
        self.holder = uuid.uuid4().hex
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.state: LeaseState | None = None  # ours, while held
        self.taken_over: LeaseState | None = None  # the expired lease this run took over
        self._renewed_at = 0.0
        # A record was sent whose effect ``state`` does not show yet (an interrupt between
        # sending it and reading the log back): release reads the log to find out.
        self._unsure = False

    def read(self) -> LeaseState:
        records, truncated = self.log.read()
        return replay(records, truncated=truncated)

    def append(self, kind: str, base: int, *, forced: bool = False, create: bool = False) -> None:
        payload = encode(kind, self.holder, base, self.owner, self.ttl_ms, forced)
        self.log.append(payload, create=create)

    def acquire(self, wait: float) -> LeaseState:
        """Take the lease, waiting up to ``wait`` seconds for another run to release it (or
        for its lease to expire). Raises LeaseHeld naming the holder."""
        deadline = self.monotonic() + wait
        while True:
            state = self.read()
            if not state.held or state.expired(int(self.clock() * 1000)):
                previous = state if state.held else None
                self._unsure = True
                self.append("acquire", state.head, create=True)
                state = self.read()
                self._unsure = False
                if state.holder == self.holder:
                    self.taken_over = previous
                    self.state = state
                    self._renewed_at = self.monotonic()
                    return state
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                raise LeaseHeld(
                    state.describe(),
                    resource=f"topic.{self.log.topic}",
                    hint="wait for that apply to finish, or retry with --lease-wait (e.g. 5m); "
                    "if it crashed, its lease is taken over once it expires, or release it now "
                    "with `kafkaplan unlock`",
                )
            self.sleep(min(POLL_SECONDS, remaining))

    def keep(self) -> None:
        """Before each batch: renew the lease once a third of its ttl has passed. Raises
        LeaseLost if it was taken over or broken meanwhile."""
        if self.state is None:
            raise LeaseLost("this run does not hold the apply lease")
        if self.monotonic() - self._renewed_at < self.ttl_ms / 3000:
            return
        self._unsure = True
        self.append("renew", self.state.head)
        state = self.read()
        self._unsure = False
        if state.holder != self.holder:
            self.state = None
            now = state.describe() if state.held else "the lease was released by `unlock`"
            raise LeaseLost(
                f"this run's apply lease was lost ({now})",
                hint="another run may be changing the cluster: run `kafkaplan plan` to see "
                "what is left",
            )
        self.state = state
        self._renewed_at = self.monotonic()

    def release(self) -> None:
        """Give the lease back (raises ClusterError if the broker cannot be reached)."""
        if self._unsure:
            # The last acquire or renew may have taken effect unseen: release what the log
            # says this run holds, at the log's head.
            state = self.read()
            self.state = None
            if state.holder != self.holder:
                return
        elif self.state is None:
            return
        else:
            state, self.state = self.state, None
        self.append("release", state.head)
        self._unsure = False

    def break_(self, shown: LeaseState) -> LeaseState:
        """Release ``shown`` (the lease a person decided to break) on behalf of whoever
        holds it. Only that exact lease is released: if it changed meanwhile, nothing
        happens. Returns the state after."""
        self.append("release", shown.head, forced=True)
        return self.read()


class KafkaLeaseLog:
    """``LeaseLog`` over a single-partition topic, with a plain producer and consumer.

    Handed out by ``KafkaCluster.lease_log`` only, once the cluster's identity is checked
    (``expected_cluster_id``); the topic is created through that cluster's admin client."""

    def __init__(
        self,
        config: Mapping[str, Any],
        topic: str,
        *,
        timeout: float,
        create_topic: Callable[[str, Mapping[str, str]], None],
        translate: Callable[..., ClusterError],
        read_only: bool = False,
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        self.read_only = read_only
        self.config = dict(config)
        self.config["logger"] = logging.getLogger("kafkaplan.librdkafka")
        self.config["error_cb"] = self._on_error
        self._create = create_topic
        # The cluster adapter's error translation (librdkafka errors -> ClusterError).
        self._translate_error = translate
        self._consumer: Any = None
        self._producer: Any = None
        self._exists: bool | None = None
        self._appended = 0  # the log end offset after our last append

    @staticmethod
    def _on_error(error: Any) -> None:
        log.debug("lease client: %s", error)

    def _translate(self, error: Any, operation: str) -> ClusterError:
        return self._translate_error(error, resource=f"topic.{self.topic}", operation=operation)

    def _create_topic(self) -> None:
        configs = {
            "message.timestamp.type": "LogAppendTime",
            "cleanup.policy": "delete",
            "retention.ms": str(RETENTION_MS),
        }
        self._create(self.topic, configs)

    def read(self) -> tuple[list[LeaseRecord], bool]:
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        if self._consumer is None:
            self._consumer = make_client(
                Consumer,
                {
                    **self.config,
                    # librdkafka needs a group id, but offsets are assigned, never committed.
                    "group.id": "kafkaplan-lease-reader",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": 100,
                },
            )
        partition = TopicPartition(self.topic, 0)
        deadline = time.monotonic() + self.timeout
        while True:
            # A log we appended to must be read at least up to our record: a client's
            # metadata may lag behind a topic that was just created.
            try:
                low, high = self._consumer.get_watermark_offsets(partition, timeout=self.timeout)
                if high >= self._appended:
                    break
                error: ClusterError | None = None
            except KafkaException as exc:
                error = self._translate(exc, "lease_read")
                unknown = {"UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_PARTITION", "_UNKNOWN_TOPIC"}
                if error.code not in unknown:
                    raise error from exc
                if not self._exists and not self._appended:
                    self._exists = False
                    return [], False  # never created: the lease is free
            if time.monotonic() >= deadline:
                raise error or ClusterUnreachable(
                    f"could not read the lease within {self.timeout:g}s",
                    resource=f"topic.{self.topic}",
                    code="_TIMED_OUT",
                )
            time.sleep(0.1)
        self._exists = True
        if high <= low:
            return [], low > 0
        consumer = self._consumer
        consumer.assign([TopicPartition(self.topic, 0, low)])
        records: list[LeaseRecord] = []
        position = low
        try:
            while position < high:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClusterUnreachable(
                        f"could not read the lease within {self.timeout:g}s",
                        resource=f"topic.{self.topic}",
                        code="_TIMED_OUT",
                    )
                message = interruptible(partial(consumer.poll, min(remaining, 1.0)))
                if message is None:
                    continue
                if message.error() is not None:
                    # The end of the partition, or the group coordinator that librdkafka
                    # looks up because a consumer needs a group id: this reader uses no
                    # group (offsets are assigned, never committed), so neither matters.
                    if message.error().name() in ("_PARTITION_EOF", "GROUP_AUTHORIZATION_FAILED"):
                        continue
                    raise self._translate(message.error(), "lease_read")
                offset = message.offset()
                record = decode(offset, message.timestamp()[1], message.value())
                if record is not None:
                    records.append(record)
                position = offset + 1
        finally:
            self._consumer.unassign()
        return records, low > 0

    def append(self, payload: bytes, *, create: bool) -> None:
        from confluent_kafka import KafkaError, Producer

        if self.read_only:
            raise ClusterError(
                "writing the apply lease refused: this client is read-only",
                resource=f"topic.{self.topic}",
            )
        if create and not self._exists:
            self._create_topic()
            self._exists = True
        if self._producer is None:
            self._producer = make_client(
                Producer,
                {
                    **self.config,
                    "acks": "all",
                    # Duplicates are harmless (they are stale by construction), so the
                    # idempotent producer and its extra permission are not needed.
                    "enable.idempotence": False,
                    "linger.ms": 0,
                    "message.timeout.ms": int(self.timeout * 1000),
                },
            )
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: Any) -> None:
            if error is not None:
                failures.append(error)
            else:
                self._appended = max(self._appended, message.offset() + 1)

        self._producer.produce(self.topic, value=payload, partition=0, on_delivery=delivered)
        producer = self._producer
        left = interruptible(lambda: producer.flush(self.timeout + 5))
        if failures:
            raise self._translate(failures[0], "lease_write")
        if left:
            raise ClusterUnreachable(
                f"the lease record was not acknowledged within {self.timeout:g}s",
                resource=f"topic.{self.topic}",
                code="_MSG_TIMED_OUT",
            )

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(0)
            self._producer = None
