"""Import of the project's conventions on topics: dead-letter companions and topic classes.

- A live ``<name><suffix>`` next to an imported ``<name>`` whose shape is a companion's
  (cleanup.policy delete, its topic's replication factor and min.insync.replicas, no other
  overrides than retention) collapses into ``dead_letter: true`` on ``<name>`` (a mapping
  with ``partitions``/``retention`` where they differ from the policy's defaults). The WRITE
  and DESCRIBE bindings on it that the topic's consumer roles imply are then left out of
  the ACL files (``kafkaplan.importer.build``); its readers stay ordinary consumer roles.
- A live topic that holds every config of a class with the class's values (and its
  partitions and replication factor, where the class sets them) is written as
  ``class: <name>`` without them; the class covering the most values wins, then the first
  by name. A class that asks for a dead-letter topic or a key or value schema is only
  chosen for a topic that has them, so the import still plans empty.
"""

from __future__ import annotations

from typing import Any

from kafkaplan.live.state import LiveTopic
from kafkaplan.spec.desired import ClassShape, DeadLetterDefaults
from kafkaplan.spec.topic_configs import to_spec_value, values_equal

# The configs a companion declares (and import may find overridden on one).
# Beside its overrides, import reads these configs of every topic (whatever their source):
# a dead-letter topic is recognised as a companion by them.
COMPANION_CONFIGS = frozenset({"cleanup.policy", "retention.ms", "min.insync.replicas"})


def companion_setting(
    parent: LiveTopic, dlq: LiveTopic, policy: DeadLetterDefaults
) -> bool | dict[str, Any] | None:
    """``dead_letter`` for ``parent`` if ``dlq`` has a companion's shape, else None."""
    overrides = dlq.overrides()
    if set(overrides) - COMPANION_CONFIGS or dlq.replication_factor != parent.replication_factor:
        return None
    cleanup = dlq.configs.get("cleanup.policy")
    if cleanup is None or cleanup.value != "delete":
        return None
    parent_insync = parent.overrides().get("min.insync.replicas")
    if overrides.get("min.insync.replicas") != parent_insync:
        return None
    retention = dlq.configs.get("retention.ms")
    if retention is None or retention.value is None:
        return None
    setting: dict[str, Any] = {}
    partitions = policy.partitions or parent.partitions
    if dlq.partitions != partitions:
        setting["partitions"] = dlq.partitions
    if not values_equal("retention.ms", retention.value, policy.retention_ms):
        setting["retention"] = to_spec_value("retention.ms", retention.value)
    return setting or True


def recognise_class(
    spec: dict[str, Any], live: LiveTopic, classes: dict[str, ClassShape]
) -> ClassShape | None:
    """The class ``live`` (imported as ``spec``) matches exactly, if any."""
    overrides = {k: v for k, v in live.overrides().items() if v is not None}
    best: tuple[int, str] | None = None
    chosen = None
    for shape in classes.values():
        if not shape.configs and shape.partitions is None and shape.replication_factor is None:
            continue
        if any(
            key not in overrides or not values_equal(key, overrides[key], value)
            for key, value in shape.configs.items()
        ):
            continue
        if shape.partitions is not None and shape.partitions != live.partitions:
            continue
        if (
            shape.replication_factor is not None
            and shape.replication_factor != live.replication_factor
        ):
            continue
        if shape.dead_letter and not spec.get("dead_letter"):
            continue
        if any(f"{role}_schema" not in spec for role in shape.requires_schemas):
            continue
        covered = len(shape.configs) + (shape.partitions is not None)
        covered += shape.replication_factor is not None
        rank = (-covered, shape.name)
        if best is None or rank < best:
            best, chosen = rank, shape
    return chosen


def apply_class(spec: dict[str, Any], shape: ClassShape) -> dict[str, Any]:
    """``spec`` with ``class:`` and without what the class gives, keys in spec order."""
    result: dict[str, Any] = {"name": spec["name"], "class": shape.name}
    for key, value in spec.items():
        if key == "name":
            continue
        if key == "partitions" and shape.partitions is not None:
            continue
        if key == "replication_factor" and shape.replication_factor is not None:
            continue
        if key == "dead_letter" and shape.dead_letter and value is True:
            continue
        if key == "configs":
            rest = {k: v for k, v in value.items() if k not in shape.configs}
            if rest:
                result["configs"] = rest
            continue
        result[key] = value
    return result
