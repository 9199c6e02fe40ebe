"""Which questions a plan needs the broker and the registry to answer before it can be
decided (``kafkaplan.live.checks`` asks them; ``compute_plan`` decides from the answers).

Some questions need the network but must be answered at plan time, so that a change the
broker or the registry would refuse fails the plan, not the apply: the broker's dry run of
every topic creation, config update, partition increase, group config update and client
quota change, whether this Kafka client can carry out an ACL change, the registry's
compatibility check (and look-up) of every new schema version, and which schemas still
refer to a subject the plan deletes (the registry refuses that delete while one does).
Which to ask follows from a draft computation without answers; the plan itself is then
computed once more, with them, so that everything is decided in one place.
"""

from __future__ import annotations

from kafkaplan.kinds import ResourceKind
from kafkaplan.live.checks import Questions
from kafkaplan.live.cluster import NewTopicRequest
from kafkaplan.live.registry import SchemaPayload, SchemaReference
from kafkaplan.plan.model import (
    Action,
    AlterGroupConfigs,
    AlterQuotas,
    CreateAcl,
    CreateTopic,
    DeleteAcl,
    DeleteSubject,
    Plan,
    RegisterSchema,
    UpdateTopic,
)


def questions(draft: Plan) -> Questions:
    """What a plan computed without answers needs answered: its topic creations, config
    updates and partition increases, its ACL changes, the new versions of existing
    subjects, and who refers to the subjects it deletes."""
    creations = []
    config_updates: dict[str, dict[str, str | None]] = {}
    partition_increases: dict[str, int] = {}
    bindings = []
    registrations = {}
    unchecked = []
    group_updates: dict[str, dict[str, str | None]] = {}
    quota_changes = {}
    deletions: dict[str, tuple[int, ...]] = {}
    for change in draft.changes:
        operation = change.operation
        if isinstance(operation, DeleteSubject):
            versions = (change.before or {}).get("versions") or ()
            deletions[change.name] = tuple(int(v) for v in versions)
        elif isinstance(operation, AlterGroupConfigs):
            group_updates[change.name] = dict(operation.configs)
        elif isinstance(operation, AlterQuotas):
            quota_changes[operation.quota_entity()] = dict(operation.values)
        elif isinstance(operation, CreateTopic):
            creations.append(
                NewTopicRequest(
                    name=change.name,
                    partitions=operation.partitions,
                    replication_factor=operation.replication_factor,
                    configs=dict(operation.configs),
                )
            )
        elif isinstance(operation, UpdateTopic):
            if operation.configs:
                config_updates[change.name] = dict(operation.configs)
            if operation.partitions is not None:
                partition_increases[change.name] = operation.partitions
        elif isinstance(operation, CreateAcl | DeleteAcl):
            bindings.append(operation.binding.binding())
        elif (
            isinstance(operation, RegisterSchema)
            and change.kind is ResourceKind.SUBJECT
            and change.action is Action.UPDATE
        ):
            if any(ref.version is None for ref in operation.references):
                unchecked.append(change.name)
                continue
            registrations[change.name] = SchemaPayload(
                operation.schema_type,
                operation.schema_text,
                tuple(
                    SchemaReference(ref.name, ref.subject, ref.version)
                    for ref in operation.references
                    if ref.version is not None
                ),
            )
    return Questions(
        tuple(creations),
        tuple(bindings),
        registrations,
        tuple(unchecked),
        config_updates=config_updates,
        partition_increases=partition_increases,
        group_config_updates=group_updates,
        quota_changes=quota_changes,
        subject_deletions=deletions,
    )
