"""The plan: a typed, closed, versioned and serializable value.

``kafkaplan.plan.compute.compute_plan`` produces it from the desired and the live state; the
renderers (text, Markdown, JSON) only read it; ``kafkaplan.apply`` carries out each change's
``operation`` without re-deciding anything. ``--format json`` prints exactly this model, and
saved plans are this model on disk (docs/plan.schema.json).

Every change is one resource (``kind`` and ``name``, with a stable ``address``), one
``action`` and one typed ``operation``: what apply sends. ``before``/``after`` are the
managed part of the resource as it is and as it will be, and ``fields`` the attributes that
differ, for people and for diffs of plans; apply never reads them.

kafkaplan never plans a replace: every resource it manages is changed in place, and a change
Kafka cannot make in place (fewer partitions, say) is a plan error with a hint.

Format version 2 (version 1 had ``resource_type`` and an ``actions`` list, and no
``operation``). Compatible additions (new optional fields, new kinds, operations or risk
labels) keep the version; anything that changes the meaning of an existing field bumps it.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.kinds import ResourceKind
from kafkaplan.spec.acls import Binding, PatternType, Permission
from kafkaplan.spec.acls import Operation as AclOperation
from kafkaplan.spec.acls import ResourceType as AclResourceType
from kafkaplan.spec.defaults import new_list
from kafkaplan.spec.quotas import QuotaEntity

FORMAT_VERSION = 2


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class RiskLabel(StrEnum):
    DATA_LOSS = "data-loss"
    ORDERING = "ordering"
    ACCESS_LOSS = "access-loss"
    SCHEMA_BREAK = "schema-break"
    # Data is copied between brokers (new replicas of a partition reassignment).
    DATA_MOVEMENT = "data-movement"
    # Fewer replicas: the data survives fewer broker failures.
    DURABILITY = "durability"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# ---------------------------------------------------------------------------------------------
# Operations: what apply sends for a change, one type per kind and action
# ---------------------------------------------------------------------------------------------


class CreateTopic(_Model):
    type: Literal["create-topic"] = "create-topic"
    partitions: int
    replication_factor: int
    configs: dict[str, str] = Field(default_factory=dict)


class ReplicaChange(_Model):
    """One partition's replicas, preferred leader first (``before`` None: a new partition)."""

    before: list[int] | None
    after: list[int]


class UpdateTopic(_Model):
    type: Literal["update-topic"] = "update-topic"
    configs: dict[str, str | None] = Field(
        default_factory=dict, description="Config -> new value; null removes the override"
    )
    partitions: int | None = Field(default=None, description="The new partition count")
    replicas: dict[int, ReplicaChange] = Field(
        default_factory=dict,
        description="Partition -> its new replicas: carried out as a throttled reassignment",
    )
    elect_leaders: list[int] = Field(
        default_factory=new_list,
        description="Partitions whose preferred leader is elected (after a reassignment)",
    )

    @property
    def reassigns(self) -> bool:
        return bool(self.replicas or self.elect_leaders)


class DeleteTopic(_Model):
    type: Literal["delete-topic"] = "delete-topic"


class AclBinding(_Model):
    """One ACL binding, as Kafka spells its parts."""

    principal: str
    permission: Permission
    operation: AclOperation
    resource_type: AclResourceType
    pattern_type: PatternType
    resource_name: str
    host: str = "*"

    @classmethod
    def of(cls, binding: Binding) -> AclBinding:
        return cls(
            principal=binding.principal,
            permission=binding.permission,
            operation=binding.operation,
            resource_type=binding.resource_type,
            pattern_type=binding.pattern_type,
            resource_name=binding.resource_name,
            host=binding.host,
        )

    def binding(self) -> Binding:
        return Binding(
            principal=self.principal,
            resource_type=self.resource_type,
            pattern_type=self.pattern_type,
            resource_name=self.resource_name,
            operation=self.operation,
            permission=self.permission,
            host=self.host,
        )


class CreateAcl(_Model):
    type: Literal["create-acl"] = "create-acl"
    binding: AclBinding


class DeleteAcl(_Model):
    type: Literal["delete-acl"] = "delete-acl"
    binding: AclBinding


class Reference(_Model):
    name: str
    subject: str
    version: int | None = Field(
        description="null: the version this plan registers for that subject (known at apply)"
    )


class RegisterSchema(_Model):
    type: Literal["register-schema"] = "register-schema"
    schema_type: str
    schema_text: str
    references: list[Reference] = Field(default_factory=new_list)
    latest: int | None = Field(
        default=None, description="The subject's latest version when planned (null: new)"
    )


class RollBackSchema(_Model):
    """Make an older version the latest again by soft-deleting the newer ones."""

    type: Literal["roll-back-schema"] = "roll-back-schema"
    version: int
    delete_versions: list[int]


class DeleteSubject(_Model):
    type: Literal["delete-subject"] = "delete-subject"
    permanent: bool = Field(description="Hard delete (after the soft delete)")


class SetCompatibility(_Model):
    """A subject's level (``subject-config``) or the registry's (``registry-config``)."""

    type: Literal["set-compatibility"] = "set-compatibility"
    level: str


class AlterBrokerConfigs(_Model):
    type: Literal["alter-broker-configs"] = "alter-broker-configs"
    configs: dict[str, str | None] = Field(description="Config -> new value; null removes it")


class SetScramCredentials(_Model):
    """Create or update a SCRAM user: upsert the credentials of ``upserts`` (mechanism ->
    iterations) with the password read at apply time from environment variable
    ``password_env`` (never from the plan, which holds no secret), and delete the
    credentials of the mechanisms in ``deletions``."""

    type: Literal["set-scram-credentials"] = "set-scram-credentials"
    upserts: dict[str, int] = Field(
        default_factory=dict,
        description="Mechanism (SCRAM-SHA-256, SCRAM-SHA-512) -> iterations, set with the "
        "password from `password_env`",
    )
    deletions: list[str] = Field(
        default_factory=new_list, description="Mechanisms whose credential is removed"
    )
    password_env: str | None = Field(
        default=None,
        description="The environment variable apply reads the password from (null: no "
        "upsert, nothing to read)",
    )
    rotate: bool = Field(
        default=False, description="Sets a new password on an existing user (--rotate-passwords)"
    )


class DeleteScramUser(_Model):
    type: Literal["delete-scram-user"] = "delete-scram-user"
    mechanisms: list[str] = Field(description="Every credential the user has, each removed")


class AlterGroupConfigs(_Model):
    """Incremental: a group's configs (the GROUP config resource, Kafka 4.0+)."""

    type: Literal["alter-group-configs"] = "alter-group-configs"
    configs: dict[str, str | None] = Field(
        description="Config -> new value; null removes the group's own value"
    )


class QuotaEntityPart(_Model):
    """One part of a client quota entity, as Kafka names it."""

    entity_type: Literal["user", "client-id", "ip"]
    name: str | None = Field(description="null: the default entity of the type (`<default>`)")


class AlterQuotas(_Model):
    """Set (and, for keys mapped to null, remove) quota keys of one entity."""

    type: Literal["alter-quotas"] = "alter-quotas"
    entity: list[QuotaEntityPart]
    values: dict[str, float | None] = Field(description="Key -> new value; null removes it")

    @classmethod
    def of(cls, entity: QuotaEntity, values: dict[str, float | None]) -> AlterQuotas:
        return cls(entity=_parts(entity), values=values)

    def quota_entity(self) -> QuotaEntity:
        return QuotaEntity.from_parts((p.entity_type, p.name) for p in self.entity)


class DeleteQuotas(_Model):
    """Remove every listed quota key of one entity (the entity then has no quotas)."""

    type: Literal["delete-quotas"] = "delete-quotas"
    entity: list[QuotaEntityPart]
    keys: list[str]

    @classmethod
    def of(cls, entity: QuotaEntity, keys: list[str]) -> DeleteQuotas:
        return cls(entity=_parts(entity), keys=keys)

    def quota_entity(self) -> QuotaEntity:
        return QuotaEntity.from_parts((p.entity_type, p.name) for p in self.entity)


def _parts(entity: QuotaEntity) -> list[QuotaEntityPart]:
    return [
        QuotaEntityPart.model_validate({"entity_type": kind, "name": name})
        for kind, name in entity.parts
    ]


Operation = Annotated[
    CreateTopic
    | UpdateTopic
    | DeleteTopic
    | CreateAcl
    | DeleteAcl
    | RegisterSchema
    | RollBackSchema
    | DeleteSubject
    | SetCompatibility
    | AlterBrokerConfigs
    | SetScramCredentials
    | DeleteScramUser
    | AlterGroupConfigs
    | AlterQuotas
    | DeleteQuotas,
    Field(discriminator="type"),
]


class Risk(_Model):
    label: RiskLabel
    message: str = Field(description="What could be lost or broken, with the figures.")


class FieldChange(_Model):
    """One changed attribute of a resource: ``partitions``, ``configs.retention.ms``, ..."""

    path: str
    before: Any = None
    after: Any = None


class Principal(_Model):
    """A principal that may produce to or consume from a topic, and the binding that lets it."""

    principal: str
    binding: str = Field(description="The binding, e.g. ALLOW WRITE on topics prefixed 'orders.'")
    role: str | None = Field(default=None, description="The spec's role it comes from, if any")
    declared: bool = Field(description="Declared in the specs (else only live on the cluster)")
    source: str | None = Field(default=None, description="file:line of the declaration")


class GroupUsage(_Model):
    """A consumer group with committed offsets on the topic, or live members assigned to it."""

    group: str
    state: str = Field(description="Kafka's group state (STABLE, EMPTY, ...)")
    members: list[str] = Field(
        default_factory=new_list, description="Live members, as client-id@host"
    )
    lag: int | None = Field(
        default=None, description="Messages written but not yet committed by the group"
    )
    active: bool = Field(
        default=False,
        description="Live members, or committed offsets past the first record written within "
        "the in-use window",
    )
    unread_lost: int | None = Field(
        default=None,
        description="With a retention cut: messages the group has not read that the cut deletes",
    )


class Affected(_Model):
    """Who notices a change of a topic: the blast radius shown to reviewers."""

    topic: str
    owner: str | None = Field(default=None, description="The owning team (the spec's `owner`)")
    producers: list[Principal] = Field(default_factory=new_list)
    consumers: list[Principal] = Field(default_factory=new_list)
    groups: list[GroupUsage] = Field(default_factory=new_list)
    groups_read: bool = Field(
        default=True, description="False: the consumer groups could not be read (see notes)"
    )
    messages_lost: int | None = Field(
        default=None,
        description="With a retention cut: messages older than the new limit, which go",
    )
    bytes_lost: int | None = Field(
        default=None,
        description="Bytes on disk that go (DescribeLogDirs, the leader replicas' partition "
        "sizes): for a deletion, the topic's size; for a retention cut, an upper bound (the "
        "size of the partitions that lose records: Kafka deletes whole segments, whose sizes "
        "it does not report)",
    )
    bytes_upper_bound: bool = Field(
        default=False, description='True: `bytes_lost` is an upper bound ("up to")'
    )
    notes: list[str] = Field(default_factory=new_list)


class AccessInUse(_Model):
    """Access a plan removes while it is in use: the last binding that lets a principal read
    a topic (or a group) a live consumer group reads, or write a topic written recently."""

    principal: str
    operation: Literal["READ", "WRITE"]
    resource: str = Field(
        description="What it loses, e.g. topic orders.created.v1 or group billing"
    )
    groups: list[GroupUsage] = Field(
        default_factory=new_list,
        description="READ: the consumer groups in use that the principal may read (by its group "
        "bindings) and that read the topic, or the group itself",
    )
    written: int | None = Field(
        default=None,
        description="WRITE: messages written to the topic within the in-use window (Kafka does "
        "not record which principal wrote them)",
    )


class Change(_Model):
    address: str = Field(description="Stable resource address, e.g. topic.orders.created.v1")
    kind: ResourceKind
    name: str
    action: Action
    operation: Operation = Field(description="What apply sends for this change")
    before: dict[str, Any] | None = Field(
        default=None, description="Live value (managed part), for review"
    )
    after: dict[str, Any] | None = Field(default=None, description="Desired value, for review")
    fields: list[FieldChange] = Field(default_factory=new_list, description="For updates")
    risks: list[Risk] = Field(default_factory=new_list)
    source: str | None = Field(default=None, description="file:line of the declaration")
    depends_on: list[str] = Field(
        default_factory=new_list,
        description="Addresses of changes in this plan that must succeed before this one",
    )
    protected: str | None = Field(
        default=None,
        description="Why the resource is protected from deletion (a `protected: true` marker "
        "or a project `protect` pattern); null: not protected",
    )
    origins: dict[str, str] = Field(
        default_factory=dict,
        description="Topics of a class and dead-letter topics: where each effective value "
        "comes from (path -> `topic`, `class <name>`, `environment defaults`, "
        "`policy.dead_letter`, `topic <name>`)",
    )
    affected: Affected | None = Field(
        default=None, description="Who is affected (the blast radius), for review"
    )
    in_use: list[AccessInUse] = Field(
        default_factory=new_list,
        description="ACL deletions: the access it removes that is in use (a plan error unless "
        "--allow-in-use-deletes)",
    )


class Message(_Model):
    message: str
    address: str | None = None
    source: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        parts = [
            f"{self.source}: " if self.source else "",
            f"{self.address}: " if self.address else "",
        ]
        text = "".join(parts) + self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class Plan(_Model):
    format_version: int = FORMAT_VERSION
    kafkaplan_version: str = ""
    environment: str | None = None
    cluster_id: str | None = None
    created_at: str | None = None
    targets: list[str] = Field(
        default_factory=new_list, description="--target address patterns the plan is restricted to"
    )
    allow_deletes: bool = Field(
        default=False, description="Planned with --allow-deletes (deletions of owned resources)"
    )
    in_use_override: bool = Field(
        default=False,
        description="Planned with --allow-in-use-deletes: topics that consumer groups still "
        "read may be deleted",
    )
    commit: str | None = Field(
        default=None,
        description="The commit of the specs it was planned at (GITHUB_SHA or the checkout's "
        "HEAD); null when unknown",
    )
    live_fingerprint: str = Field(
        default="", description="Digest of the live state of every managed resource"
    )
    resource_fingerprints: dict[str, str] = Field(
        default_factory=dict,
        description="Per managed address: digest of its live state, or 'absent'",
    )
    changes: list[Change] = Field(default_factory=new_list)
    unmanaged: list[str] = Field(
        default_factory=new_list, description="Addresses live on the cluster but in no spec"
    )
    warnings: list[Message] = Field(default_factory=new_list)
    errors: list[Message] = Field(default_factory=new_list)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        """How many resources each action touches."""
        tally = Counter(change.action.value for change in self.changes)
        return {action.value: tally[action.value] for action in Action}

    def summary(self) -> str:
        counts = self.counts()
        return (
            f"{counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete"
        )


class PlanSet(_Model):
    """The plans of several environments made in one run (``plan --env a --env b``,
    ``--all-envs``): ``--format json`` prints this wrapper (docs/plan-set.schema.json), with
    one complete plan per environment, in the order asked. An environment that could not be
    planned (invalid specs for it, an unreachable cluster) has a plan with only ``errors``.
    It shares the plan's format version; a plan set is not a saved plan: apply reads one
    environment's plan (``plan --env NAME --out FILE``)."""

    format_version: int = FORMAT_VERSION
    kind: Literal["plan-set"] = "plan-set"
    kafkaplan_version: str = ""
    created_at: str | None = None
    plans: list[Plan] = Field(default_factory=new_list, description="One plan per environment")

    @property
    def has_changes(self) -> bool:
        return any(plan.has_changes for plan in self.plans)

    @property
    def has_errors(self) -> bool:
        return any(plan.errors for plan in self.plans)
