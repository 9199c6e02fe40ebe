"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replication); one batched
describe-configs submission reads the configs of the managed topics that exist. Topics
outside the specs are listed but their configs are not read. When the project manages ACLs,
one describe-ACLs request with an any-filter reads every binding.
"""

from __future__ import annotations

from collections.abc import Collection

from kafkaplan.cluster import Cluster
from kafkaplan.state import LiveState, LiveTopic


def read_live(
    cluster: Cluster, managed_topics: Collection[str], *, acls: bool = False
) -> LiveState:
    """Live state, with configs read for the managed topics that exist (and, if ``acls``,
    every ACL binding)."""
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
    bindings, unreadable = cluster.describe_acls() if acls else ([], [])
    return LiveState(
        cluster_id=info.cluster_id,
        broker_count=info.broker_count,
        topics=topics,
        acls=frozenset(bindings),
        unreadable_acls=tuple(unreadable),
    )
