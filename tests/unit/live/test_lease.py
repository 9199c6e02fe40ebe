"""The apply lease's protocol, replayed from an in-memory log with a controllable clock."""

from __future__ import annotations

import pytest

from kafkaplan.errors import LeaseHeld, LeaseLost
from kafkaplan.live.lease import Lease, LeaseRecord, encode, replay
from tests.fakes import MemoryLeaseLog

TTL = 60.0


class Clock:
    """Local time for one run: wall clock (ms-based, shared with the log) and monotonic."""

    def __init__(self, log: MemoryLeaseLog):
        self.log = log
        self.sleeps: list[float] = []

    def wall(self) -> float:
        return self.log.now_ms / 1000

    def monotonic(self) -> float:
        return self.log.now_ms / 1000

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.log.now_ms += int(seconds * 1000)


@pytest.fixture
def log() -> MemoryLeaseLog:
    return MemoryLeaseLog()


def run(log: MemoryLeaseLog, owner: str, ttl: float = TTL) -> Lease:
    clock = Clock(log)
    return Lease(
        log, ttl=ttl, owner=owner, clock=clock.wall, monotonic=clock.monotonic, sleep=clock.sleep
    )


def test_acquire_release_and_reacquire(log: MemoryLeaseLog) -> None:
    first = run(log, "alice@ci (pid 1)")
    assert not first.read().held
    state = first.acquire(wait=0)
    assert state.holder == first.holder
    assert log.exists
    first.release()
    assert not first.read().held
    second = run(log, "bob@ci (pid 2)")
    assert second.acquire(wait=0).owner == "bob@ci (pid 2)"


def test_a_second_run_fails_naming_the_holder_and_since_when(log: MemoryLeaseLog) -> None:
    run(log, "alice@ci (pid 1)").acquire(wait=0)
    with pytest.raises(LeaseHeld) as info:
        run(log, "bob@ci (pid 2)").acquire(wait=0)
    text = str(info.value)
    assert "held by alice@ci (pid 1) since 2027-01-15 08:00:00 UTC" in text
    assert "kafkaplan unlock" in text


def test_a_second_run_waits_up_to_its_limit(log: MemoryLeaseLog) -> None:
    holder = run(log, "alice")
    holder.acquire(wait=0)
    waiter = run(log, "bob")
    with pytest.raises(LeaseHeld):
        waiter.acquire(wait=5)
    # waited about 5 s in polls, without touching the log while the lease was valid
    assert 4.0 <= log.now_ms / 1000 - 1_800_000_000 <= 6.0
    assert log.appends == 1
    holder.release()
    assert waiter.acquire(wait=5).holder == waiter.holder


def test_an_expired_lease_is_taken_over(log: MemoryLeaseLog) -> None:
    crashed = run(log, "alice")
    crashed.acquire(wait=0)
    log.now_ms += int(TTL * 1000) + 1
    taker = run(log, "bob")
    assert taker.acquire(wait=0).holder == taker.holder
    assert taker.taken_over is not None
    assert taker.taken_over.owner == "alice"
    # the crashed run, if it comes back, finds its lease gone before its next batch
    log.now_ms += int(TTL * 1000)
    with pytest.raises(LeaseLost, match="held by bob"):
        crashed.keep()


def test_a_waiter_takes_over_when_the_lease_expires(log: MemoryLeaseLog) -> None:
    run(log, "alice", ttl=10).acquire(wait=0)
    taker = run(log, "bob")
    assert taker.acquire(wait=30).holder == taker.holder


def test_racing_takeovers_have_one_winner(log: MemoryLeaseLog) -> None:
    """Both runs saw the expired lease and append an acquire with the same base; the first
    appended is valid, the second is stale by construction."""
    run(log, "alice").acquire(wait=0)
    log.now_ms += int(TTL * 1000) + 1
    one, two = run(log, "one"), run(log, "two")
    base = one.read().head
    assert two.read().head == base
    one.append("acquire", base)
    two.append("acquire", base)
    state = one.read()
    assert state.holder == one.holder
    # the loser, looking again, sees the winner and does not hold the lease
    with pytest.raises(LeaseHeld, match="held by one"):
        two.acquire(wait=0)


def test_an_acquire_before_expiry_is_invalid() -> None:
    records = [
        LeaseRecord(0, 1000, "acquire", "a", -1, "alice", 60_000),
        LeaseRecord(1, 30_000, "acquire", "b", 0, "bob", 60_000),  # too early
        LeaseRecord(2, 40_000, "renew", "a", 0, "alice", 60_000),
        LeaseRecord(3, 50_000, "release", "b", 2, "bob"),  # not the holder
    ]
    state = replay(records)
    assert (state.holder, state.head, state.expires_ms) == ("a", 2, 100_000)


def test_duplicates_and_garbage_are_ignored(log: MemoryLeaseLog) -> None:
    lease = run(log, "alice")
    lease.acquire(wait=0)
    log.entries.append(log.entries[-1])  # a producer retry's duplicate
    log.entries.append((log.now_ms, b"not json"))
    assert lease.read().holder == lease.holder
    lease.release()
    assert not lease.read().held


def test_renewal_keeps_the_lease_past_its_ttl(log: MemoryLeaseLog) -> None:
    lease = run(log, "alice")
    lease.acquire(wait=0)
    for _ in range(10):
        log.now_ms += int(TTL * 1000 / 2)
        lease.keep()
    with pytest.raises(LeaseHeld):
        run(log, "bob").acquire(wait=0)


def test_keep_does_not_renew_too_often(log: MemoryLeaseLog) -> None:
    lease = run(log, "alice")
    lease.acquire(wait=0)
    before = log.appends
    lease.keep()
    lease.keep()
    assert log.appends == before


def test_unlock_breaks_exactly_the_lease_shown(log: MemoryLeaseLog) -> None:
    holder = run(log, "alice")
    holder.acquire(wait=0)
    admin = run(log, "admin")
    shown = admin.read()
    after = admin.break_(shown)
    assert not after.held
    log.now_ms += int(TTL * 1000)
    with pytest.raises(LeaseLost, match="released by `unlock`"):
        holder.keep()
    # a stale unlock (the lease changed since it was shown) releases nothing
    newer = run(log, "bob")
    newer.acquire(wait=0)
    assert admin.break_(shown).holder == newer.holder


def test_a_truncated_log_trusts_its_first_record(log: MemoryLeaseLog) -> None:
    lease = run(log, "alice")
    lease.acquire(wait=0)
    lease.release()
    other = run(log, "bob")
    other.acquire(wait=0)
    log.start = 2  # retention removed the first acquire and release
    assert other.read().holder == other.holder


def test_records_round_trip() -> None:
    from kafkaplan.live.lease import decode

    record = decode(7, 123, encode("renew", "h", 6, "alice", 1000, False))
    assert record == LeaseRecord(7, 123, "renew", "h", 6, "alice", 1000, False)
    assert decode(0, 0, None) is None
    assert decode(0, 0, b"[1]") is None
    assert decode(0, 0, b'{"kind": "acquire"}') is None


def test_the_lease_topic_is_internal() -> None:
    from kafkaplan.spec.desired import DesiredState, is_internal_topic

    assert is_internal_topic("__kafkaplan_lease")
    assert is_internal_topic("__kafkaplan_lease.team-a")
    owned = DesiredState(topics={}, owned_topic_prefixes=("__kafkaplan",))
    assert owned.deletion_candidates(["__kafkaplan_lease"]) == []


class InterruptedRead(MemoryLeaseLog):
    """A log whose first read after an append is cut short by Ctrl-C (the record is in),
    once ``armed``."""

    armed: bool = False
    interrupt_next_read: bool = False

    def append(self, payload: bytes, *, create: bool) -> None:
        super().append(payload, create=create)
        self.interrupt_next_read = self.armed

    def read(self) -> tuple[list[LeaseRecord], bool]:
        if self.interrupt_next_read:
            self.interrupt_next_read = self.armed = False
            raise KeyboardInterrupt
        return super().read()


@pytest.mark.parametrize("step", ["acquire", "renew"])
def test_an_interrupt_before_the_log_is_read_back_still_releases(step: str) -> None:
    """Ctrl-C after an acquire or renew record was written, before it was read back: the
    run's view of the lease is stale, and release must still give back what it holds."""
    log = InterruptedRead()
    lease = run(log, "alice")
    if step == "acquire":
        log.armed = True
        with pytest.raises(KeyboardInterrupt):
            lease.acquire(wait=0)
    else:
        lease.acquire(wait=0)
        log.now_ms += int(TTL * 1000 / 2)
        log.armed = True
        with pytest.raises(KeyboardInterrupt):
            lease.keep()
    assert lease.read().holder == lease.holder  # it holds the lease, unseen
    lease.release()
    assert not lease.read().held
    assert run(log, "bob").acquire(wait=0).owner == "bob"
