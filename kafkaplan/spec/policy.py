"""The taxonomy and safety policies every managed topic must meet.

Policies run offline (``kafkaplan validate``) and before every plan. Each violation is a
``file:line`` diagnostic naming the rule, so a pull request fails with a reason a reviewer
can act on.
"""

from __future__ import annotations

import re

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from kafkaplan.spec.project import Policy
from kafkaplan.spec.units import format_duration_ms


def _at(source: Source, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(message, file=source.file, line=source.line, hint=hint)


def _config_source(topic: DesiredTopic, key: str) -> Source:
    return topic.config_sources.get(key, topic.source)


def check(desired: DesiredState, rules: Policy) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    naming = re.compile(rules.naming.pattern)
    exceptions = set(rules.naming.exceptions)
    max_retention = rules.max_retention_ms()
    for topic in desired.topics.values():
        # A dead-letter topic's name follows from its topic's, which the pattern checks.
        named = topic.dead_letter_of is not None or topic.name in exceptions
        if not named and not naming.search(topic.name):
            problems.append(
                _at(
                    topic.source,
                    f"topic {topic.name!r} does not follow the naming convention "
                    f"{rules.naming.explained()}",
                    hint="rename it, or list it under policy.naming.exceptions",
                )
            )
        problems.extend(_retention(topic, max_retention))
        if topic.replication_factor < rules.min_replication_factor:
            problems.append(
                _at(
                    topic.source,
                    f"topic {topic.name!r} has replication factor {topic.replication_factor}; "
                    f"this environment requires at least {rules.min_replication_factor}",
                )
            )
        problems.extend(_insync(topic, rules.min_insync_replicas))
    return problems


def _retention(topic: DesiredTopic, max_retention: int | None) -> list[Diagnostic]:
    retention = topic.configs.get("retention.ms")
    if max_retention is None or retention is None:
        return []
    cleanup = topic.configs.get("cleanup.policy") or "delete"
    if "delete" not in cleanup.split(","):
        return []  # compact-only topics keep the latest value per key by design
    value = int(retention)
    if value == -1 or value > max_retention:
        shown = "infinite" if value == -1 else format_duration_ms(value)
        return [
            _at(
                _config_source(topic, "retention.ms"),
                f"topic {topic.name!r} keeps data for {shown}; the policy allows at most "
                f"{format_duration_ms(max_retention)}",
                hint="shorten retention.ms, or use cleanup.policy: compact for state that "
                "must be kept",
            )
        ]
    return []


def _insync(topic: DesiredTopic, minimum: int) -> list[Diagnostic]:
    declared = topic.configs.get("min.insync.replicas")
    if declared is None:
        if minimum > 1:
            return [
                _at(
                    topic.source,
                    f"topic {topic.name!r} must declare min.insync.replicas "
                    f"(at least {minimum} in this environment)",
                )
            ]
        return []
    value = int(declared)
    source = _config_source(topic, "min.insync.replicas")
    if value < minimum:
        return [
            _at(
                source,
                f"topic {topic.name!r} has min.insync.replicas {value}; this environment "
                f"requires at least {minimum}",
            )
        ]
    if value > topic.replication_factor:
        return [
            _at(
                source,
                f"topic {topic.name!r} has min.insync.replicas {value} but only "
                f"{topic.replication_factor} replicas",
                hint="producers with acks=all could never write; lower it or add replicas",
            )
        ]
    return []
