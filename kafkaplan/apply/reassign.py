"""Carry out replica changes (replication-factor changes) as a throttled partition reassignment.

The plan's ``UpdateTopic`` operation says, per partition, the replicas before and after
(``replicas``), and which leaders to move back (``elect_leaders``, when finishing an
interrupted run). This module only executes that, in the order ``kafka-reassign-partitions`` would:

1. throttle: on each topic, ``leader.replication.throttled.replicas`` names the current
   replicas of the partitions that gain replicas and ``follower.replication.throttled.
   replicas`` the new ones; then the brokers involved get ``leader/follower.replication.
   throttled.rate`` (the project's ``reassignment.throttle``);
2. submit the new replica lists (AlterPartitionReassignments);
3. wait until none of them is listed any more (ListPartitionReassignments), telling the
   progress, at most ``reassignment.timeout``;
4. finish: remove the brokers' rates (unless another reassignment still runs), then the
   topics' throttles, and elect the preferred leaders.

A reassignment still running at the timeout keeps running in Kafka, throttled; the change
is reported failed and the next plan shows the reassignment in progress, which the next
apply waits for and finishes. If the process dies, the same happens; throttles left
behind after the copy completed are planned for removal (see ``kafkaplan.plan.compute``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from msgspec import Struct, field

from kafkaplan.errors import ClusterError
from kafkaplan.live.cluster import Cluster, Partition
from kafkaplan.live.state import BROKER_THROTTLE_CONFIGS, TOPIC_THROTTLE_CONFIGS
from kafkaplan.plan.model import Change, UpdateTopic
from kafkaplan.spec.project import ReassignmentSettings

LEADER_THROTTLE, FOLLOWER_THROTTLE = TOPIC_THROTTLE_CONFIGS


class Move(Struct):
    """One topic's part of the reassignment."""

    change: Change
    # partition -> (replicas before or None for a new partition, replicas after)
    partitions: dict[int, tuple[list[int] | None, list[int]]] = field(default_factory=dict)
    # Partitions whose preferred leader is to be elected.
    leaders: list[int] = field(default_factory=list)
    problem: str | None = None
    # Still reassigning at the timeout: the throttles stay while Kafka goes on copying.
    keep_throttles: bool = False

    @property
    def topic(self) -> str:
        return self.change.name

    def throttled(self) -> dict[int, tuple[list[int], list[int]]]:
        """Partitions that gain replicas: (replicas that send, replicas that receive)."""
        result = {}
        for partition, (before, after) in self.partitions.items():
            gained = [b for b in after if b not in (before or [])]
            if before and gained:
                result[partition] = (before, gained)
        return result

    def throttle_configs(self) -> dict[str, str | None]:
        throttled = self.throttled()
        if not throttled:
            return {}
        leader = ",".join(
            f"{p}:{b}" for p, (senders, _) in sorted(throttled.items()) for b in senders
        )
        follower = ",".join(
            f"{p}:{b}" for p, (_, receivers) in sorted(throttled.items()) for b in receivers
        )
        return {LEADER_THROTTLE: leader, FOLLOWER_THROTTLE: follower}

    def brokers(self) -> set[int]:
        """Brokers that send or receive throttled data."""
        return {b for senders, receivers in self.throttled().values() for b in senders + receivers}

    def elected(self) -> list[Partition]:
        return [(self.topic, p) for p in sorted(set(self.partitions) | set(self.leaders))]


def moves_of(changes: Sequence[Change]) -> list[Move]:
    moves = []
    for change in changes:
        update = change.operation
        if not isinstance(update, UpdateTopic):
            raise TypeError(f"{change.address}: not a topic update")
        move = Move(change)
        for partition, replicas in sorted(update.replicas.items()):
            before = None if replicas.before is None else list(replicas.before)
            move.partitions[partition] = (before, list(replicas.after))
        move.leaders.extend(update.elect_leaders)
        moves.append(move)
    return moves


def reassign(
    changes: Sequence[Change],
    cluster: Cluster,
    settings: ReassignmentSettings,
    note: Callable[[str], None],
) -> dict[str, str | None]:
    """Per change address: None when its replicas (and leaders) are as planned, else why not.
    ``note`` is told what a long wait is waiting for."""
    moves = moves_of(changes)
    rate = str(settings.throttle_bytes())

    # 1. Throttles: topics first, then brokers (a run killed in between leaves topic
    #    throttles behind, which the next plan sees and cleans up together with the rates).
    throttles = {m.topic: m.throttle_configs() for m in moves if m.throttle_configs()}
    for topic, error in cluster.alter_topic_configs(throttles).items():
        if error is not None:
            _fail(moves, topic, f"setting the replication throttle failed: {error.reason()}")
    brokers = sorted(set().union(*(m.brokers() for m in moves if m.problem is None)))
    if brokers:
        rates = dict.fromkeys(BROKER_THROTTLE_CONFIGS, rate)
        failures = {
            b: e
            for b, e in cluster.alter_broker_configs(dict.fromkeys(brokers, rates)).items()
            if e is not None
        }
        if failures:
            reason = "; ".join(f"broker {b}: {e.reason()}" for b, e in sorted(failures.items()))
            for move in moves:
                if move.problem is None and move.throttled():
                    move.problem = f"setting the brokers' replication throttle failed: {reason}"
            cluster.alter_broker_configs(dict.fromkeys(brokers, _unset(BROKER_THROTTLE_CONFIGS)))

    # 2. Submit.
    wanted = {
        (m.topic, p): after
        for m in moves
        if m.problem is None
        for p, (_, after) in m.partitions.items()
    }
    try:
        answers = cluster.alter_reassignments(wanted)
    except ClusterError as exc:  # the whole request refused (e.g. no ALTER on the cluster)
        answers = dict.fromkeys(wanted, exc)
    for (topic, partition), error in answers.items():
        if error is not None:
            _fail(moves, topic, f"partition {partition}: {error.reason()}")

    # 3. Wait.
    submitted = {key for key in wanted if _move(moves, key[0]).problem is None}
    try:
        still = _wait(cluster.list_reassignments, submitted, settings, note)
    except ClusterError as exc:  # cannot tell: assume it goes on, keep the throttles
        for topic in sorted({t for t, _ in submitted}):
            _fail(
                moves,
                topic,
                f"could not follow the reassignment: {exc.reason()}",
                keep_throttles=True,
            )
        still = set()
    for topic in sorted({t for t, _ in still}):
        count = sum(1 for t, _ in still if t == topic)
        _fail(
            moves,
            topic,
            f"reassignment still in progress after {settings.timeout}: {count} partition(s) "
            "still copying; it goes on in Kafka (throttled). Run `kafkaplan apply` again to "
            "wait for it and finish (the plan shows it in progress)",
            keep_throttles=True,
        )

    # 4. Finish: broker rates (unless a reassignment still runs), topic throttles, leaders.
    try:
        running = bool(cluster.list_reassignments()) if brokers else False
    except ClusterError:
        running = True
    if brokers and not running:
        cluster.alter_broker_configs(dict.fromkeys(brokers, _unset(BROKER_THROTTLE_CONFIGS)))
    # Also on topics this run did not throttle: a reassignment it finished may have been
    # throttled by the run that started it. Deleting an unset config is a no-op.
    cleanup = {m.topic: _unset(TOPIC_THROTTLE_CONFIGS) for m in moves if not m.keep_throttles}
    for topic, error in cluster.alter_topic_configs(cleanup).items():
        if error is not None:
            _fail(moves, topic, f"removing the replication throttle failed: {error.reason()}")
    elect = [tp for m in moves if m.problem is None for tp in m.elected()]
    unelected: dict[str, list[int]] = {}
    for (topic, partition), error in cluster.elect_preferred_leaders(elect).items():
        if error is not None:
            unelected.setdefault(topic, []).append(partition)
    results: dict[str, str | None] = {}
    for move in moves:
        results[move.change.address] = move.problem
        if move.problem is None and move.topic in unelected:
            note(
                f"{move.topic}: preferred leader election failed for partition(s) "
                f"{', '.join(map(str, sorted(unelected[move.topic])))}; Kafka's automatic "
                "leader rebalancing moves them later"
            )
    return results


def _unset(keys: Sequence[str]) -> dict[str, str | None]:
    return dict.fromkeys(keys, None)


def _move(moves: Sequence[Move], topic: str) -> Move:
    return next(m for m in moves if m.topic == topic)


def _fail(moves: Sequence[Move], topic: str, problem: str, *, keep_throttles: bool = False) -> None:
    move = _move(moves, topic)
    if move.problem is None:
        move.problem = problem
    move.keep_throttles = move.keep_throttles or keep_throttles


def _wait(
    listing: Callable[[], Mapping[Partition, object]],
    submitted: set[Partition],
    settings: ReassignmentSettings,
    note: Callable[[str], None],
) -> set[Partition]:
    """Poll until none of ``submitted`` is reassigning; returns those still going at the
    timeout."""
    if not submitted:
        return set()
    deadline = time.monotonic() + settings.timeout_seconds()
    total = len(submitted)
    while True:
        ongoing = submitted & set(listing())
        if not ongoing:
            note(f"replicas in sync: {total}/{total} partition(s)")
            return set()
        note(
            f"waiting for new replicas to catch up: {total - len(ongoing)}/{total} partition(s) in sync"
        )
        if time.monotonic() >= deadline:
            return ongoing
        time.sleep(min(settings.poll_seconds(), max(0.0, deadline - time.monotonic())))
