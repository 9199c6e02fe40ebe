"""Carry out a plan, exactly as planned, and report what happened to each change.

The applier never re-decides: it groups the plan's changes into phases, in an order that
keeps clients working (topics are created before anything refers to them), and runs each
phase as batched admin requests. A failure in one change does not stop independent ones;
every change ends as ``done``, ``failed`` (with the broker's reason) or ``skipped`` (because
something it depends on failed). A re-run after a failure plans only what is left.

Each phase runs in batches of at most ``batch_size`` changes, and every change is reported
as soon as its batch is answered, so an interruption at any point leaves a true record of
what was done. When the broker or the registry stops answering, a change it did not answer
for ends as ``unknown`` (it may or may not have been made; the next plan shows which) and
the apply stops: the changes after it end as ``skipped`` (not attempted). Nothing is written
locally, so a crash of kafkaplan itself leaves nothing to repair: the next plan shows what
is left.

Schema Registry changes run after the topic phases: the global compatibility level, then
subject levels (so each registration is checked at the level the plan set), then the
registrations in dependency order (referenced schemas first), then subject deletes (the
subjects referring to others first), one request at a time. A change whose ``depends_on``
did not succeed is skipped. A ``latest`` reference to a subject this apply registers uses
the version it registered, in whichever batch that was.

Replication-factor changes run as throttled partition reassignments inside the topic
updates, reporting their progress while replicas catch up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Protocol, TypeVar

from msgspec import Struct, field, structs
from pydantic import BaseModel

from kafkaplan.apply.reassign import reassign
from kafkaplan.errors import (
    ClusterError,
    ClusterTransient,
    KafkaplanError,
    RegistryError,
    RegistryUnreachable,
)
from kafkaplan.kinds import ResourceKind
from kafkaplan.live.cluster import AclResults, Cluster, NewTopicRequest, ScramChange
from kafkaplan.live.connection import is_interrupt
from kafkaplan.live.registry import RegisteredSchema, Registry, SchemaPayload, SchemaReference
from kafkaplan.plan.model import (
    Action,
    AlterBrokerConfigs,
    AlterGroupConfigs,
    AlterQuotas,
    Change,
    CreateAcl,
    CreateTopic,
    DeleteAcl,
    DeleteQuotas,
    DeleteScramUser,
    DeleteSubject,
    DeleteTopic,
    Plan,
    RegisterSchema,
    RollBackSchema,
    SetCompatibility,
    SetScramCredentials,
    UpdateTopic,
)
from kafkaplan.secrets import read_secret
from kafkaplan.spec.acls import Binding
from kafkaplan.spec.project import ReassignmentSettings
from kafkaplan.spec.quotas import QuotaEntity
from kafkaplan.spec.schemas import dependency_order

OperationT = TypeVar("OperationT", bound=BaseModel)

# Changes per request in a phase (``--batch-size``): each batch is reported when answered.
DEFAULT_BATCH_SIZE = 200


class Status(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    # Sent, but the broker did not answer: it may or may not have been made.
    UNKNOWN = "unknown"


class Outcome(Struct, frozen=True):
    address: str
    action: Action
    status: Status
    detail: str = ""


class ApplyReport(Struct):
    outcomes: list[Outcome] = field(default_factory=list)
    # Why the apply stopped before the end (the broker stopped answering, the lease was
    # lost, an interrupt), or None when every change was attempted.
    interrupted: str | None = None
    # Changes made whose effect the cluster did not report yet when the apply ended
    # (kafkaplan.apply.settle): acknowledged, but a plan run right now may still show them.
    unsettled: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not Status.DONE]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        done = sum(o.status is Status.DONE for o in self.outcomes)
        failed = sum(o.status is Status.FAILED for o in self.outcomes)
        unknown = sum(o.status is Status.UNKNOWN for o in self.outcomes)
        skipped = sum(o.status is Status.SKIPPED for o in self.outcomes)
        text = f"{done} of {len(self.outcomes)} changes applied"
        if failed:
            text += f", {failed} failed"
        if unknown:
            text += f", {unknown} with unknown outcome"
        if skipped:
            text += f", {skipped} skipped"
        return text


class ProgressCallback(Protocol):
    """Told after every chunk of changes, and while long steps wait (``note`` says on what)."""

    def __call__(self, done: int, total: int, failed: int, *, note: str = "") -> None: ...


OutcomeCallback = Callable[[Outcome], None]


class Targets(Struct):
    cluster: Cluster
    registry: Registry | None = None
    # Principals some of whose new ACL bindings failed: their old bindings are kept.
    acl_create_failures: set[str] = field(default_factory=set)
    # How replication-factor changes are carried out (throttle, timeout).
    reassignment: ReassignmentSettings = field(default_factory=ReassignmentSettings)
    # Long steps (waiting for a reassignment) say what they wait for through this.
    note: Callable[[str], None] = field(default=lambda text: None)
    # Subject -> the version this apply registered (or rolled back to), for the `latest`
    # references of the subjects registered after it, in this batch or a later one.
    registered: dict[str, int] = field(default_factory=dict)
    # Where SCRAM passwords are read from (each user's `password_env`), at apply time.
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)


def _unknown_detail(error: KafkaplanError) -> str:
    return f"no answer ({error.reason()}); it may or may not have been made"


def operation(change: Change, kind: type[OperationT]) -> OperationT:
    """``change``'s operation, which its phase knows the type of."""
    if not isinstance(change.operation, kind):
        raise TypeError(f"{change.address}: expected {kind.__name__}, got {change.operation!r}")
    return change.operation


def topic_request(change: Change) -> NewTopicRequest:
    """The create-topics request a planned topic creation stands for."""
    create = operation(change, CreateTopic)
    return NewTopicRequest(
        name=change.name,
        partitions=create.partitions,
        replication_factor=create.replication_factor,
        configs=dict(create.configs),
    )


def _create_topics(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    results = targets.cluster.create_topics([topic_request(c) for c in changes])
    return [_outcome(change, results.get(change.name)) for change in changes]


def _update_topics(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    configs: dict[str, dict[str, str | None]] = {}
    partitions: dict[str, int] = {}
    for change in changes:
        update = operation(change, UpdateTopic)
        if update.configs:
            configs[change.name] = dict(update.configs)
        if update.partitions is not None:
            partitions[change.name] = update.partitions
    config_results = targets.cluster.alter_topic_configs(configs)
    partition_results = targets.cluster.create_partitions(partitions)
    problems_of: dict[str, list[str]] = {}
    applied_of: dict[str, list[str]] = {}
    unknown: set[str] = set()  # changes some part of which got no answer
    for change in changes:
        problems = problems_of.setdefault(change.address, [])
        applied = applied_of.setdefault(change.address, [])
        for part, results in (("configs", config_results), ("partitions", partition_results)):
            if change.name not in results:
                continue
            error = results[change.name]
            if error is None:
                applied.append(part)
            elif isinstance(error, ClusterTransient):
                unknown.add(change.address)
                problems.append(f"{part}: {_unknown_detail(error)}")
            else:
                problems.append(f"{part}: {error.reason()}")
    # Replica changes once configs and partitions are in place (new partitions included).
    moving = [
        c for c in changes if operation(c, UpdateTopic).reassigns and not problems_of[c.address]
    ]
    if moving:
        outcome = reassign(moving, targets.cluster, targets.reassignment, targets.note)
        for address, problem in outcome.items():
            if problem is None:
                applied_of[address].append("replicas")
            else:
                problems_of[address].append(f"replicas: {problem}")
    outcomes = []
    for change in changes:
        problems = problems_of[change.address]
        applied = applied_of[change.address]
        if problems:
            detail = "; ".join(problems)
            if applied:
                detail += f" ({' and '.join(applied)} applied)"
            status = Status.UNKNOWN if change.address in unknown else Status.FAILED
            outcomes.append(Outcome(change.address, change.action, status, detail))
        else:
            outcomes.append(Outcome(change.address, change.action, Status.DONE))
    return outcomes


def _delete_topics(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    results = targets.cluster.delete_topics([c.name for c in changes])
    return [_outcome(change, results.get(change.name)) for change in changes]


def binding_of(change: Change) -> Binding:
    """The ACL binding a planned ACL change stands for."""
    if isinstance(change.operation, CreateAcl | DeleteAcl):
        return change.operation.binding.binding()
    raise TypeError(f"{change.address}: not an ACL change")


def _acl_outcomes(changes: Sequence[Change], results: AclResults) -> list[Outcome]:
    return [_outcome(change, results.get(binding_of(change))) for change in changes]


def _create_acls(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    try:
        outcomes = _acl_outcomes(
            changes, targets.cluster.create_acls([binding_of(c) for c in changes])
        )
    except ClusterError as exc:
        outcomes = [Outcome(c.address, c.action, Status.FAILED, exc.reason()) for c in changes]
    for change, outcome in zip(changes, outcomes, strict=True):
        if outcome.status is not Status.DONE:
            targets.acl_create_failures.add(binding_of(change).principal)
    return outcomes


def _delete_acls(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    """Deletes run last, and not for a principal whose new bindings failed: the bindings
    they replace keep its clients working until a re-run creates them."""
    kept = [c for c in changes if binding_of(c).principal in targets.acl_create_failures]
    doomed = [c for c in changes if binding_of(c).principal not in targets.acl_create_failures]
    outcomes = [
        Outcome(
            c.address,
            c.action,
            Status.SKIPPED,
            f"kept: creating new ACLs for {binding_of(c).principal} failed",
        )
        for c in kept
    ]
    if doomed:
        results = targets.cluster.delete_acls([binding_of(c) for c in doomed])
        outcomes.extend(_acl_outcomes(doomed, results))
    return outcomes


def _outcome(change: Change, error: ClusterError | None) -> Outcome:
    if error is None:
        return Outcome(change.address, change.action, Status.DONE)
    if isinstance(error, ClusterTransient):
        return Outcome(change.address, change.action, Status.UNKNOWN, _unknown_detail(error))
    return Outcome(change.address, change.action, Status.FAILED, error.reason())


def _update_brokers(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    configs = {
        int(change.name): dict(operation(change, AlterBrokerConfigs).configs) for change in changes
    }
    results = targets.cluster.alter_broker_configs(configs)
    return [_outcome(change, results.get(change.name)) for change in changes]


def _set_scram_credentials(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    """Passwords are read now, from the variables the plan names (a saved plan holds
    none); a user whose variable is not set fails alone, naming it."""
    requests: dict[str, ScramChange] = {}
    outcomes: list[Outcome] = []
    for change in changes:
        wanted = operation(change, SetScramCredentials)
        password = ""
        if wanted.upserts:
            try:
                password = read_secret(
                    wanted.password_env, targets.environ, f"password of user {change.name!r}"
                )
            except KafkaplanError as exc:
                outcomes.append(Outcome(change.address, change.action, Status.FAILED, exc.reason()))
                continue
        requests[change.name] = ScramChange(
            upserts=dict(wanted.upserts), deletions=tuple(wanted.deletions), password=password
        )
    results = targets.cluster.alter_user_scram_credentials(requests) if requests else {}
    outcomes.extend(_outcome(c, results.get(c.name)) for c in changes if c.name in requests)
    return outcomes


def _delete_scram_users(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    results = targets.cluster.alter_user_scram_credentials(
        {
            c.name: ScramChange(deletions=tuple(operation(c, DeleteScramUser).mechanisms))
            for c in changes
        }
    )
    return [_outcome(change, results.get(change.name)) for change in changes]


def _update_groups(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    """Every group's config update in one IncrementalAlterConfigs request."""
    configs = {
        change.name: dict(operation(change, AlterGroupConfigs).configs) for change in changes
    }
    try:
        results = targets.cluster.alter_group_configs(configs)
    except ClusterError as exc:
        return [Outcome(c.address, c.action, Status.FAILED, exc.reason()) for c in changes]
    return [_outcome(change, results.get(change.name)) for change in changes]


def quota_changes(changes: Sequence[Change]) -> dict[QuotaEntity, dict[str, float | None]]:
    """The entity -> keys (None: remove) that planned quota changes stand for."""
    result: dict[QuotaEntity, dict[str, float | None]] = {}
    for change in changes:
        if isinstance(change.operation, AlterQuotas):
            result[change.operation.quota_entity()] = dict(change.operation.values)
        elif isinstance(change.operation, DeleteQuotas):
            result[change.operation.quota_entity()] = dict.fromkeys(change.operation.keys)
        else:
            raise TypeError(f"{change.address}: not a quota change")
    return result


def _alter_quotas(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    """One AlterClientQuotas request for the batch; each entity has its own answer."""
    wanted = quota_changes(changes)
    results = targets.cluster.alter_quotas(wanted)
    return [
        _outcome(change, results.get(entity))
        for change, entity in zip(changes, wanted, strict=True)
    ]


def _registry(targets: Targets) -> Registry:
    if targets.registry is None:
        raise RegistryError(
            "the plan changes Schema Registry subjects, but no registry is configured",
            hint="configure `schema_registry` for this environment in kafkaplan.yaml",
        )
    return targets.registry


def _in_order(changes: Sequence[Change], run: Callable[[Change], str]) -> list[Outcome]:
    """Run ``changes`` one at a time, each after the changes of the batch it depends on,
    skipping the dependents of a failure. ``run`` returns the outcome's detail or raises.
    A change the registry did not answer is ``unknown`` and ends the batch there: the
    changes not attempted are left to ``apply_plan``, which stops the apply."""
    by_address = {c.address: c for c in changes}
    graph = {c.address: [d for d in c.depends_on if d in by_address] for c in changes}
    order = dependency_order(graph)
    failed: set[str] = set()
    outcomes = []
    for address in order:
        change = by_address[address]
        blocked = [d for d in graph[address] if d in failed]
        if blocked:
            failed.add(address)
            outcomes.append(
                Outcome(
                    address,
                    change.action,
                    Status.SKIPPED,
                    f"depends on {blocked[0]}, which did not succeed",
                )
            )
            continue
        try:
            detail = run(change)
        except RegistryUnreachable as exc:
            # Sent, not answered: it may or may not have been made. Nothing more is sent to
            # a registry that stopped answering; the apply stops after this batch and
            # reports the rest as not attempted.
            outcomes.append(Outcome(address, change.action, Status.UNKNOWN, _unknown_detail(exc)))
            break
        except KafkaplanError as exc:
            failed.add(address)
            outcomes.append(Outcome(address, change.action, Status.FAILED, exc.reason()))
            continue
        outcomes.append(Outcome(address, change.action, Status.DONE, detail))
    return outcomes


def _set_global_compatibility(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    registry = _registry(targets)

    def run(change: Change) -> str:
        registry.set_compatibility(None, operation(change, SetCompatibility).level)
        return ""

    return _in_order(changes, run)


def _set_subject_compatibility(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    registry = _registry(targets)

    def run(change: Change) -> str:
        registry.set_compatibility(change.name, operation(change, SetCompatibility).level)
        return ""

    return _in_order(changes, run)


def _register_schemas(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    registry = _registry(targets)
    registered = targets.registered

    def run(change: Change) -> str:
        if isinstance(change.operation, RollBackSchema):
            return _roll_back(registry, change.name, change.operation, registered)
        registration = operation(change, RegisterSchema)
        references = []
        for ref in registration.references:
            version = ref.version
            if version is None:
                if ref.subject not in registered:
                    raise RegistryError(
                        f"reference {ref.name!r}: the version of {ref.subject!r} this plan "
                        "registers is unknown"
                    )
                version = registered[ref.subject]
            references.append(SchemaReference(ref.name, ref.subject, version))
        payload = SchemaPayload(
            registration.schema_type, registration.schema_text, tuple(references)
        )
        result, note = _register(registry, change.name, payload)
        latest = registration.latest
        if latest is not None and result.version <= latest:
            # Registries answer an old version's schema with that version, and keep the latest.
            raise RegistryError(
                f"the registry already has this schema as version {result.version}, and "
                f"version {latest} stays the latest",
                hint="plan again: with --allow-deletes the plan soft-deletes the newer "
                "versions instead; or change the schema (its doc, say) so that it registers as "
                "a new version",
            )
        registered[change.name] = result.version
        return f"version {result.version}, schema id {result.schema_id}{note}"

    return _in_order(changes, run)


def _register(
    registry: Registry, subject: str, payload: SchemaPayload
) -> tuple[RegisteredSchema, str]:
    """Register ``payload``; the registered version and a note. A registry error (HTTP 5xx)
    says the request failed, not that nothing was stored: whether the schema is there now
    is looked up before the registration is reported failed."""
    try:
        return registry.register(subject, payload), ""
    except RegistryError as exc:
        if exc.status is None or exc.status < 500:
            raise
        try:
            found = registry.lookup(subject, payload)
        except RegistryError as lookup_error:
            raise RegistryUnreachable(
                f"{exc.message}; whether the schema was stored could not be checked "
                f"({lookup_error.message})",
                resource=exc.resource,
                hint="the next `kafkaplan plan` shows whether it was registered",
            ) from exc
        if found is None:
            raise
        return found, f" (stored, although the registry answered HTTP {exc.status})"


def _roll_back(
    registry: Registry, subject: str, rollback: RollBackSchema, registered: dict[str, int]
) -> str:
    """Make an older version the latest again by soft-deleting the newer ones, newest first
    (planned only with deletes allowed)."""
    version, doomed = rollback.version, list(rollback.delete_versions)
    for number in sorted(doomed, reverse=True):
        registry.delete_version(subject, number)
    latest = registry.latest(subject)
    if latest is None or latest.version != version:
        raise RegistryError(
            f"soft-deleted versions {doomed}, but the latest version is "
            f"{latest.version if latest else 'none'}, not {version}",
            hint="plan again to see the subject's versions now",
        )
    registered[subject] = version
    return f"version {version} is the latest again (soft-deleted versions {doomed})"


def _delete_subjects(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    registry = _registry(targets)

    def run(change: Change) -> str:
        hard = operation(change, DeleteSubject).permanent
        try:
            versions = registry.delete_subject(change.name, permanent=False)
        except RegistryError as exc:
            # 40404: soft-deleted already (a hard delete that failed half-way before).
            if not (hard and exc.error_code == 40404):
                raise
            versions = []
        if hard:
            versions = registry.delete_subject(change.name, permanent=True) or versions
            return f"permanently deleted versions {versions}"
        return f"soft-deleted versions {versions}"

    return _in_order(changes, run)


# (name, kind, operation type(s), runner), in the order they run. Leftover broker throttles
# go before the topics' updates: those may start (and finish) a reassignment.
Phase = tuple[
    str,
    ResourceKind,
    tuple[type[BaseModel], ...],
    Callable[[Sequence[Change], Targets], list[Outcome]],
]

PHASES: list[Phase] = [
    ("create topics", ResourceKind.TOPIC, (CreateTopic,), _create_topics),
    ("update brokers", ResourceKind.BROKER, (AlterBrokerConfigs,), _update_brokers),
    ("update topics", ResourceKind.TOPIC, (UpdateTopic,), _update_topics),
    # New bindings after the topics they name exist, before the ones they replace go.
    ("create ACLs", ResourceKind.ACL, (CreateAcl,), _create_acls),
    (
        "set global compatibility",
        ResourceKind.REGISTRY_CONFIG,
        (SetCompatibility,),
        _set_global_compatibility,
    ),
    (
        "set subject compatibility",
        ResourceKind.SUBJECT_CONFIG,
        (SetCompatibility,),
        _set_subject_compatibility,
    ),
    ("register schemas", ResourceKind.SUBJECT, (RegisterSchema, RollBackSchema), _register_schemas),
    ("set quotas", ResourceKind.QUOTA, (AlterQuotas,), _alter_quotas),
    ("delete ACLs", ResourceKind.ACL, (DeleteAcl,), _delete_acls),
    ("delete quotas", ResourceKind.QUOTA, (DeleteQuotas,), _alter_quotas),
    ("delete subjects", ResourceKind.SUBJECT, (DeleteSubject,), _delete_subjects),
    # Topic deletes run last: nothing may still refer to a topic when it goes.
    ("delete topics", ResourceKind.TOPIC, (DeleteTopic,), _delete_topics),
    ("set SCRAM credentials", ResourceKind.USER, (SetScramCredentials,), _set_scram_credentials),
    ("delete SCRAM users", ResourceKind.USER, (DeleteScramUser,), _delete_scram_users),
    # Group configs depend on nothing else in a plan.
    ("update groups", ResourceKind.GROUP, (AlterGroupConfigs,), _update_groups),
]


def _in_phase(change: Change, kind: ResourceKind, operations: tuple[type[BaseModel], ...]) -> bool:
    return change.kind is kind and isinstance(change.operation, operations)


def _batches(changes: Sequence[Change], size: int) -> list[Sequence[Change]]:
    return [changes[i : i + size] for i in range(0, len(changes), size)]


def _prefixed(tell: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    def note(text: str) -> None:
        tell(f"{prefix}: {text}")

    return note


def apply_plan(
    plan: Plan,
    targets: Targets,
    *,
    progress: ProgressCallback | None = None,
    on_outcome: OutcomeCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    before_batch: Callable[[], None] | None = None,
) -> ApplyReport:
    """Run the plan's changes phase by phase, in batches of at most ``batch_size``.

    ``before_batch`` runs before each batch (the apply lease is renewed there); if it raises
    a ``KafkaplanError`` the apply stops before that batch. ``on_outcome`` is called for
    each change as soon as its outcome is known.
    """
    report = ApplyReport()
    total = len(plan.changes)
    failed = 0

    def record(outcomes: Sequence[Outcome]) -> None:
        """Add ``outcomes`` to the report and tell each one. An interrupt while they are
        told lets the telling finish (the one it cut short is told again) and then goes on:
        the printed report names every change the report holds."""
        report.outcomes.extend(outcomes)
        if on_outcome is None:
            return
        interrupted = False
        for outcome in outcomes:
            try:
                on_outcome(outcome)
            except KeyboardInterrupt:
                interrupted = True
                on_outcome(outcome)
        if interrupted:
            raise KeyboardInterrupt

    def tell(note: str) -> None:
        if progress is not None:
            progress(len(report.outcomes), total, failed, note=note)

    # The changes handed to a runner whose outcomes are not recorded yet: an interrupt
    # before they are leaves them unknown (sent), never "not attempted".
    sent: Sequence[Change] = ()
    try:
        for name, kind, operations, runner in PHASES:
            batch = [c for c in plan.changes if _in_phase(c, kind, operations)]
            phase_targets = structs.replace(targets, note=_prefixed(tell, name))
            for chunk in _batches(batch, max(1, batch_size)):
                if report.interrupted:
                    break
                try:
                    if before_batch is not None:
                        before_batch()
                except KafkaplanError as exc:
                    report.interrupted = str(exc)
                    break
                # Changes that depend on one that did not succeed are skipped.
                unsuccessful = {o.address for o in report.outcomes if o.status is not Status.DONE}
                blocked = {
                    c.address: next(d for d in c.depends_on if d in unsuccessful)
                    for c in chunk
                    if any(d in unsuccessful for d in c.depends_on)
                }
                record(
                    [
                        Outcome(
                            c.address,
                            c.action,
                            Status.SKIPPED,
                            f"depends on {blocked[c.address]}, which did not succeed",
                        )
                        for c in chunk
                        if c.address in blocked
                    ]
                )
                runnable = [c for c in chunk if c.address not in blocked]
                if not runnable:
                    continue
                silent = "registry" if kind.in_registry else "broker"
                try:
                    sent = runnable
                    outcomes = runner(runnable, phase_targets)
                except (ClusterTransient, RegistryUnreachable) as exc:
                    outcomes = [
                        Outcome(c.address, c.action, Status.UNKNOWN, _unknown_detail(exc))
                        for c in runnable
                    ]
                except (ClusterError, RegistryError) as exc:
                    outcomes = [
                        Outcome(c.address, c.action, Status.FAILED, exc.reason()) for c in runnable
                    ]
                except (KeyboardInterrupt, SystemError) as exc:
                    if not is_interrupt(exc):
                        raise
                    outcomes = [
                        Outcome(
                            c.address,
                            c.action,
                            Status.UNKNOWN,
                            "interrupted while the request was in flight; it may or may not "
                            "have been made",
                        )
                        for c in runnable
                    ]
                    report.interrupted = "interrupted"
                record(outcomes)
                sent = ()
                failed += sum(o.status is Status.FAILED for o in outcomes)
                tell(name)
                if not report.interrupted and any(o.status is Status.UNKNOWN for o in outcomes):
                    report.interrupted = f"the {silent} stopped answering"
    except (KeyboardInterrupt, SystemError) as exc:
        if not is_interrupt(exc):
            raise
        # Between requests (renewing the lease, recording outcomes, reporting progress).
        report.interrupted = "interrupted"
        recorded = {o.address for o in report.outcomes}
        record(
            [
                Outcome(
                    c.address,
                    c.action,
                    Status.UNKNOWN,
                    "interrupted while the request was in flight; it may or may not have been made",
                )
                for c in sent
                if c.address not in recorded
            ]
        )
    handled = {o.address for o in report.outcomes}
    record(
        [
            Outcome(
                change.address,
                change.action,
                Status.SKIPPED,
                f"not attempted: the apply stopped ({report.interrupted})"
                if report.interrupted
                else "no applier for this kind of change in this version",
            )
            for change in plan.changes
            if change.address not in handled
        ]
    )
    return report
