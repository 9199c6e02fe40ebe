"""The replica assignment of replication-factor changes: properties over random clusters."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaplan.plan.assign import AssignmentError, assign_replicas, rack_limits


@st.composite
def clusters(draw: st.DrawFn) -> dict[int, str | None]:
    """Brokers 1..N over up to 4 racks (possibly of different sizes), or without racks."""
    size = draw(st.integers(1, 9))
    if draw(st.booleans()):
        return dict.fromkeys(range(1, size + 1))
    racks = draw(st.lists(st.sampled_from("abcd"), min_size=size, max_size=size))
    return {broker: f"rack-{rack}" for broker, rack in zip(range(1, size + 1), racks, strict=True)}


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[dict[int, str | None], list[list[int]], int, dict[int, int]]:
    racks = draw(clusters())
    brokers = sorted(racks)
    rf = draw(st.integers(1, len(brokers)))
    partitions = draw(st.integers(1, 12))
    current = [
        draw(st.lists(st.sampled_from(brokers), unique=True, max_size=len(brokers)))
        for _ in range(partitions)
    ]
    load = draw(st.dictionaries(st.sampled_from(brokers), st.integers(0, 20)))
    return racks, current, rf, load


def rack_of(racks: dict[int, str | None], broker: int) -> str:
    return racks[broker] or ""


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_assignment_properties(
    case: tuple[dict[int, str | None], list[list[int]], int, dict[int, int]],
) -> None:
    racks, current, rf, load = case
    result = assign_replicas(current, rf, racks, dict(load))
    sizes = Counter(rack_of(racks, b) for b in racks)
    top, floor = rack_limits(rf, sizes)
    assert len(result) == len(current)
    for before, after in zip(current, result, strict=True):
        # Exactly rf distinct, existing brokers.
        assert len(after) == rf
        assert len(set(after)) == rf
        assert set(after) <= set(racks)
        # Racks as even as the brokers allow: none over the level, none under its share.
        per_rack = Counter(rack_of(racks, b) for b in after)
        assert max(per_rack.values()) == top
        for rack, need in floor.items():
            assert per_rack[rack] >= need
        # As many current replicas kept as the rack constraints allow.
        held = Counter(rack_of(racks, b) for b in before)
        keepable = sum(min(n, top) for n in held.values())
        short = sum(max(need - min(held[rack], top), 0) for rack, need in floor.items())
        assert len(set(before) & set(after)) == min(keepable, rf - short)
        # The current leader stays first when kept.
        if before and before[0] in after:
            assert after[0] == before[0]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 40))
def test_new_replicas_balance_the_load(racks_count: int, per_rack: int, partitions: int) -> None:
    """Racks of equal size, starting from nothing: replicas per broker differ by at most one."""
    racks = {
        rack * per_rack + i + 1: f"rack-{rack}"
        for rack in range(racks_count)
        for i in range(per_rack)
    }
    for rf in range(1, len(racks) + 1):
        result = assign_replicas([[] for _ in range(partitions)], rf, racks)
        counts = Counter(b for replicas in result for b in replicas)
        spread = [counts[b] for b in racks]
        assert max(spread) - min(spread) <= 1, (rf, result)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_an_assignment_that_fits_is_kept(
    case: tuple[dict[int, str | None], list[list[int]], int, dict[int, int]],
) -> None:
    """Nothing moves when the replicas already have the factor and the rack spread."""
    racks, _, rf, load = case
    first = assign_replicas([[] for _ in range(5)], rf, racks, dict(load))
    assert assign_replicas(first, rf, racks, dict(load)) == first


def test_examples() -> None:
    racks: dict[int, str | None] = {1: "a", 2: "b", 3: "c"}
    # 1 -> 3: the current leader stays first, the other racks are added.
    assert assign_replicas([[1], [2], [3]], 3, racks) == [[1, 2, 3], [2, 1, 3], [3, 1, 2]]
    # 3 -> 2: the leader stays; the most loaded broker loses a replica.
    assert assign_replicas([[1, 2, 3], [2, 3, 1], [3, 1, 2]], 2, racks) == [
        [1, 2],
        [2, 3],
        [3, 1],
    ]
    # Two replicas on one rack: the second moves to another rack.
    assert assign_replicas([[1, 2]], 2, {1: "a", 2: "a", 3: "b"}) == [[1, 3]]
    # The cluster-wide load steers new replicas to the emptiest broker.
    assert assign_replicas([[1]], 2, racks, {1: 5, 2: 9, 3: 0}) == [[1, 3]]


def test_load_is_updated_for_the_next_topic() -> None:
    racks: dict[int, str | None] = {1: None, 2: None, 3: None}
    load = {1: 0, 2: 0, 3: 0}
    assign_replicas([[1]], 2, racks, load)
    assert sum(load.values()) == 2
    assert load[1] == 1


def test_too_few_brokers() -> None:
    with pytest.raises(AssignmentError):
        assign_replicas([[1]], 3, {1: None, 2: None})


def test_replicas_on_unknown_brokers_are_dropped() -> None:
    result = assign_replicas([[7, 1]], 2, {1: "a", 2: "b"})
    assert result == [[1, 2]]
