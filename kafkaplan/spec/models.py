"""The spec format: what a YAML file under ``specs/`` may say.

These pydantic models define the format and generate its JSON Schema (``kafkaplan schema``,
docs/spec-reference.md). They only check shape and types; meaning (config names and values,
topic names, duplicates, policies) is checked in ``kafkaplan.spec.load`` and
``kafkaplan.spec.policy``, where every problem gets its file and line.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.spec.acls import AclEntry
from kafkaplan.spec.defaults import new_list
from kafkaplan.spec.groups import GroupSpec
from kafkaplan.spec.numbers import Count, MaybeCount, Quantity
from kafkaplan.spec.quotas import QuotaEntry
from kafkaplan.spec.users import UserSpec

ConfigValue = str | int | float | bool | list[str] | None


CompatibilityLevel = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]
SchemaType = Literal["AVRO", "JSON", "PROTOBUF"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class ReferenceSpec(StrictModel):
    """A schema this schema refers to (Confluent-style schema reference)."""

    name: str = Field(
        description="How the schema refers to it: the Avro full type name, the JSON Schema "
        "`$ref` or the Protobuf import path.",
    )
    subject: str = Field(description="Subject holding the referenced schema.")
    version: Count | Literal["latest"] = Field(
        default="latest",
        description="Version of that subject; `latest` means the version this plan leaves "
        "as the latest (the one it registers, if it registers one).",
    )


class SchemaSpec(StrictModel):
    """A schema registered under a Schema Registry subject."""

    file: str = Field(
        description="Schema file, relative to the spec file; it must stay inside the project "
        "folder. .avsc is Avro, .json JSON Schema, .proto Protobuf.",
        examples=["schemas/order-created.avsc"],
    )
    type: SchemaType | None = Field(
        default=None, description="Schema type; inferred from the file suffix when omitted."
    )
    compatibility: CompatibilityLevel | None = Field(
        default=None,
        description="Subject-level compatibility. Omitted: the registry's global default.",
    )
    references: list[ReferenceSpec] | None = Field(
        default=None,
        description="References to other subjects. Omitted: detected from the schema (Avro "
        "named types, JSON `$ref`, Protobuf imports) among the subjects the specs declare.",
    )


class SubjectSpec(SchemaSpec):
    """A subject: named after a topic (topic-name strategy) or explicitly."""

    name: str | None = Field(
        default=None,
        description="Explicit subject name (record-name strategies). Exclusive with `topic`.",
        examples=["com.acme.orders.Money"],
    )
    topic: str | None = Field(
        default=None,
        description="Topic whose `<topic>-value` or `<topic>-key` subject this is.",
    )
    role: Literal["key", "value"] = Field(
        default="value", description="With `topic`: the key or the value subject."
    )
    protected: bool = Field(
        default=False,
        description="Deletion protection: a plan that would delete this subject or roll it "
        "back (deleting versions) fails.",
    )


class DeadLetterReader(StrictModel):
    """Who drains a dead-letter topic: a consumer role on it (READ and DESCRIBE on the
    topic, READ on the group)."""

    principal: str = Field(description="The reader's principal.", examples=["User:ops"])
    group: str | None = Field(default=None, description="Its consumer group, by exact name.")
    group_prefix: str | None = Field(default=None, description="Its consumer groups, by prefix.")


class DeadLetterSpec(StrictModel):
    """A companion dead-letter topic, `<topic><suffix>` (`policy.dead_letter.suffix`,
    `.dlq` by default), with the policy's defaults unless overridden here."""

    readers: list[DeadLetterReader] = Field(
        default_factory=new_list,
        description="Principals that drain the dead-letter topic; each gets a consumer role on it.",
    )
    partitions: MaybeCount = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Partitions of the dead-letter topic. Default: `policy.dead_letter.partitions`.",
    )
    retention: Quantity | None = Field(
        default=None,
        description="retention.ms of the dead-letter topic (units: 14d). Default: "
        "`policy.dead_letter.retention`.",
    )


# `dead_letter: true` (the policy's defaults), a mapping (readers, overrides), or `false`.
DeadLetter = bool | DeadLetterSpec


class TopicSpec(StrictModel):
    """A Kafka topic."""

    name: str = Field(
        description="Topic name: letters, digits, '.', '_' and '-', at most 249 characters; "
        "by default it must follow the taxonomy entity.event_type.version.",
        examples=["orders.created.v1"],
    )
    topic_class: str | None = Field(
        default=None,
        alias="class",
        description="A topic class of the project file (`topic_classes`): its partitions, "
        "replication factor, configs, dead-letter settings and schema requirements apply "
        "unless this topic sets its own.",
        examples=["state"],
    )
    description: str | None = Field(default=None, description="What the topic carries; for people.")
    owner: str | None = Field(
        default=None, description="The owning team; shown in the blast radius of its changes."
    )
    partitions: MaybeCount = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Number of partitions. Can only grow. Defaults to the environment's "
        "`defaults.partitions`.",
    )
    replication_factor: MaybeCount = Field(
        default=None,
        ge=1,
        le=32,
        description="Replicas per partition. Defaults to the environment's "
        "`defaults.replication_factor`.",
    )
    configs: dict[str, ConfigValue] = Field(
        default_factory=dict,
        description="Topic configs (Kafka names such as retention.ms, cleanup.policy). "
        "Durations take units (7d, 12h), sizes take units (1GiB, 512MiB). Only the configs "
        "written here are managed; `null` removes a topic-level override so the broker "
        "default applies.",
        examples=[{"retention.ms": "7d", "cleanup.policy": "delete", "min.insync.replicas": 2}],
    )
    key_schema: str | SchemaSpec | None = Field(
        default=None,
        description="Schema of the record keys, registered as subject `<topic>-key`.",
    )
    value_schema: str | SchemaSpec | None = Field(
        default=None,
        description="Schema of the record values, registered as subject `<topic>-value`: a "
        "file path, or a mapping with `file`, `type`, `compatibility`, `references`.",
    )
    dead_letter: DeadLetter | None = Field(
        default=None,
        description="A companion dead-letter topic `<name>.dlq`: `true` for the policy's "
        "defaults, a mapping for readers and overrides, `false` to turn off the class's.",
    )
    protected: bool = Field(
        default=False,
        description="Deletion protection: a plan that would delete this topic (or its "
        "subjects) fails, whatever --allow-deletes says. It protects while declared; to keep "
        "protecting a resource whose spec may be removed, use the project file's `protect`.",
    )


class SpecFile(StrictModel):
    """One spec file. Any number of them, in any folder layout under the spec paths."""

    topics: list[TopicSpec] = Field(default_factory=new_list, description="Topics to manage.")
    acls: list[AclEntry] = Field(
        default_factory=new_list,
        description="ACL bindings and roles (docs/acls.md); one entry is for one principal.",
    )
    subjects: list[SubjectSpec] = Field(
        default_factory=new_list,
        description="Schema Registry subjects beside those declared on topics.",
    )
    users: list[UserSpec] = Field(
        default_factory=new_list,
        description="SCRAM users (docs/users.md); passwords come from environment variables.",
    )
    groups: list[GroupSpec] = Field(
        default_factory=new_list,
        description="Group configs by group id (docs/groups.md); Kafka 4.0 or newer.",
    )
    quotas: list[QuotaEntry] = Field(
        default_factory=new_list,
        description="Client quotas (docs/quotas.md); one entry is for one entity.",
    )


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of a spec file, for editors (yaml-language-server) and `validate`."""
    schema = SpecFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kafkaplan.dev/schema/spec.json"
    schema["title"] = "kafkaplan spec file"
    return schema
