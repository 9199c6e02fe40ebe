"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replicas) and one
describe-cluster request the brokers' racks; one batched describe-configs submission reads
the configs of the managed topics that exist (and of the topics that may be deleted); one
list-offsets submission counts the messages of the topics that may be deleted; one
list-partition-reassignments request, sent while the configs are read, finds reassignments
in progress. Other topics are listed, but nothing more is read about them. Only when a
managed topic is being reassigned or carries leftover replication throttles are the
brokers' throttle rates read as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor

from kafkaplan.cluster import Cluster, Partition
from kafkaplan.errors import ClusterError
from kafkaplan.state import DesiredState, LiveState, LiveTopic, PartitionReassignment

log = logging.getLogger("kafkaplan.read")


def read_live(cluster: Cluster, desired: DesiredState) -> LiveState:
    """The live state a plan for ``desired`` compares against."""
    return _read(
        cluster, lambda live: [n for n in desired.topics if n in live], desired.deletion_candidates
    )


def read_addresses(cluster: Cluster, addresses: Iterable[str]) -> LiveState:
    """The live state of the given resource addresses (to check a saved plan against)."""
    addresses = list(addresses)
    names = {address.partition(".")[2] for address in addresses if address.startswith("topic.")}
    brokers = [int(a.partition(".")[2]) for a in addresses if a.startswith("broker.")]
    return _read(cluster, lambda live: [n for n in names if n in live], None, brokers)


def _read(
    cluster: Cluster,
    configs_for: Callable[[Collection[str]], list[str]],
    deletion_candidates: Callable[[Collection[str]], list[str]] | None,
    throttled_brokers: list[int] | None = None,
) -> LiveState:
    info, metadata = cluster.describe()
    doomed = deletion_candidates(metadata.keys()) if deletion_candidates else []
    described = sorted({*configs_for(metadata.keys()), *doomed})
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkaplan-read") as pool:
        # Independent of the configs: overlap the round trips.
        listing = pool.submit(_list_reassignments, cluster)
        configs = cluster.describe_topic_configs(described) if described else {}
        messages = (
            cluster.topic_message_counts({n: metadata[n].partitions for n in doomed})
            if doomed
            else {}
        )
        reassignments, known = listing.result()
    by_topic: dict[str, dict[int, PartitionReassignment]] = {}
    for (topic, partition), reassignment in reassignments.items():
        by_topic.setdefault(topic, {})[partition] = reassignment
    topics = {
        name: LiveTopic(
            name=name,
            partitions=meta.partitions,
            replication_factor=_replication(meta.replicas, by_topic.get(name))
            or meta.replication_factor,
            configs=configs.get(name, {}),
            messages=messages.get(name),
            replicas=meta.replicas,
            leaders=meta.leaders,
            reassigning=by_topic.get(name, {}),
        )
        for name, meta in metadata.items()
    }
    if throttled_brokers is None:
        # Leftover broker throttle rates matter only where a managed topic shows that a
        # reassignment ran (or runs): read them then.
        busy = any(topics[name].reassigning or topics[name].throttles() for name in configs)
        throttled_brokers = sorted(info.racks or range(1, info.broker_count + 1)) if busy else []
    broker_throttles = (
        cluster.describe_broker_throttles(throttled_brokers) if throttled_brokers else {}
    )
    return LiveState(
        cluster_id=info.cluster_id,
        broker_count=info.broker_count,
        topics=topics,
        brokers=dict(info.racks),
        reassignments=reassignments,
        reassignments_known=known,
        broker_throttles={b: t for b, t in broker_throttles.items() if t},
    )


def _list_reassignments(cluster: Cluster) -> tuple[dict[Partition, PartitionReassignment], bool]:
    """Reassignments in progress, and whether they could be listed at all: listing needs
    DESCRIBE on the cluster, which a read-only planning principal may lack (and a second
    client, kafka-python's, which may fail where confluent-kafka connects). Not knowing
    only matters for replica changes, where the plan then says so."""
    try:
        return cluster.list_reassignments(), True
    except ClusterError as exc:
        log.info("could not list partition reassignments: %s", exc)
        return {}, False


def _replication(
    replicas: tuple[tuple[int, ...], ...], reassigning: dict[int, PartitionReassignment] | None
) -> int:
    """The replication factor, counting a partition being reassigned at its target size."""
    if not reassigning:
        return max((len(r) for r in replicas), default=0)
    return max(
        (
            len(reassigning[p].target) if p in reassigning else len(r)
            for p, r in enumerate(replicas)
        ),
        default=0,
    )
