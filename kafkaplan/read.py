"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replication); one batched
describe-configs submission reads the configs of the managed topics that exist (and of the
topics that may be deleted); one list-offsets submission counts the messages of the topics
that may be deleted. Other topics are listed, but nothing more is read about them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from kafkaplan.cluster import Cluster
from kafkaplan.state import DesiredState, LiveState, LiveTopic


def read_live(cluster: Cluster, desired: DesiredState) -> LiveState:
    """The live state a plan for ``desired`` compares against."""
    return _read(
        cluster, lambda live: [n for n in desired.topics if n in live], desired.deletion_candidates
    )


def read_addresses(cluster: Cluster, addresses: Iterable[str]) -> LiveState:
    """The live state of the given resource addresses (to check a saved plan against)."""
    names = {address.partition(".")[2] for address in addresses if address.startswith("topic.")}
    return _read(cluster, lambda live: [n for n in names if n in live], None)


def _read(
    cluster: Cluster,
    configs_for: Callable[[Collection[str]], list[str]],
    deletion_candidates: Callable[[Collection[str]], list[str]] | None,
) -> LiveState:
    info, metadata = cluster.describe()
    doomed = deletion_candidates(metadata.keys()) if deletion_candidates else []
    described = sorted({*configs_for(metadata.keys()), *doomed})
    configs = cluster.describe_topic_configs(described) if described else {}
    messages = (
        cluster.topic_message_counts({n: metadata[n].partitions for n in doomed}) if doomed else {}
    )
    topics = {
        name: LiveTopic(
            name=name,
            partitions=meta.partitions,
            replication_factor=meta.replication_factor,
            configs=configs.get(name, {}),
            messages=messages.get(name),
        )
        for name, meta in metadata.items()
    }
    return LiveState(cluster_id=info.cluster_id, broker_count=info.broker_count, topics=topics)
