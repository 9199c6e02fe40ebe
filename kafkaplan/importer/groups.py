"""Import group configs: every group with configs of its own, as ``groups.yaml``.

Only the values a group sets itself are written (never broker defaults), in human units
(``60s``), so that a plan right after the import has nothing to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafkaplan.errors import AuthenticationFailed, ClusterError, ClusterUnreachable
from kafkaplan.live.cluster import Cluster
from kafkaplan.live.state import LiveGroup
from kafkaplan.spec.groups import GROUP_CONFIGS, group_spec_value

GROUPS_FILE = "groups.yaml"


def read_groups_for_import(
    cluster: Cluster, prefixes: Sequence[str], *, tolerant: bool
) -> tuple[dict[str, LiveGroup], str | None]:
    """The groups with configs of their own (ids starting with one of ``prefixes``), and
    why none could be read when ``tolerant`` (a 3.x broker, a principal without
    DESCRIBE_CONFIGS on groups)."""
    try:
        ids = [
            group_id
            for group_id in cluster.list_group_config_ids()
            if not prefixes or group_id.startswith(tuple(prefixes))
        ]
        described = cluster.describe_group_configs(ids) if ids else {}
    except (ClusterUnreachable, AuthenticationFailed):
        raise
    except ClusterError as error:
        if not tolerant:
            raise
        return {}, f"groups not imported: {error.message}"
    groups: dict[str, LiveGroup] = {}
    for group_id, result in sorted(described.items()):
        if isinstance(result, ClusterError):
            if not tolerant:
                raise result
            return {}, f"groups not imported: {result.message}"
        if result.overrides:
            groups[group_id] = result
    return groups, None


def group_specs(groups: Mapping[str, LiveGroup], skipped: list[str]) -> list[dict[str, Any]]:
    """The `groups:` entries for the live groups, sorted by id."""
    entries = []
    for group_id, group in sorted(groups.items()):
        configs: dict[str, Any] = {}
        for key, value in sorted(group.overrides.items()):
            if key not in GROUP_CONFIGS:
                skipped.append(
                    f"group.{group_id}: config {key} (not a group config kafkaplan manages)"
                )
                continue
            configs[key] = group_spec_value(key, value)
        if configs:
            entries.append({"id": group_id, "configs": configs})
    return entries
