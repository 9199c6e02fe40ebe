"""Taxonomy policies for Schema Registry subjects, checked offline like the topic policies.

- ``policy.schemas.min_compatibility``: subjects whose topic (or, for explicitly named
  subjects, whose name) matches a rule must have a compatibility level that *implies* the
  rule's minimum (``kafkaplan.spec.schemas.implies``): FULL satisfies "at least BACKWARD",
  FORWARD does not, BACKWARD_TRANSITIVE satisfies BACKWARD but BACKWARD does not satisfy
  BACKWARD_TRANSITIVE. The level that counts is the subject's own, else the global level
  the project file sets; a subject relying on a registry default nobody declared fails.
- ``policy.schemas.require_key_schema_for_compacted``: a compacted topic keeps the latest
  record per key, so its keys are data too: it must declare a key schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.project import Policy
from kafkaplan.spec.schemas import implies


def check(desired: DesiredState, rules: Policy) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    schema_rules = rules.schemas
    global_level = desired.registry.compatibility
    for subject in desired.subjects.values():
        subject_of = subject.topic if subject.topic is not None else subject.name
        level = subject.compatibility or global_level
        for rule in schema_rules.min_compatibility:
            if not re.search(rule.match, subject_of):
                continue
            if level is None:
                problems.append(
                    Diagnostic(
                        f"subject {subject.name!r} must have compatibility at least "
                        f"{rule.minimum}, but declares none and the project file sets no "
                        "global level",
                        file=subject.source.file,
                        line=subject.source.line,
                        hint=f"set `compatibility: {rule.minimum}` (or stronger) on the subject, "
                        "or `schemas.compatibility` in kafkaplan.yaml",
                    )
                )
            elif not implies(level, rule.minimum):
                where = "its own" if subject.compatibility else "the global level"
                problems.append(
                    Diagnostic(
                        f"subject {subject.name!r} has compatibility {level} ({where}); the "
                        f"policy requires at least {rule.minimum} for names matching "
                        f"{rule.match!r}",
                        file=subject.source.file,
                        line=subject.source.line,
                        hint=f"use {rule.minimum} or a level that implies it (see "
                        "docs/schemas.md, 'Compatibility order')",
                    )
                )
    if schema_rules.require_key_schema_for_compacted:
        for topic in desired.topics.values():
            cleanup = (topic.configs.get("cleanup.policy") or "delete").split(",")
            if "compact" in cleanup and f"{topic.name}-key" not in desired.subjects:
                problems.append(
                    Diagnostic(
                        f"topic {topic.name!r} is compacted but declares no key schema",
                        file=topic.source.file,
                        line=topic.source.line,
                        hint="add `key_schema: <file>`: compaction keeps the latest record per "
                        "key, so the key format must be governed too",
                    )
                )
    return problems


def check_required(
    desired: DesiredState, requires: Mapping[str, tuple[str, ...]]
) -> list[Diagnostic]:
    """Topics whose class requires a key or value schema they do not declare."""
    problems: list[Diagnostic] = []
    for name, roles in sorted(requires.items()):
        topic = desired.topics.get(name)
        if topic is None:
            continue
        for role in roles:
            if f"{name}-{role}" not in desired.subjects:
                problems.append(
                    Diagnostic(
                        f"topic {name!r} is of class {topic.topic_class!r}, which requires a "
                        f"{role} schema",
                        file=topic.source.file,
                        line=topic.source.line,
                        hint=f"add `{role}_schema: <file>` to the topic (or a subject with "
                        f"`topic: {name}` and `role: {role}`)",
                    )
                )
    return problems
