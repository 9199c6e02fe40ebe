"""The desired state: what the specs declare, normalized (``kafkaplan.spec.load`` builds it).

A plain immutable value, one of the two inputs of ``kafkaplan.plan.compute.compute_plan``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from msgspec import Struct, field

from kafkaplan.spec.acls import DesiredAcls
from kafkaplan.spec.quotas import DesiredQuotas


class Source(Struct, frozen=True):
    """Where a declaration was written."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class DesiredTopic(Struct, frozen=True):
    name: str
    partitions: int
    replication_factor: int
    # Normalized config values; None means "no topic-level override" (broker default).
    configs: Mapping[str, str | None]
    source: Source
    config_sources: Mapping[str, Source] = field(default_factory=dict)
    # The topic class it declares (`class:`), if any.
    topic_class: str | None = None
    # Where each effective value came from when not all from the topic itself: path
    # (`partitions`, `configs.cleanup.policy`) -> `topic`, `class <name>`, `environment
    # defaults` or `policy.dead_letter`. Empty for a topic that sets everything itself.
    origins: Mapping[str, str] = field(default_factory=dict)
    # For a companion dead-letter topic: the topic it is the dead-letter topic of.
    dead_letter_of: str | None = None
    owner: str | None = None  # the owning team (the spec's `owner`), for people


class DesiredGroup(Struct, frozen=True):
    """A group's declared configs (``kafkaplan.spec.groups``)."""

    group_id: str
    # Normalized config values; None means "no group-level value" (broker default).
    configs: Mapping[str, str | None]
    source: Source
    config_sources: Mapping[str, Source] = field(default_factory=dict)


class DesiredReference(Struct, frozen=True):
    name: str
    subject: str
    # None: "latest", the version the plan leaves as the subject's latest.
    version: int | None
    source: Source


class DesiredSubject(Struct, frozen=True):
    name: str
    schema_type: str  # AVRO, JSON or PROTOBUF
    schema: str  # the schema file's text, registered as it is
    canonical: str  # the canonical form compared with the registry's (kafkaplan.schemas)
    file: str  # the schema file, relative to the project folder
    source: Source
    references: tuple[DesiredReference, ...] = ()
    compatibility: str | None = None  # subject-level level; None: not managed
    # Field-level summary: path -> description (kafkaplan.schemas.summarize).
    fields: Mapping[str, str] = field(default_factory=dict)
    topic: str | None = None  # the topic of a topic-name-strategy subject


class RegistrySettings(Struct, frozen=True):
    """What the project says about the registry as a whole."""

    compatibility: str | None = None  # the global level; None: not managed
    owned_prefixes: tuple[str, ...] = ()
    hard_delete: bool = False

    def owns(self, subject: str) -> bool:
        return any(subject.startswith(prefix) for prefix in self.owned_prefixes)


class DeadLetterDefaults(Struct, frozen=True):
    """The policy's dead-letter settings (``policy.dead_letter``), normalized."""

    suffix: str = ".dlq"
    partitions: int | None = None  # None: as many as the topic
    retention_ms: str = "1209600000"


class ClassShape(Struct, frozen=True):
    """A topic class as ``import`` compares it with live topics."""

    name: str
    partitions: int | None = None
    replication_factor: int | None = None
    configs: Mapping[str, str] = field(default_factory=dict)  # normalized, set values only
    dead_letter: bool = False
    requires_schemas: tuple[str, ...] = ()


class DesiredUser(Struct, frozen=True):
    """A SCRAM user: its credentials by mechanism, and where its password comes from (the
    name of an environment variable; the password is never held here)."""

    name: str
    mechanisms: Mapping[str, int]  # mechanism -> iterations
    password_env: str
    source: Source
    protected: bool = False


class DesiredState(Struct, frozen=True):
    topics: Mapping[str, DesiredTopic]
    # Regular expressions of topic names never reported or touched (project `ignore_topics`).
    ignore_topics: tuple[str, ...] = ()
    # Topic name prefixes kafkaplan owns: a topic there that is in no spec may be deleted.
    owned_topic_prefixes: tuple[str, ...] = ()
    acls: DesiredAcls = field(default_factory=DesiredAcls)
    subjects: Mapping[str, DesiredSubject] = field(default_factory=dict)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    # Deletion protection: address -> why (a `protected: true` marker and where it is).
    protected: Mapping[str, str] = field(default_factory=dict)
    # Address patterns (fnmatch, as --target) of the project file's `protect`.
    protect_patterns: tuple[str, ...] = ()
    # What the project says about dead-letter topics and topic classes (for `import`).
    dead_letter: DeadLetterDefaults = field(default_factory=DeadLetterDefaults)
    topic_classes: Mapping[str, ClassShape] = field(default_factory=dict)
    # SCRAM users by name, and the user name prefixes kafkaplan owns (project
    # `owned_user_prefixes`): a live user there that no spec declares may be deleted.
    users: Mapping[str, DesiredUser] = field(default_factory=dict)
    owned_user_prefixes: tuple[str, ...] = ()
    # Users never deleted: the one kafkaplan connects as.
    protected_users: frozenset[str] = frozenset()

    @property
    def manages_users(self) -> bool:
        return bool(self.users or self.owned_user_prefixes)

    def owns_user(self, name: str) -> bool:
        return name not in self.protected_users and name.startswith(self.owned_user_prefixes)

    # Group configs by group id (only the declared groups and keys are managed).
    groups: Mapping[str, DesiredGroup] = field(default_factory=dict)
    quotas: DesiredQuotas = field(default_factory=DesiredQuotas)

    def protection(self, address: str) -> str | None:
        """Why ``address`` must not be deleted, or None."""
        reason = self.protected.get(address)
        if reason is not None:
            return reason
        pattern = next((p for p in self.protect_patterns if fnmatchcase(address, p)), None)
        return None if pattern is None else f"project pattern {pattern!r}"

    @property
    def uses_registry(self) -> bool:
        registry = self.registry
        return bool(self.subjects or registry.compatibility or registry.owned_prefixes)

    def is_ignored_topic(self, name: str) -> bool:
        return is_internal_topic(name) or any(re.search(p, name) for p in self.ignore_topics)

    def owns_topic(self, name: str) -> bool:
        return not self.is_ignored_topic(name) and name.startswith(self.owned_topic_prefixes)

    def deletion_candidates(self, live_names: Iterable[str]) -> list[str]:
        """Live topics in the owned scope that no spec declares."""
        return sorted(n for n in live_names if n not in self.topics and self.owns_topic(n))


_INTERNAL_TOPIC = re.compile(
    r"^(__kafkaplan_lease.*|__.*|_schemas|_confluent.*|kafkasql-journal.*"
    r"|connect-(configs|offsets|status)|.*-(changelog|repartition))$"
)


def is_internal_topic(name: str) -> bool:
    return bool(_INTERNAL_TOPIC.match(name))
