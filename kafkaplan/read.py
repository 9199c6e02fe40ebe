"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replication); one batched
describe-configs submission reads the configs of the managed topics that exist. Topics
outside the specs are listed but their configs are not read.
"""

from __future__ import annotations

from collections.abc import Collection

from kafkaplan.cluster import Cluster
from kafkaplan.state import LiveState, LiveTopic


def read_live(cluster: Cluster, managed_topics: Collection[str]) -> LiveState:
    """Live state, with configs read for the managed topics that exist."""
    info, metadata = cluster.describe()
    managed = [name for name in managed_topics if name in metadata]
    configs = cluster.describe_topic_configs(managed) if managed else {}
    topics = {
        name: LiveTopic(
            name=name,
            partitions=meta.partitions,
            replication_factor=meta.replication_factor,
            configs=configs.get(name, {}),
        )
        for name, meta in metadata.items()
    }
    return LiveState(cluster_id=info.cluster_id, broker_count=info.broker_count, topics=topics)
