"""The commands' work, as library functions: load, connect, plan, check a saved plan, apply.

Each function takes plain inputs and returns data (or raises a ``KafkaplanError``); none
prints or prompts. The CLI is a thin layer over these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from kafkaplan import __version__
from kafkaplan.acls import DesiredAcls, Scope
from kafkaplan.apply import (
    DEFAULT_BATCH_SIZE,
    ApplyReport,
    OutcomeCallback,
    ProgressCallback,
    Targets,
    apply_plan,
    binding_of,
    topic_request,
)
from kafkaplan.cluster import Cluster, KafkaCluster
from kafkaplan.diff import compute_plan, live_fingerprints
from kafkaplan.diff.subjects import PENDING
from kafkaplan.drift import DriftReport, compute_drift
from kafkaplan.errors import (
    Diagnostic,
    PermissionDenied,
    PlanRefused,
    ProjectError,
    RegistryAuthenticationFailed,
    RegistryError,
    RegistryPermissionDenied,
    RegistryUnreachable,
    SpecError,
)
from kafkaplan.importer import (
    ImportResult,
    build_import,
    read_for_import,
    read_subjects_for_import,
    write_import,
)
from kafkaplan.lease import KafkaLeaseLog, Lease, run_owner
from kafkaplan.load import load_desired
from kafkaplan.plan import (
    FORMAT_VERSION,
    Action,
    Change,
    FieldChange,
    Message,
    Plan,
    Risk,
    RiskLabel,
)
from kafkaplan.project import Environment, Project, ReassignmentSettings, load_project
from kafkaplan.read import REGISTRY_WORKERS, read_addresses, read_live
from kafkaplan.registry import (
    CompatibilityResult,
    HttpRegistry,
    Registry,
    SchemaPayload,
    SchemaReference,
)
from kafkaplan.retry import RetryingCluster, RetryPolicy
from kafkaplan.schemas import implies
from kafkaplan.state import DesiredState, PlanOptions


@dataclass(frozen=True)
class Context:
    project: Project
    env_name: str
    environment: Environment
    desired: DesiredState | None = None

    def require_desired(self) -> DesiredState:
        assert self.desired is not None, "context loaded without specs"
        return self.desired


def load_context(
    project_file: Path | None,
    env: str | None,
    *,
    specs: bool = True,
) -> Context:
    """The project, the chosen environment and (unless ``specs`` is false) the desired state."""
    project = load_project(project_file)
    if not specs:
        name, environment = project.environment(env)
        return Context(project, name, environment)
    name, environment, desired = load_desired(project, env)
    return Context(project, name, environment, desired)


def connect(
    context: Context, *, read_only: bool, environ: Mapping[str, str] | None = None
) -> Cluster:
    """The cluster, with bounded retries of what is safe to retry (``kafkaplan.retry``)."""
    connection = context.environment.kafka
    cluster = KafkaCluster(
        connection, os.environ if environ is None else environ, read_only=read_only
    )
    return RetryingCluster(cluster, RetryPolicy(attempts=connection.retries + 1))


def open_lease(context: Context, *, environ: Mapping[str, str] | None = None) -> Lease:
    """This run's handle on the cluster's apply lease (not yet acquired)."""
    settings = context.project.model.lease
    environ = os.environ if environ is None else environ
    log = KafkaLeaseLog(context.environment.kafka, environ, settings.topic)
    return Lease(log, ttl=settings.ttl_seconds(), owner=run_owner(context.env_name, environ))


def connect_registry(
    context: Context, *, read_only: bool, environ: Mapping[str, str] | None = None
) -> Registry | None:
    """The environment's Schema Registry client; None when the environment has none (an
    error if the specs need one). Makes no request."""
    connection = context.environment.schema_registry
    if connection is None:
        if context.desired is not None and context.desired.uses_registry:
            raise ProjectError(
                f"the specs manage Schema Registry subjects, but environment "
                f"{context.env_name!r} has no schema_registry",
                resource=str(context.project.file),
                hint="add `schema_registry: {url: ...}` to the environment",
            )
        return None
    return HttpRegistry(connection, os.environ if environ is None else environ, read_only=read_only)


def preflight(plan: Plan, cluster: Cluster) -> tuple[list[Message], list[Message]]:
    """Ask the broker to validate every topic creation without making it (a dry run).

    Returns (errors, warnings). A principal allowed to plan but not to create topics (a
    read-only CI job on pull requests) gets a warning, not an error: the broker's own
    validation then only runs at apply.
    """
    creates = [
        c for c in plan.changes if c.resource_type == "topic" and c.actions == [Action.CREATE]
    ]
    results = cluster.create_topics([topic_request(c) for c in creates], validate_only=True)
    by_name = {c.name: c for c in creates}
    errors, warnings = [], []
    for name, error in sorted(results.items()):
        if error is None:
            continue
        change = by_name[name]
        if isinstance(error, PermissionDenied):
            warnings.append(
                Message(
                    message="could not dry-run the creation (no CREATE permission for this "
                    "principal); the broker validates it at apply",
                    address=change.address,
                    source=change.source,
                )
            )
        else:
            errors.append(
                Message(
                    message=f"the broker would refuse this topic: {error.message}",
                    address=change.address,
                    source=change.source,
                    hint=error.hint,
                )
            )
    return errors, warnings


def acl_preflight(plan: Plan, cluster: Cluster) -> list[Message]:
    """Errors for ACL changes this cluster client cannot carry out (delegation tokens with
    librdkafka, for one), so they fail the plan rather than the apply."""
    errors = []
    for change in plan.changes:
        if change.resource_type != "acl":
            continue
        reason = cluster.acl_unsupported(binding_of(change))
        if reason is not None:
            errors.append(
                Message(
                    message=f"cannot {change.actions[0].value} this binding: {reason}",
                    address=change.address,
                    source=change.source,
                    hint="manage it with kafka-acls.sh and keep it out of the specs",
                )
            )
    return errors


def _payload(change: Change) -> SchemaPayload | None:
    """What registering ``change`` would send; None when a reference's version is one this
    plan registers (not known before apply)."""
    after = change.after or {}
    references = []
    for name, ref in sorted(after.get("references", {}).items()):
        if ref["version"] == PENDING:
            return None
        references.append(SchemaReference(name, str(ref["subject"]), int(ref["version"])))
    return SchemaPayload(str(after["schema_type"]), str(after["schema_text"]), tuple(references))


def _verdict(
    change: Change, result: CompatibilityResult
) -> tuple[Message | None, Message | None, Change]:
    """(error, warning, change with risks) from the registry's check at the current level,
    for a registration that runs at the level the plan sets (docs/schemas.md)."""
    after, before = change.after or {}, change.before or {}
    current, target = before.get("compatibility"), after.get("compatibility")
    reason = "; ".join(result.messages) or "the registry gave no reason"
    where = f"{after.get('file')}: " if after.get("file") else ""

    def message(text: str, hint: str | None = None) -> Message:
        return Message(
            message=where + text, address=change.address, source=change.source, hint=hint
        )

    if current is None or target is None or current == target:
        if result.compatible:
            return None, None, change
        return (
            message(
                f"incompatible with the latest registered version under {current}: {reason}",
                hint="make the change compatible (new fields need a default), or lower the "
                "subject's compatibility deliberately",
            ),
            None,
            change,
        )
    if result.compatible:
        if implies(current, target):  # the new level is weaker: compatible there too
            return None, None, change
        return (
            None,
            message(
                f"compatible under the current level {current}; the registry checks it "
                f"under {target} only when this plan has set that level (at apply)"
            ),
            change,
        )
    # Incompatible under the current level.
    if implies(target, current):  # the new level is at least as strict: incompatible there too
        return (
            message(
                f"incompatible under {current}, and so under the stricter {target} this plan "
                f"sets: {reason}",
                hint="make the change compatible, or keep a weaker compatibility level",
            ),
            None,
            change,
        )
    risk = Risk(
        label=RiskLabel.SCHEMA_BREAK,
        message=f"allowed only because compatibility goes {current} -> {target}: under "
        f"{current} the registry refuses it ({reason})",
    )
    warning = None
    if target != "NONE":
        warning = message(
            f"incompatible under the current level {current} ({reason}); whether {target} "
            "accepts it is only known at apply, when this plan has set that level"
        )
    return None, warning, change.model_copy(update={"risks": [*change.risks, risk]})


def registry_preflight(
    plan: Plan, registry: Registry, *, allow_deletes: bool = False
) -> tuple[list[Message], list[Message], Plan]:
    """Ask the registry whether each new version of an existing subject is compatible,
    without registering anything. Returns (errors, warnings, the plan with risks added).

    The registry checks at the subject's current level; when the plan changes the level,
    ``_verdict`` says what the answer means for the new one (docs/schemas.md).

    A declared schema the subject already has as an older version (someone registered
    newer ones outside the specs) cannot be registered again: registries answer with the
    old version. Making it the latest again means soft-deleting the newer versions, which
    is planned only with ``allow_deletes`` (``_rollback``); otherwise it is kept, with a
    warning."""
    candidates = [
        c for c in plan.changes if c.resource_type == "subject" and c.actions == [Action.UPDATE]
    ]
    errors: list[Message] = []
    warnings: list[Message] = []
    checks = {}
    lookups = {}
    with ThreadPoolExecutor(max_workers=REGISTRY_WORKERS) as pool:
        for change in candidates:
            payload = _payload(change)
            if payload is None:
                warnings.append(
                    Message(
                        message="compatibility is checked at apply: the schema refers to a "
                        "version this plan registers",
                        address=change.address,
                        source=change.source,
                    )
                )
                continue
            checks[change.address] = pool.submit(registry.check_compatibility, change.name, payload)
            lookups[change.address] = (
                pool.submit(registry.lookup, change.name, payload),
                pool.submit(registry.versions, change.name),
            )
        results = {}
        for address, future in checks.items():
            try:
                results[address] = future.result()
            except (RegistryUnreachable, RegistryAuthenticationFailed):
                raise
            except RegistryPermissionDenied:
                warnings.append(
                    Message(
                        message="could not check compatibility (permission denied); the "
                        "registry checks it at apply",
                        address=address,
                    )
                )
            except RegistryError as exc:
                if exc.status is not None and exc.status >= 500:
                    raise
                errors.append(
                    Message(
                        message=f"the registry refuses this schema: {exc.message}",
                        address=address,
                        hint=exc.hint,
                    )
                )
        older: dict[str, tuple[int, list[int]]] = {}
        by_address = {c.address: c for c in candidates}
        for address, (found, versions) in lookups.items():
            try:
                registered, numbers = found.result(), versions.result()
            except (RegistryUnreachable, RegistryAuthenticationFailed):
                raise
            except RegistryError:
                continue  # the compatibility check reports what matters
            latest = (by_address[address].before or {}).get("version")
            if registered is not None and isinstance(latest, int) and registered.version < latest:
                older[address] = (registered.version, numbers)
    changes = []
    for planned in plan.changes:
        if planned.address in older:
            version, numbers = older[planned.address]
            rollback = _rollback(planned, version, numbers)
            if allow_deletes:
                changes.append(rollback)
            else:
                warnings.append(
                    Message(
                        message=f"the declared schema is version {version} of this subject; "
                        f"{_newer(rollback)} registered outside the specs: kept, because "
                        "deletes are not enabled for this run",
                        address=planned.address,
                        source=planned.source,
                        hint="pass --allow-deletes to soft-delete the newer versions so that "
                        f"version {version} is the latest again, or declare the newer schema",
                    )
                )
            continue
        result = results.get(planned.address)
        if result is None or planned.resource_type != "subject":
            changes.append(planned)
            continue
        error, warning, checked = _verdict(planned, result)
        errors.extend([error] if error else [])
        warnings.extend([warning] if warning else [])
        changes.append(checked)
    return errors, warnings, plan.model_copy(update={"changes": changes})


def _newer(change: Change) -> str:
    doomed = (change.after or {})["rollback"]["delete_versions"]
    if len(doomed) == 1:
        return f"version {doomed[0]} was"
    return f"versions {', '.join(str(v) for v in doomed)} were"


def _rollback(change: Change, version: int, versions: list[int]) -> Change:
    """``change`` as a return to ``version``: the newer versions are soft-deleted."""
    doomed = sorted(v for v in versions if v > version)
    latest = (change.before or {}).get("version")
    after = {**(change.after or {}), "rollback": {"version": version, "delete_versions": doomed}}
    shown = ("version " if len(doomed) == 1 else "versions ") + ", ".join(map(str, doomed))
    risk = Risk(
        label=RiskLabel.SCHEMA_BREAK,
        message=f"soft-deletes {shown}, registered outside the specs: clients that "
        f"use the latest version get version {version} again; records written with the newer "
        "versions stay readable by their schema ids",
    )
    return change.model_copy(
        update={
            "after": after,
            "fields": [
                FieldChange(path="version", before=latest, after=f"{version} (rollback)"),
                *change.fields,
            ],
            "risks": [*change.risks, risk],
        }
    )


def make_plan(
    context: Context,
    cluster: Cluster,
    registry: Registry | None = None,
    options: PlanOptions | None = None,
    *,
    now: datetime | None = None,
) -> Plan:
    desired = context.require_desired()
    use_registry = registry if desired.uses_registry else None
    live = read_live(cluster, desired, use_registry)
    plan = compute_plan(desired, live, options)
    errors, warnings = preflight(plan, cluster)
    errors.extend(acl_preflight(plan, cluster))
    if use_registry is not None:
        registry_errors, registry_warnings, plan = registry_preflight(
            plan, use_registry, allow_deletes=options is not None and options.allow_deletes
        )
        errors += registry_errors
        warnings += registry_warnings
    return plan.model_copy(
        update={
            "kafkaplan_version": __version__,
            "environment": context.env_name,
            "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "errors": [*plan.errors, *errors],
            "warnings": [*plan.warnings, *warnings],
        }
    )


def make_drift(
    context: Context,
    cluster: Cluster,
    registry: Registry | None = None,
    *,
    now: datetime | None = None,
) -> DriftReport:
    """Compare specs and live state without changing anything (read-only, tolerant reads)."""
    desired = context.require_desired()
    live = read_live(cluster, desired, registry, tolerant=True)
    policy = context.project.effective_policy(context.environment)
    report = compute_drift(desired, live, naming_pattern=policy.naming.pattern)
    return report.model_copy(
        update={
            "kafkaplan_version": __version__,
            "environment": context.env_name,
            "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        }
    )


def run_import(
    context: Context,
    cluster: Cluster,
    out: Path,
    prefixes: Sequence[str],
    resources: Sequence[str],
    *,
    force: bool,
    registry: Registry | None = None,
    explicit: bool = True,
) -> tuple[ImportResult, list[Path], list[Diagnostic]]:
    """Import live resources as spec files; also returns the problems the imported specs
    would have (policies, mostly), so the user can fix names or add exceptions first.

    ``explicit``: the resource types were asked for. Without it (the default of all three),
    subjects are left out when the environment has no registry and ACLs when the cluster
    has no authorizer or the principal may not read them, each with a note; asked for,
    those are errors."""
    kinds = list(resources)
    notes = []
    if "subjects" in kinds and registry is None:
        if explicit:
            raise ProjectError(
                f"cannot import subjects: environment {context.env_name!r} has no schema_registry",
                resource=str(context.project.file),
                hint="add `schema_registry: {url: ...}` to the environment",
            )
        kinds.remove("subjects")
        notes.append(f"subjects not imported: environment {context.env_name!r} has no registry")
    model = context.project.model
    ignore = DesiredState(
        topics={},
        ignore_topics=tuple(model.ignore_topics),
        acls=DesiredAcls(scopes=tuple(Scope.of(scope) for scope in model.acls.ownership)),
    )
    live = read_for_import(cluster, ignore, prefixes, acls="acls" in kinds, tolerant=not explicit)
    if registry is not None and "subjects" in kinds:
        subjects, live_registry = read_subjects_for_import(registry, prefixes)
        live = replace(live, subjects=subjects, registry=live_registry)
    result = build_import(live, ignore, prefixes=prefixes, resources=kinds)
    result.notes[:0] = notes
    files = write_import(result, out, force=force)
    problems: list[Diagnostic] = []
    root = context.project.root
    try:
        probe = Project(
            # Schema files must be inside the project folder; an import elsewhere is
            # checked as if it were the project's folder.
            root=root if out.resolve().is_relative_to(root) else out.resolve(),
            file=context.project.file,
            model=model.model_copy(update={"specs": [str(out.resolve())]}),
        )
        load_desired(probe, context.env_name)
    except SpecError as exc:
        problems = exc.diagnostics
    return result, files, problems


def read_plan_file(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanRefused(f"cannot read plan file: {exc.strerror}", resource=str(path)) from exc
    try:
        return Plan.model_validate_json(text)
    except ValidationError as exc:
        raise PlanRefused(
            "not a kafkaplan plan file (or a damaged one)",
            resource=str(path),
            hint="write one with `kafkaplan plan --out FILE`",
        ) from exc


def check_saved_plan(
    saved: Plan, context: Context, cluster: Cluster, registry: Registry | None = None
) -> None:
    """Refuse a saved plan that does not apply to what is live now, saying why.

    Only the live state is compared, not the specs: a saved plan is applied exactly as it
    was reviewed, whatever the specs say now.
    """
    if saved.format_version != FORMAT_VERSION:
        raise PlanRefused(
            f"plan file has format version {saved.format_version}; this kafkaplan reads "
            f"{FORMAT_VERSION}",
            hint="plan again with this version",
        )
    if saved.kafkaplan_version != __version__:
        raise PlanRefused(
            f"plan was made by kafkaplan {saved.kafkaplan_version}; this is {__version__}",
            hint="apply it with the version that made it, or plan again",
        )
    if saved.environment != context.env_name:
        raise PlanRefused(
            f"plan was made for environment {saved.environment!r}, not {context.env_name!r}",
            hint="pass the same --env as when planning",
        )
    if saved.errors:
        raise PlanRefused("the saved plan has errors and cannot be applied")
    kinds = {a.partition(".")[0] for a in saved.resource_fingerprints}
    needs_registry = bool(kinds & {"subject", "subject-config", "registry-config"})
    if needs_registry and registry is None:
        raise PlanRefused(
            "the saved plan manages Schema Registry subjects, but this environment has no "
            "schema_registry",
            hint="apply it with the project file it was planned with",
        )
    live = read_addresses(
        cluster, saved.resource_fingerprints, registry if needs_registry else None
    )
    if saved.cluster_id != live.cluster_id:
        raise PlanRefused(
            f"plan was made for cluster {saved.cluster_id}, but this is cluster {live.cluster_id}",
            hint="check the environment's bootstrap servers",
        )
    now = live_fingerprints(live, saved.resource_fingerprints)
    moved = sorted(
        address for address, digest in saved.resource_fingerprints.items() if now[address] != digest
    )
    if moved:
        shown = ", ".join(moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
        raise PlanRefused(
            f"saved plan is stale: {shown} changed since it was planned",
            hint="run `kafkaplan plan` again and review the new plan",
        )


def run_apply(
    plan: Plan,
    cluster: Cluster,
    *,
    registry: Registry | None = None,
    progress: ProgressCallback | None = None,
    on_outcome: OutcomeCallback | None = None,
    lease: Lease | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    reassignment: ReassignmentSettings | None = None,
) -> ApplyReport:
    if plan.errors:
        raise PlanRefused(
            f"the plan has {len(plan.errors)} error(s); nothing was applied",
            hint="fix the errors shown in the plan",
        )
    targets = Targets(
        cluster=cluster,
        registry=registry,
        reassignment=reassignment or ReassignmentSettings(),
    )
    return apply_plan(
        plan,
        targets,
        progress=progress,
        on_outcome=on_outcome,
        batch_size=batch_size,
        before_batch=lease.keep if lease is not None else None,
    )
