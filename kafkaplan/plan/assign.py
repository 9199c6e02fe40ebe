"""Replica assignment for a replication-factor change: pure, deterministic, rack-aware.

``assign_replicas`` decides, for every partition of a topic, which brokers hold its
replicas after the change. In order of priority:

1. every partition gets exactly ``rf`` distinct brokers;
2. its replicas are spread over the racks as evenly as the brokers allow (no rack holds
   more than it must, and every rack holds at least its fair share);
3. the current replicas are kept wherever 2. allows, so as little data as possible is
   copied (and, when the factor shrinks, the replicas on the busiest brokers go first);
4. the current preferred leader stays first when it is kept;
5. new replicas go to the least loaded brokers (replicas per broker across the cluster,
   then the broker id, so that the result is deterministic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, MutableMapping, Sequence


class AssignmentError(ValueError):
    pass


def rack_limits(rf: int, rack_sizes: Mapping[str, int]) -> tuple[int, dict[str, int]]:
    """(most replicas a rack may hold, least each rack must hold) for one partition.

    Water-filling: the smallest level ``top`` such that racks filled up to it (each at
    most its broker count) hold ``rf`` replicas; every rack then holds at least
    ``min(brokers, top - 1)``.
    """
    if rf > sum(rack_sizes.values()):
        raise AssignmentError(f"replication factor {rf} needs {rf} brokers")
    top = 1
    while sum(min(size, top) for size in rack_sizes.values()) < rf:
        top += 1
    return top, {rack: min(size, top - 1) for rack, size in rack_sizes.items()}


def assign_replicas(
    current: Sequence[Sequence[int]],
    rf: int,
    racks: Mapping[int, str | None],
    load: MutableMapping[int, int] | None = None,
) -> list[list[int]]:
    """New replica lists (preferred leader first) for partitions whose replicas are now
    ``current`` (one list per partition; an empty list for a partition that has none yet).

    ``racks`` maps every available broker to its rack (None: no rack). ``load`` counts the
    replicas each broker holds (of other topics); it is updated with this topic's new
    assignment, so that several topics planned in a row spread over the cluster.
    Replicas on brokers not in ``racks`` are dropped.
    """
    if rf < 1:
        raise AssignmentError("replication factor must be at least 1")
    rack_of = {broker: rack or "" for broker, rack in racks.items()}
    sizes = Counter(rack_of.values())
    top, floor = rack_limits(rf, sizes)
    counts: Counter[int] = Counter(dict.fromkeys(rack_of, 0))
    if load is not None:
        counts.update({b: n for b, n in load.items() if b in rack_of})
    # The topic's own current replicas leave the load: they are decided again here.
    for replicas in current:
        for broker in replicas:
            if broker in rack_of and counts[broker] > 0:
                counts[broker] -= 1
    result = [
        _assign_partition(list(replicas), rf, rack_of, top, floor, counts) for replicas in current
    ]
    if load is not None:
        for broker, count in counts.items():
            load[broker] = count
    return result


def _assign_partition(
    current: list[int],
    rf: int,
    rack_of: Mapping[int, str],
    top: int,
    floor: Mapping[str, int],
    counts: Counter[int],
) -> list[int]:
    in_rack: Counter[str] = Counter()
    chosen: list[int] = []

    def deficit() -> int:
        return sum(max(need - in_rack[rack], 0) for rack, need in floor.items())

    def fits(broker: int) -> bool:
        rack = rack_of[broker]
        if broker in chosen or in_rack[rack] >= top:
            return False
        # After taking it, the racks still below their share must fit in the slots left.
        short = deficit() - (1 if in_rack[rack] < floor[rack] else 0)
        return short <= rf - len(chosen) - 1

    # Keep current replicas: the preferred leader first, then the least loaded ones.
    valid = [b for b in dict.fromkeys(current) if b in rack_of]
    keep_order = valid[:1] + sorted(valid[1:], key=lambda b: (counts[b], b))
    for broker in keep_order:
        if len(chosen) < rf and fits(broker):
            chosen.append(broker)
            in_rack[rack_of[broker]] += 1
    kept = set(chosen)
    # Then new ones: racks below their share first, then the rack with the fewest of this
    # partition's replicas, then the least loaded rack (per broker), then broker.
    rack_load: Counter[str] = Counter()
    for broker, count in counts.items():
        rack_load[rack_of[broker]] += count
    rack_size = Counter(rack_of.values())
    while len(chosen) < rf:
        candidates = [b for b in rack_of if fits(b)]
        if not candidates:  # pragma: no cover - rack_limits makes this impossible
            raise AssignmentError("no broker fits the rack constraints")
        broker = min(
            candidates,
            key=lambda b: (
                in_rack[rack_of[b]] >= floor[rack_of[b]],
                in_rack[rack_of[b]],
                rack_load[rack_of[b]] / rack_size[rack_of[b]],
                counts[b],
                b,
            ),
        )
        chosen.append(broker)
        in_rack[rack_of[broker]] += 1
    for broker in chosen:
        counts[broker] += 1
    # Kept replicas in their current order (the leader stays first), then the new ones.
    ordered = [b for b in valid if b in kept] + [b for b in chosen if b not in kept]
    return ordered
