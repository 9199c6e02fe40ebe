"""The commands' work, as library functions: load, connect, plan, check a saved plan, apply.

Each function takes plain inputs and returns data (or raises a ``KafkaplanError``); none
prints or prompts. The CLI is a thin layer over these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from kafkaplan import __version__
from kafkaplan.apply.runner import (
    DEFAULT_BATCH_SIZE,
    ApplyReport,
    OutcomeCallback,
    ProgressCallback,
    Targets,
    apply_plan,
)
from kafkaplan.apply.settle import settle
from kafkaplan.errors import (
    Diagnostic,
    PlanRefused,
    ProjectError,
    SpecError,
)
from kafkaplan.importer.build import (
    ImportResult,
    build_import,
    read_for_import,
    read_subjects_for_import,
    write_import,
)
from kafkaplan.live.cluster import Cluster, KafkaCluster
from kafkaplan.live.lease import Lease, run_owner
from kafkaplan.live.read import read_addresses, read_live
from kafkaplan.live.registry import (
    HttpRegistry,
    Registry,
)
from kafkaplan.live.retry import RetryingCluster, RetryPolicy
from kafkaplan.plan.compute import compute_plan, live_fingerprints
from kafkaplan.plan.drift import DriftReport, compute_drift
from kafkaplan.plan.model import (
    FORMAT_VERSION,
    Plan,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.preflight import acl_preflight, preflight, registry_preflight
from kafkaplan.spec.acls import DesiredAcls, Scope
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import Environment, Project, ReassignmentSettings, load_project

# How long an apply waits, at most, for the cluster to report what it did (the CLI uses
# the connection's request timeout).
SETTLE_TIMEOUT_SECONDS = 30.0


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


def retry_policy(context: Context) -> RetryPolicy:
    """The one retry policy of a run, for the cluster and the registry alike
    (``kafkaplan.live.retry``): ``kafka.retries`` more tries after a transient failure."""
    return RetryPolicy.of(context.environment.kafka.retries)


def connect(
    context: Context, *, read_only: bool, environ: Mapping[str, str] | None = None
) -> Cluster:
    """The cluster, with bounded retries of what is safe to retry (``kafkaplan.live.retry``).
    Every request to it, the apply lease's included, goes through this client, which
    refuses a cluster other than the environment's ``expected_cluster_id``."""
    connection = context.environment.kafka
    cluster = KafkaCluster(
        connection, os.environ if environ is None else environ, read_only=read_only
    )
    return RetryingCluster(cluster, retry_policy(context))


def open_lease(
    context: Context, cluster: Cluster, *, environ: Mapping[str, str] | None = None
) -> Lease:
    """This run's handle on ``cluster``'s apply lease (not yet acquired). The cluster's
    identity is checked first: on a cluster the environment does not expect, this raises
    before the lease is read, its topic created or a record written."""
    settings = context.project.model.lease
    environ = os.environ if environ is None else environ
    log = cluster.lease_log(settings.topic)
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
    return HttpRegistry(
        connection,
        os.environ if environ is None else environ,
        read_only=read_only,
        policy=retry_policy(context),
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


def check_plan_target(saved: Plan, context: Context, cluster: Cluster) -> None:
    """Refuse a saved plan made for another cluster, environment or kafkaplan version, or
    with errors. Reads only the cluster's identity, so it runs before the apply lease is
    taken: a plan for another cluster writes nothing there."""
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
    cluster_id = cluster.identify()
    if saved.cluster_id != cluster_id:
        raise PlanRefused(
            f"plan was made for cluster {saved.cluster_id}, but this is cluster {cluster_id}",
            hint="check the environment's bootstrap servers",
        )


def check_saved_plan(
    saved: Plan, context: Context, cluster: Cluster, registry: Registry | None = None
) -> None:
    """Refuse a saved plan that does not apply to what is live now, saying why.

    Only the live state is compared, not the specs: a saved plan is applied exactly as it
    was reviewed, whatever the specs say now.
    """
    check_plan_target(saved, context, cluster)
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
    settle_timeout: float = SETTLE_TIMEOUT_SECONDS,
) -> ApplyReport:
    """Apply ``plan``, then wait (up to ``settle_timeout``) until the cluster reports the
    topics and ACL bindings created and deleted (``kafkaplan.apply.settle``)."""
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
    report = apply_plan(
        plan,
        targets,
        progress=progress,
        on_outcome=on_outcome,
        batch_size=batch_size,
        before_batch=lease.keep if lease is not None else None,
    )
    report.unsettled = settle(cluster, plan, report, timeout=settle_timeout)
    return report
