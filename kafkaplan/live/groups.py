"""Group configs as read from the cluster, and the read a plan of groups needs.

One DescribeConfigs request carries every declared group (the GROUP config resource); it
answers every key the broker knows for groups, with the value and whether the group set
it itself (source ``GROUP_CONFIG``) or it is the broker's default. The broker's features
(``kafkaplan.live.features``) are read beside it, in parallel, only when it is needed: when
groups are declared, or a topic config that 4.0 removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from msgspec import Struct, field

from kafkaplan.errors import ClusterError
from kafkaplan.live.features import GROUP_CONFIGS_SINCE, REMOVED_TOPIC_CONFIGS, BrokerFeatures
from kafkaplan.live.state import LiveGroup

if TYPE_CHECKING:
    from kafkaplan.live.cluster import Cluster
    from kafkaplan.spec.desired import DesiredState


class GroupRead(Struct, frozen=True):
    groups: Mapping[str, LiveGroup] = field(default_factory=dict)
    # Group id -> why its configs could not be read (drift reads tolerantly).
    unread: Mapping[str, str] = field(default_factory=dict)
    features: BrokerFeatures | None = None


def needs_features(desired: DesiredState) -> bool:
    """Whether a plan for ``desired`` depends on what the broker's version supports."""
    if desired.groups:
        return True
    return any(
        key in REMOVED_TOPIC_CONFIGS and value is not None
        for topic in desired.topics.values()
        for key, value in topic.configs.items()
    )


def read_groups(cluster: Cluster, desired: DesiredState, *, tolerant: bool = False) -> GroupRead:
    """The declared groups' configs and, when needed, the broker's features, requested at
    the same time. A group the broker cannot describe fails a plan; drift records why."""
    if not needs_features(desired):
        return GroupRead()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkaplan-features") as pool:
        features_read = pool.submit(cluster.describe_features)
        described = cluster.describe_group_configs(sorted(desired.groups)) if desired.groups else {}
        features = features_read.result()
    groups: dict[str, LiveGroup] = {}
    unread: dict[str, str] = {}
    for group_id, result in described.items():
        if isinstance(result, ClusterError):
            if features is not None and not features.at_least(GROUP_CONFIGS_SINCE):
                # A 3.x broker does not know the GROUP resource: the plan says so itself.
                continue
            if not tolerant:
                raise result
            unread[group_id] = result.message
            continue
        groups[group_id] = result
    return GroupRead(groups=groups, unread=unread, features=features)
