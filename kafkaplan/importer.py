"""``kafkaplan import``: write specs for what is live, so that a plan right after shows no
changes.

The output reads like specs a person would write: one file per entity (the first part of a
topic name: ``orders.created.v1`` goes to ``orders.yaml``), topics sorted by name, only the
configs set on the topic itself (never broker defaults), in human units (``7d``, ``1GiB``),
and explicit partitions and replication factors. The same cluster always gives the same
files, byte for byte.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kafkaplan.cluster import Cluster
from kafkaplan.errors import ProjectError
from kafkaplan.read import read_selected
from kafkaplan.state import DesiredState, LiveState, LiveTopic
from kafkaplan.topic_configs import REFUSED_CONFIGS, TOPIC_CONFIGS, to_spec_value

RESOURCE_TYPES = ("topics",)


@dataclass
class ImportResult:
    files: dict[str, str] = field(default_factory=dict)  # relative path -> YAML text
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # what was left out, and why


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, as people write YAML."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def entity_of(name: str) -> str:
    head = name.split(".", 1)[0]
    return head or "topics"


def _topic_spec(topic: LiveTopic, skipped: list[str]) -> dict[str, Any]:
    configs: dict[str, Any] = {}
    for key, value in sorted(topic.overrides().items()):
        if value is None:
            continue
        if key in REFUSED_CONFIGS or key not in TOPIC_CONFIGS:
            skipped.append(
                f"topic.{topic.name}: config {key} ({REFUSED_CONFIGS.get(key, 'not a topic config kafkaplan manages')})"
            )
            continue
        configs[key] = to_spec_value(key, value)
    spec: dict[str, Any] = {
        "name": topic.name,
        "partitions": topic.partitions,
        "replication_factor": topic.replication_factor,
    }
    if configs:
        spec["configs"] = configs
    return spec


def build_import(
    live: LiveState,
    ignore: DesiredState,
    *,
    prefixes: Sequence[str] = (),
    resources: Sequence[str] = RESOURCE_TYPES,
) -> ImportResult:
    """The spec files for the live state (pure): relative path -> YAML text."""
    result = ImportResult()
    by_entity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if "topics" in resources:
        for name in sorted(live.topics):
            if ignore.is_ignored_topic(name) or (prefixes and not name.startswith(tuple(prefixes))):
                continue
            by_entity[entity_of(name)].append(_topic_spec(live.topics[name], result.skipped))
        result.counts["topics"] = sum(len(topics) for topics in by_entity.values())
    for entity, topics in sorted(by_entity.items()):
        header = (
            f"# Imported by `kafkaplan import` from cluster {live.cluster_id}.\n"
            "# Edit freely: only what is written here is managed.\n"
        )
        body = yaml.dump(
            {"topics": topics}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
        )
        result.files[f"{entity}.yaml"] = header + body
    return result


def read_for_import(cluster: Cluster, ignore: DesiredState, prefixes: Sequence[str]) -> LiveState:
    """Live state with the configs of every topic that will be imported."""
    return read_selected(
        cluster,
        lambda name: (
            not ignore.is_ignored_topic(name) and (not prefixes or name.startswith(tuple(prefixes)))
        ),
    )


def write_import(result: ImportResult, out: Path, *, force: bool) -> list[Path]:
    """Write the files; refuse to overwrite existing ones unless ``force``."""
    targets = [out / relative for relative in sorted(result.files)]
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise ProjectError(
            f"refusing to overwrite existing files: {shown}",
            hint="choose an empty --out folder, or pass --force to overwrite",
        )
    out.mkdir(parents=True, exist_ok=True)
    for path in targets:
        path.write_text(result.files[str(path.relative_to(out))], encoding="utf-8")
    return targets
