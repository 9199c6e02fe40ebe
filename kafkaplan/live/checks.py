"""Ask the broker and the registry the plan's questions (``kafkaplan.plan.checks``) without
changing anything: the broker's dry run of every topic creation, config update and
partition increase and client quota change, what this Kafka client can do with ACLs, the
registry's compatibility check and look-up of every new schema version, and which schemas
still refer to a subject the plan deletes.
The answers (``Checks``) are, beside the live state, an input of ``compute_plan``."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from msgspec import Struct, field

from kafkaplan.errors import (
    ClusterError,
    PermissionDenied,
    RegistryAuthenticationFailed,
    RegistryError,
    RegistryPermissionDenied,
    RegistryUnreachable,
)
from kafkaplan.kinds import subject_address
from kafkaplan.live.cluster import Cluster, NewTopicRequest
from kafkaplan.live.read import REGISTRY_WORKERS, UntilUnreachable
from kafkaplan.live.registry import CompatibilityResult, RegisteredSchema, Registry, SchemaPayload
from kafkaplan.spec.acls import Binding
from kafkaplan.spec.quotas import QuotaEntity

T = TypeVar("T")


class Refusal(Struct, frozen=True):
    """The broker's or the registry's no, with its reason."""

    message: str
    hint: str | None = None


class DryRun(Struct, frozen=True):
    """The broker's answer to a validate-only request."""

    refusal: Refusal | None = None
    # The principal may not ask (no CREATE, say): the broker only validates at apply.
    denied: bool = False


class SchemaCheck(Struct, frozen=True):
    """The registry's answers about registering a new schema version of a subject."""

    # The compatibility verdict at the subject's current level; None: not known (denied,
    # or the registry refused the schema itself, see ``refusal``).
    compatible: bool | None = None
    reasons: tuple[str, ...] = ()
    refusal: Refusal | None = None
    denied: bool = False
    # The version the subject already has this schema as, when that is not the latest
    # (someone registered newer versions outside the specs), and all its versions.
    registered_as: int | None = None
    versions: tuple[int, ...] = ()
    # The registry could not check the schema (its answer): Apicurio's compatibility
    # endpoint refuses any schema posted with references (HTTP 422). Not a verdict: the
    # registry enforces the level when the version is registered at apply.
    unchecked: str | None = None


class Referrers(Struct, frozen=True):
    """The registry's answer for a subject the plan deletes: the schemas that still refer to
    one of its versions (the registry refuses the delete while one does)."""

    schema_ids: tuple[int, ...] = ()
    # Schema id -> the subjects and versions that have it (soft-deleted ones too), where the
    # registry said.
    usages: Mapping[int, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    # The registry could not say (its answer): not a verdict.
    unchecked: str | None = None


class Questions(Struct, frozen=True):
    """What to ask before the plan can be decided."""

    topic_creations: tuple[NewTopicRequest, ...] = ()
    acl_bindings: tuple[Binding, ...] = ()
    # Subject -> the schema it would register (every reference's version known).
    registrations: Mapping[str, SchemaPayload] = field(default_factory=dict)
    # Subjects whose registration refers to a version this plan registers: checked at apply.
    unchecked_registrations: tuple[str, ...] = ()
    # Topic -> the configs an update sets (None: removes the override); topic -> new total.
    config_updates: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    partition_increases: Mapping[str, int] = field(default_factory=dict)
    # Group id -> the configs an update sets (None: removes the group's own value).
    group_config_updates: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    # Client quota entity -> the keys a change sets (None: removes the key).
    quota_changes: Mapping[QuotaEntity, Mapping[str, float | None]] = field(default_factory=dict)
    # Subject the plan deletes -> its versions (who refers to them is asked).
    subject_deletions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.subject_deletions
            or self.topic_creations
            or self.group_config_updates
            or self.quota_changes
            or self.config_updates
            or self.partition_increases
            or self.acl_bindings
            or self.registrations
            or self.unchecked_registrations
        )


class Checks(Struct, frozen=True):
    """The answers (absent: not asked)."""

    topic_creations: Mapping[str, DryRun] = field(default_factory=dict)
    config_updates: Mapping[str, DryRun] = field(default_factory=dict)
    partition_increases: Mapping[str, DryRun] = field(default_factory=dict)
    # Binding -> why this Kafka client cannot create or delete it.
    acl_unsupported: Mapping[Binding, str] = field(default_factory=dict)
    schemas: Mapping[str, SchemaCheck] = field(default_factory=dict)
    unchecked_registrations: frozenset[str] = frozenset()
    group_config_updates: Mapping[str, DryRun] = field(default_factory=dict)
    # Client quota entity -> the broker's dry run of its change.
    quota_changes: Mapping[QuotaEntity, DryRun] = field(default_factory=dict)
    # Subject the plan deletes -> the schemas that still refer to it.
    subject_referrers: Mapping[str, Referrers] = field(default_factory=dict)


def ask(cluster: Cluster, registry: Registry | None, questions: Questions) -> Checks:
    return Checks(
        topic_creations=_dry_run_creations(cluster, questions),
        config_updates=_dry_runs(
            cluster.alter_topic_configs(questions.config_updates, validate_only=True)
            if questions.config_updates
            else {}
        ),
        partition_increases=_dry_runs(
            cluster.create_partitions(questions.partition_increases, validate_only=True)
            if questions.partition_increases
            else {}
        ),
        acl_unsupported={
            binding: reason
            for binding in questions.acl_bindings
            if (reason := cluster.acl_unsupported(binding)) is not None
        },
        schemas=_check_schemas(registry, questions) if registry is not None else {},
        unchecked_registrations=frozenset(questions.unchecked_registrations),
        group_config_updates=_dry_runs(
            cluster.alter_group_configs(questions.group_config_updates, validate_only=True)
            if questions.group_config_updates
            else {}
        ),
        quota_changes=_dry_run_quotas(cluster, questions),
        subject_referrers=_referrers(registry, questions) if registry is not None else {},
    )


def _dry_run_quotas(cluster: Cluster, questions: Questions) -> dict[QuotaEntity, DryRun]:
    """AlterClientQuotas with validateOnly: the broker checks every key and value."""
    if not questions.quota_changes:
        return {}
    results = cluster.alter_quotas(questions.quota_changes, validate_only=True)
    by_key = {entity.key: entity for entity in results}
    answers = _dry_runs({entity.key: error for entity, error in results.items()})
    return {by_key[key]: answer for key, answer in answers.items()}


def _dry_run_creations(cluster: Cluster, questions: Questions) -> dict[str, DryRun]:
    """The broker validates every creation without making it. A principal allowed to plan
    but not to create topics (a read-only CI job on pull requests) cannot ask: ``denied``."""
    if not questions.topic_creations:
        return {}
    results = cluster.create_topics(list(questions.topic_creations), validate_only=True)
    return _dry_runs(
        {request.name: results.get(request.name) for request in questions.topic_creations}
    )


def _dry_runs(results: Mapping[str, ClusterError | None]) -> dict[str, DryRun]:
    """Each topic's answer to one batched validate-only request (creations, config updates
    or partition increases): accepted, refused with the broker's reason, or not asked
    because the principal may not make the change (the broker then validates it at apply)."""
    answers = {}
    for name, error in results.items():
        if error is None:
            answers[name] = DryRun()
        elif isinstance(error, PermissionDenied):
            answers[name] = DryRun(denied=True)
        else:
            answers[name] = DryRun(refusal=Refusal(error.message, error.hint))
    return answers


def _check_schemas(registry: Registry, questions: Questions) -> dict[str, SchemaCheck]:
    """Per subject: the registry's compatibility verdict at the subject's current level, and
    whether the subject already has the schema as an older version. A registry that stops
    answering, or refuses this client, fails the plan; a refusal of one schema is its answer."""
    ask_registry = UntilUnreachable()
    futures: dict[
        str,
        tuple[Future[CompatibilityResult], Future[RegisteredSchema | None], Future[list[int]]],
    ] = {}
    with ThreadPoolExecutor(max_workers=REGISTRY_WORKERS) as pool:
        for subject, payload in questions.registrations.items():
            address = subject_address(subject)
            futures[subject] = (
                pool.submit(ask_registry, address, registry.check_compatibility, subject, payload),
                pool.submit(ask_registry, address, registry.lookup, subject, payload),
                pool.submit(ask_registry, address, registry.versions, subject),
            )
        return {
            subject: _answers(*answers, questions.registrations[subject])
            for subject, answers in futures.items()
        }


def _referrers(registry: Registry, questions: Questions) -> dict[str, Referrers]:
    """For each subject the plan deletes, the schemas that refer to one of its versions and
    have not been deleted for good, with the subjects and versions that have them: the
    registry lists the referrers of each version (soft-deleted ones too, and Apicurio even
    some deleted for good). A registry that cannot say is that subject's answer; one that
    stops answering, or refuses this client, fails the plan. A referrer the registry says
    nothing more about is counted, unnamed."""
    if not questions.subject_deletions:
        return {}
    ask_registry = UntilUnreachable()
    found: dict[str, set[int] | str] = {}
    usages: dict[int, list[tuple[str, int]] | None] = {}
    with ThreadPoolExecutor(max_workers=REGISTRY_WORKERS) as pool:
        asked = {
            subject: [
                pool.submit(
                    ask_registry, subject_address(subject), registry.referenced_by, subject, v
                )
                for v in versions
            ]
            for subject, versions in questions.subject_deletions.items()
        }
        for subject, futures in asked.items():
            referring: set[int] | str = set()
            for version_read in futures:
                said = _settled(version_read)
                if isinstance(said, RegistryError):
                    referring = said.message
                elif isinstance(referring, set):
                    referring.update(said)
            found[subject] = referring
        ids = sorted({i for answer in found.values() if isinstance(answer, set) for i in answer})
        looked_up = {
            i: pool.submit(ask_registry, f"schema id {i}", registry.schema_usages, i) for i in ids
        }
        for schema_id, lookup in looked_up.items():
            named = _settled(lookup)
            usages[schema_id] = [] if isinstance(named, RegistryError) else named
    referrers = {}
    for subject, answer in found.items():
        if isinstance(answer, str):
            referrers[subject] = Referrers(unchecked=answer)
            continue
        alive = [i for i in sorted(answer) if usages[i] is not None]
        referrers[subject] = Referrers(
            tuple(alive), {i: tuple(usages[i] or ()) for i in alive if usages[i]}
        )
    return referrers


def _settled(future: Future[T]) -> T | RegistryError:
    """The answer, or the registry's refusal of that one request; a registry that stops
    answering, or refuses this client, fails the plan."""
    try:
        return future.result()
    except (RegistryUnreachable, RegistryAuthenticationFailed):
        raise
    except RegistryError as exc:
        return exc


def _answers(
    verdict: Future[CompatibilityResult],
    found: Future[RegisteredSchema | None],
    versions: Future[list[int]],
    payload: SchemaPayload,
) -> SchemaCheck:
    compatible: bool | None = None
    reasons: tuple[str, ...] = ()
    refusal = None
    denied = False
    unchecked = None
    try:
        result = verdict.result()
        compatible, reasons = result.compatible, result.messages
    except (RegistryUnreachable, RegistryAuthenticationFailed):
        raise
    except RegistryPermissionDenied:
        denied = True
    except RegistryError as exc:
        if exc.status is not None and exc.status >= 500:
            raise
        if exc.status == 422 and payload.references:
            # Apicurio 3.3 answers 422 "Syntax violation" for every schema posted with
            # references to its compatibility endpoint, while it registers them: the
            # registry cannot check it, which says nothing about the schema.
            unchecked = exc.message
        else:
            refusal = Refusal(exc.message, exc.hint)
    registered_as = None
    numbers: tuple[int, ...] = ()
    try:
        registered, numbers = found.result(), tuple(versions.result())
        if registered is not None:
            registered_as = registered.version
    except (RegistryUnreachable, RegistryAuthenticationFailed):
        raise
    except RegistryError:
        pass  # the compatibility check reports what matters
    return SchemaCheck(
        compatible=compatible,
        reasons=reasons,
        refusal=refusal,
        denied=denied,
        registered_as=registered_as,
        versions=numbers,
        unchecked=unchecked,
    )
