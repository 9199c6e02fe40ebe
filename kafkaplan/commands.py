"""The commands' work, as library functions: load, connect, plan, check a saved plan, apply.

Each function takes plain inputs and returns data (or raises a ``KafkaplanError``); none
prints or prompts. What a command must show or ask while it runs (the plan before it is
applied, each outcome, the confirmation) goes through callbacks its caller supplies. The
CLI is a thin layer over these: one function per command, at the end of this module.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct
from msgspec.structs import replace
from pydantic import ValidationError

from kafkaplan import __version__
from kafkaplan.apply.runner import (
    DEFAULT_BATCH_SIZE,
    ApplyReport,
    Outcome,
    OutcomeCallback,
    ProgressCallback,
    Targets,
    apply_plan,
)
from kafkaplan.errors import (
    Diagnostic,
    KafkaplanError,
    PlanMismatch,
    PlanRefused,
    ProjectError,
    SpecError,
)
from kafkaplan.kinds import kind_of
from kafkaplan.live.checks import ask
from kafkaplan.live.cluster import Cluster, KafkaCluster
from kafkaplan.live.lease import Lease, LeaseState, run_owner
from kafkaplan.live.read import EarlyRead, read_addresses, read_live, read_usage
from kafkaplan.live.registry import (
    HttpRegistry,
    Registry,
)
from kafkaplan.live.retry import RetryingCluster, RetryPolicy
from kafkaplan.live.state import LiveState
from kafkaplan.plan.blast import (
    access_topics,
    changed_topics,
    in_use_deletions,
    removes_access,
    retention_cuts,
)
from kafkaplan.plan.checks import questions
from kafkaplan.plan.compare import compare_plans
from kafkaplan.plan.compute import compute_plan, live_fingerprints
from kafkaplan.plan.model import (
    FORMAT_VERSION,
    Message,
    Plan,
    PlanSet,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.secrets import remember
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.load import SPEC_SUFFIXES, find_spec_files, import_settings, load_desired
from kafkaplan.spec.project import Environment, Project, ReassignmentSettings, load_project
from kafkaplan.spec.source import YamlProblem, read_spec_text

if TYPE_CHECKING:
    from kafkaplan.importer.build import ImportResult
    from kafkaplan.plan.drift import DriftReport
    from kafkaplan.render.graph import Graph

# How long an apply waits, at most, for the cluster to report what it did (the CLI uses
# the connection's request timeout).
SETTLE_TIMEOUT_SECONDS = 30.0


class Context(Struct, frozen=True):
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


def load_and_describe(
    project_file: Path | None, env: str | None
) -> tuple[Context, Cluster, EarlyRead | None]:
    """For the read-only commands (plan, drift): the context with its specs, a read-only
    client of its cluster, and the reads started while the specs are checked so that the
    broker answers meanwhile (``EarlyRead``: the metadata before the specs are parsed, the
    declared topics' configs once they are known; None when the client could not be made:
    that error is raised after the specs' own, as ``connect`` would)."""
    project = load_project(project_file)
    name, environment = project.environment(env)
    try:
        cluster: Cluster | None = connect(Context(project, name, environment), read_only=True)
    except KafkaplanError:
        cluster = None
    early = EarlyRead(cluster) if cluster is not None else None
    try:
        on_topics = early.prefetch_configs if early is not None else None
        context = Context(project, *load_desired(project, env, on_topics=on_topics))
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    return context, cluster or connect(context, read_only=True), early


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


_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


def planned_commit(root: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """The commit the specs are planned at: ``GITHUB_SHA`` (set by GitHub Actions), else the
    HEAD of the git checkout holding ``root``; None when neither is known."""
    return commit_lookup(root, environ)()


def commit_lookup(root: Path, environ: Mapping[str, str] | None = None) -> Callable[[], str | None]:
    """``planned_commit``, started now and answered when called: ``git rev-parse`` runs
    while the plan reads the cluster, instead of after it."""
    environ = os.environ if environ is None else environ
    sha = environ.get("GITHUB_SHA", "").strip().lower()
    if _COMMIT.match(sha):
        return lambda: sha
    try:
        git = subprocess.Popen(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except (OSError, subprocess.SubprocessError):
        return lambda: None

    def answer() -> str | None:
        try:
            out, _ = git.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            git.kill()
            git.communicate()
            return None
        head = out.strip().lower()
        return head if git.returncode == 0 and _COMMIT.match(head) else None

    return answer


def planned_environment(project_file: Path | None, env: str | None) -> str | None:
    """The environment a plan is for, for the report of specs that did not load: ``env``,
    else the project's default one; None when the project file does not say."""
    if env is not None:
        return env
    try:
        return load_project(project_file).environment(None)[0]
    except KafkaplanError:
        return None


def make_plan(
    context: Context,
    cluster: Cluster,
    registry: Registry | None = None,
    options: PlanOptions | None = None,
    *,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    early: EarlyRead | None = None,
) -> Plan:
    """The plan of the context's specs against ``cluster`` (and ``registry``);
    ``early``: the reads already started (``EarlyRead``)."""
    desired = context.require_desired()
    commit = commit_lookup(context.project.root, environ)
    use_registry = registry if desired.uses_registry else None
    try:
        live = read_live(cluster, desired, use_registry, early=early)
        settings = context.project.model.blast_radius
        plan = decide(
            desired,
            live,
            cluster,
            use_registry,
            options,
            window_ms=settings.window_ms() if settings.enabled else None,
            now=now,
        )
    except BaseException:
        commit()  # no git process is left behind
        raise
    return plan.model_copy(
        update={
            "kafkaplan_version": __version__,
            "environment": context.env_name,
            "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "commit": commit(),
        }
    )


def decide(
    desired: DesiredState,
    live: LiveState,
    cluster: Cluster,
    registry: Registry | None,
    options: PlanOptions | None = None,
    *,
    window_ms: int | None = None,
    now: datetime | None = None,
) -> Plan:
    """The plan for what was read. What the broker and the registry must answer first (dry
    runs, compatibility checks) is found by a draft computation and asked; the consumer
    groups and offsets of the topics the draft changes are read (the blast radius; not when
    ``window_ms`` is None); then the plan is computed once more, from all of it, so that it
    is decided in one place."""
    draft = compute_plan(desired, live, options)
    changed = changed_topics(draft.changes, desired) if window_ms is not None else {}
    removing = window_ms is not None and removes_access(draft.changes)
    watched = access_topics(draft.changes, live) if removing else set()
    if (changed or removing) and window_ms is not None:
        at = now or datetime.now(UTC)
        read = [name for name in [*changed, *sorted(watched - set(changed))] if name in live.topics]
        live = replace(
            live,
            usage=read_usage(
                cluster,
                {name: live.topics[name].partitions for name in read},
                now_ms=int(at.timestamp() * 1000),
                window_ms=window_ms,
                cuts=retention_cuts(draft.changes, live),
                deleted=in_use_deletions(draft.changes),
                watched=watched,
                acls=not desired.acls.managed,
                leaders={name: live.topics[name].leaders for name in read},
            ),
        )
    asked = questions(draft)
    if not asked and not changed and not removing:
        return draft
    return compute_plan(desired, live, options, ask(cluster, registry, asked) if asked else None)


def make_drift(
    context: Context,
    cluster: Cluster,
    registry: Registry | None = None,
    *,
    now: datetime | None = None,
    early: EarlyRead | None = None,
) -> DriftReport:
    """Compare specs and live state without changing anything (read-only, tolerant reads)."""
    from kafkaplan.plan.drift import compute_drift

    desired = context.require_desired()
    live = read_live(cluster, desired, registry, tolerant=True, early=early)
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

    ``explicit``: the resource types were asked for. Without it (the default of all),
    subjects are left out when the environment has no registry, ACLs when the cluster
    has no authorizer or the principal may not read them, groups when the broker has
    no group configs (3.x) or the principal may not read them, and quotas when the
    principal may not read them, each with a note; asked for, those are errors."""
    from kafkaplan.importer.build import (
        build_import,
        read_for_import,
        read_subjects_for_import,
        write_import,
    )
    from kafkaplan.importer.groups import read_groups_for_import

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
    ignore = import_settings(context.project, context.environment)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkaplan-registry") as pool:
        # The registry is read while the cluster is.
        subjects_read = (
            pool.submit(read_subjects_for_import, registry, prefixes)
            if registry is not None and "subjects" in kinds
            else None
        )
        live = read_for_import(
            cluster,
            ignore,
            prefixes,
            acls="acls" in kinds,
            tolerant=not explicit,
            users="users" in kinds,
            quotas="quotas" in kinds,
        )
        if "groups" in kinds:
            groups, unread = read_groups_for_import(cluster, prefixes, tolerant=not explicit)
            live = replace(live, groups=groups)
            if unread is not None:
                kinds.remove("groups")
                notes.append(unread)
        if subjects_read is not None:
            subjects, live_registry = subjects_read.result()
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
            model=context.project.model.model_copy(update={"specs": [str(out.resolve())]}),
            document=context.project.document,
        )
        # What was just written is checked as it was written, not read and parsed again.
        written = {out.resolve() / path: spec for path, spec in result.specs.items()}
        load_desired(probe, context.env_name, written)
    except SpecError as exc:
        problems = exc.diagnostics
    return result, files, problems


def read_plan_file(path: Path) -> Plan:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanRefused(f"cannot read plan file: {exc.strerror}", resource=str(path)) from exc
    try:
        # Bytes: pydantic reads the JSON as UTF-8 and refuses anything else the same way.
        return Plan.model_validate_json(data)
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


def check_saved_state(saved: Plan, cluster: Cluster, registry: Registry | None = None) -> None:
    """Refuse a saved plan whose resources changed since it was made, saying why (its target
    was checked by ``check_plan_target`` before the lease was taken).

    Only the live state is compared, not the specs: a saved plan is applied exactly as it
    was reviewed, whatever the specs say now.
    """
    needs_registry = any(
        (kind := kind_of(address)) is not None and kind.in_registry
        for address in saved.resource_fingerprints
    )
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


def check_reviewed_plan(reviewed: Plan, context: Context) -> None:
    """Refuse, before anything is read, a reviewed plan that no fresh plan could match."""
    if reviewed.format_version != FORMAT_VERSION:
        raise PlanRefused(
            f"the reviewed plan has format version {reviewed.format_version}; this kafkaplan "
            f"reads {FORMAT_VERSION}",
            hint="plan again with this version and review that plan",
        )
    if reviewed.environment != context.env_name:
        raise PlanRefused(
            f"the reviewed plan was made for environment {reviewed.environment!r}, not "
            f"{context.env_name!r}",
            hint="pass the same --env as when planning",
        )
    if reviewed.errors:
        raise PlanRefused("the reviewed plan has errors; it cannot have been approved")


def expect_reviewed(reviewed: Plan, fresh: Plan, source: Path | None = None) -> None:
    """Refuse ``fresh`` unless it makes exactly the changes of ``reviewed``, listing every
    difference (``kafkaplan.plan.compare``)."""
    difference = compare_plans(reviewed, fresh)
    if not difference:
        return
    raise PlanMismatch(
        f"the plan computed now differs from the reviewed plan ({difference.summary()}); "
        "nothing was applied",
        resource=None if source is None else str(source),
        hint="the specs or the cluster changed since the review: plan again and review the "
        "new plan",
        details=difference.lines(),
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
    from kafkaplan.apply.settle import settle

    try:
        report.unsettled = settle(cluster, plan, report, timeout=settle_timeout)
    except KeyboardInterrupt:
        # Every change was sent and answered: only the wait for the cluster to show them
        # was cut short.
        report.interrupted = "interrupted"
    return report


# ---------------------------------------------------------------------------------------------
# One function per command: what the CLI calls
# ---------------------------------------------------------------------------------------------


def plan_options(
    context: Context,
    *,
    targets: Sequence[str] = (),
    allow_deletes: bool = False,
    max_destroy: int | None = None,
    allow_in_use_deletes: bool = False,
    rotate_passwords: bool = False,
    environ: Mapping[str, str] | None = None,
) -> PlanOptions:
    """The options of a new plan; ``max_destroy`` defaults to the project's. The SCRAM
    users' password variables that are set are named in them (their values are remembered
    as secrets, so that no log line can show them, and are never part of the plan)."""
    environ = os.environ if environ is None else environ
    present = set()
    if context.desired is not None:
        for user in context.desired.users.values():
            if user.password_env in environ:
                remember(environ[user.password_env])
                present.add(user.password_env)
    return PlanOptions(
        allow_deletes=allow_deletes,
        allow_in_use_deletes=allow_in_use_deletes,
        max_destroy=context.project.model.max_destroy if max_destroy is None else max_destroy,
        targets=tuple(targets),
        rotate_passwords=rotate_passwords,
        password_envs=frozenset(present),
    )


def validate_specs(
    project_file: Path | None,
    env: str | None,
    paths: Sequence[Path] = (),
    *,
    cwd: Path | None = None,
) -> DesiredState:
    """Load and check the specs offline (no connection); ``paths`` (relative to ``cwd``)
    replace the project's ``specs`` setting. Raises ``SpecError`` with every problem."""
    project = load_project(project_file)
    if paths:
        base = Path.cwd() if cwd is None else cwd
        model = project.model.model_copy(
            update={"specs": [str((base / p).resolve()) for p in paths]}
        )
        project = replace(project, model=model)
    _, _, desired = load_desired(project, env)
    return desired


def graph_specs(
    project_file: Path | None, env: str | None, *, targets: Sequence[str] = ()
) -> Graph:
    """The declared estate (topics, and who the declared ACLs let write or read them) as a
    picture, offline."""
    from kafkaplan.render.graph import estate_graph

    _, _, desired = load_desired(load_project(project_file), env)
    return estate_graph(desired, targets)


class Formatted(Struct, frozen=True):
    changed: list[Path]  # reformatted (or, with check, that would be)
    unchanged: list[Path]
    skipped: list[Path]  # YAML files that are not spec files, left alone


def format_specs(
    project_file: Path | None,
    paths: Sequence[Path] = (),
    *,
    check: bool = False,
    write: Callable[[Path, str], None] | None = None,
) -> Formatted:
    """Write spec files in their canonical form (``kafkaplan.spec.fmt``); with ``check``,
    only say which would change. ``paths`` (files or folders) replace the project's specs;
    without them the project file is needed. Raises ``SpecError`` for files that are not
    YAML, after formatting none of them."""
    from kafkaplan.spec.fmt import format_spec

    if paths:
        files = sorted(
            {
                found
                for path in paths
                for found in (
                    [path]
                    if path.is_file()
                    else [
                        p
                        for p in sorted(path.rglob("*"))
                        if p.suffix in SPEC_SUFFIXES
                        and p.is_file()
                        and not any(part.startswith(".") for part in p.relative_to(path).parts)
                    ]
                )
            }
        )
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise ProjectError(f"no such file or folder: {', '.join(missing)}")
    else:
        files = find_spec_files(load_project(project_file))
    results: list[tuple[Path, str, str | None]] = []
    problems: list[Diagnostic] = []
    for path in files:
        try:
            text = read_spec_text(path, str(path))
            results.append((path, text, format_spec(text, str(path))))
        except YamlProblem as exc:
            problems.append(exc.diagnostic)
        except SpecError as exc:
            problems.extend(exc.diagnostics)
    if problems:
        raise SpecError(problems)
    done = Formatted([], [], [])
    for path, text, formatted in results:
        if formatted is None:
            done.skipped.append(path)
        elif formatted == text:
            done.unchanged.append(path)
        else:
            done.changed.append(path)
            if not check and write is not None:
                write(path, formatted)
    return done


def plan_specs(
    project_file: Path | None,
    env: str | None,
    *,
    targets: Sequence[str] = (),
    allow_deletes: bool = False,
    max_destroy: int | None = None,
    allow_in_use_deletes: bool = False,
    rotate_passwords: bool = False,
) -> Plan:
    """The plan of the specs against the live cluster (read-only)."""
    context, cluster, early = load_and_describe(project_file, env)
    try:
        registry = connect_registry(context, read_only=True)
        options = plan_options(
            context,
            targets=targets,
            allow_deletes=allow_deletes,
            max_destroy=max_destroy,
            allow_in_use_deletes=allow_in_use_deletes,
            rotate_passwords=rotate_passwords,
        )
        return make_plan(context, cluster, registry, options, early=early)
    finally:
        cluster.close()


# At most this many environments are read at once.
MAX_PARALLEL_ENVIRONMENTS = 8


def environment_names(project_file: Path | None, envs: Sequence[str]) -> list[str]:
    """The environments asked for, checked against the project file; none: all of them,
    in the project file's order."""
    project = load_project(project_file)
    if not envs:
        return list(project.model.environments)
    names = list(dict.fromkeys(envs))
    for name in names:
        project.environment(name)  # raises for an unknown one, naming the known ones
    return names


def _plan_or_errors(
    project_file: Path | None,
    env: str,
    *,
    targets: Sequence[str],
    allow_deletes: bool,
    max_destroy: int | None,
) -> Plan:
    try:
        return plan_specs(
            project_file, env, targets=targets, allow_deletes=allow_deletes, max_destroy=max_destroy
        )
    except SpecError as exc:
        errors = [
            Message(message=d.message, source=d.location() or None, hint=d.hint)
            for d in exc.diagnostics
        ]
    except KafkaplanError as exc:
        where = f"{exc.resource}: " if exc.resource else ""
        errors = [Message(message=where + exc.message, hint=exc.hint)]
    return Plan(kafkaplan_version=__version__, environment=env, errors=errors)


def plan_environments(
    project_file: Path | None,
    envs: Sequence[str] = (),
    *,
    targets: Sequence[str] = (),
    allow_deletes: bool = False,
    max_destroy: int | None = None,
    now: datetime | None = None,
) -> PlanSet:
    """One plan per environment (``envs``; none: every environment of the project), read
    concurrently, one thread per environment (at most ``MAX_PARALLEL_ENVIRONMENTS``). An
    environment that cannot be planned gets a plan of its errors; the others go on."""
    names = environment_names(project_file, envs)
    with ThreadPoolExecutor(
        max_workers=max(1, min(len(names), MAX_PARALLEL_ENVIRONMENTS)),
        thread_name_prefix="kafkaplan-env",
    ) as pool:
        futures = [
            pool.submit(
                _plan_or_errors,
                project_file,
                name,
                targets=targets,
                allow_deletes=allow_deletes,
                max_destroy=max_destroy,
            )
            for name in names
        ]
        plans = [future.result() for future in futures]
    return PlanSet(
        kafkaplan_version=__version__,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        plans=plans,
    )


def report_drift(project_file: Path | None, env: str | None) -> DriftReport:
    """How the live cluster differs from the specs (read-only)."""
    context, cluster, early = load_and_describe(project_file, env)
    try:
        registry = connect_registry(context, read_only=True)
        return make_drift(context, cluster, registry, early=early)
    finally:
        cluster.close()


class Imported(Struct, frozen=True):
    result: ImportResult
    files: list[Path]
    problems: list[Diagnostic]  # what the imported specs would break (policies, mostly)


def import_live(
    project_file: Path | None,
    env: str | None,
    out: Path,
    *,
    prefixes: Sequence[str] = (),
    resources: Sequence[str] | None = None,
    force: bool = False,
) -> Imported:
    """Write spec files for what is live into ``out`` (``run_import``). ``resources``: the
    types asked for, or None for the default of all that can be read."""
    from kafkaplan.importer.build import RESOURCE_TYPES

    asked = list(RESOURCE_TYPES) if resources is None else list(resources)
    context = load_context(project_file, env, specs=False)
    cluster = connect(context, read_only=True)
    try:
        registry = connect_registry(context, read_only=True) if "subjects" in asked else None
        result, files, problems = run_import(
            context,
            cluster,
            out,
            prefixes,
            [kind for kind in RESOURCE_TYPES if kind in asked],
            force=force,
            registry=registry,
            explicit=resources is not None,
        )
    finally:
        cluster.close()
    return Imported(result, files, problems)


def _no_progress() -> AbstractContextManager[ProgressCallback | None]:
    return nullcontext(None)


def _ignore(*_args: object) -> None:
    return None


class ApplyHooks(Struct):
    """What ``apply_specs`` tells its caller while it runs, and what it asks.

    ``confirm`` is asked (with the environment's name) before a new plan is applied; it
    returns whether to go on. None: no question (a saved plan, or approval given already).
    ``progress`` opens the progress display around the applying itself."""

    show_plan: Callable[[Plan], None] = _ignore
    confirm: Callable[[str], bool] | None = None
    progress: Callable[[], AbstractContextManager[ProgressCallback | None]] = _no_progress
    on_outcome: Callable[[Outcome], None] = _ignore
    show_report: Callable[[ApplyReport], None] = _ignore
    lease_taken_over: Callable[[LeaseState], None] = _ignore
    lease_not_released: Callable[[KafkaplanError, LeaseState | None], None] = _ignore


class Applied(Struct, frozen=True):
    plan: Plan
    report: ApplyReport | None = None  # None: nothing was applied (plan errors, no changes)


def apply_specs(
    project_file: Path | None,
    env: str | None,
    planfile: Path | None = None,
    *,
    targets: Sequence[str] = (),
    allow_deletes: bool = False,
    max_destroy: int | None = None,
    lease_wait: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    hooks: ApplyHooks | None = None,
    allow_in_use_deletes: bool = False,
    expect: Path | None = None,
    rotate_passwords: bool = False,
) -> Applied:
    """Apply a saved plan (``planfile``), or plan the specs and apply that, under the
    cluster's apply lease: take the lease (waiting up to ``lease_wait`` seconds, default
    the project's), check the saved plan against what is live or compute a new one, show
    it, ask for confirmation (new plans only), apply, give the lease back.

    ``expect``: a reviewed plan file. The plan computed now must make exactly its changes
    (``kafkaplan.plan.compare``), or nothing is applied and a ``PlanMismatch`` lists the
    differences; when it does, it is applied without a question (it was reviewed)."""
    hooks = hooks or ApplyHooks()
    saved: Plan | None = None
    reviewed: Plan | None = None
    if planfile is not None:
        if expect is not None:
            raise PlanRefused(
                "a saved plan is applied as it was planned; --expect checks a new plan",
                hint="pass either the plan file or --expect, not both",
            )
        saved = read_plan_file(planfile)
        context = load_context(project_file, env or saved.environment, specs=False)
    else:
        if expect is not None:
            reviewed = read_plan_file(expect)
        context = load_context(project_file, env or (reviewed.environment if reviewed else None))
        if reviewed is not None:
            check_reviewed_plan(reviewed, context)
    wait = context.project.model.lease.wait_seconds() if lease_wait is None else lease_wait
    cluster = connect(context, read_only=False)
    try:
        registry = connect_registry(context, read_only=False)
        if saved is not None:
            check_plan_target(saved, context, cluster)  # before the lease: nothing written
        lease = open_lease(context, cluster)
        try:
            lease.acquire(wait)
            if lease.taken_over is not None:
                hooks.lease_taken_over(lease.taken_over)
            return _apply_leased(
                context,
                cluster,
                registry,
                lease,
                saved,
                hooks,
                batch_size,
                plan_options(
                    context,
                    targets=targets,
                    allow_deletes=allow_deletes,
                    max_destroy=max_destroy,
                    allow_in_use_deletes=allow_in_use_deletes,
                    rotate_passwords=rotate_passwords,
                ),
                reviewed=(reviewed, expect) if reviewed is not None else None,
            )
        finally:
            held = lease.state
            try:
                lease.release()
            except KafkaplanError as exc:
                hooks.lease_not_released(exc, held)
            except KeyboardInterrupt:
                hooks.lease_not_released(ProjectError("interrupted while giving it back"), held)
                raise
    finally:
        cluster.close()


def _apply_leased(
    context: Context,
    cluster: Cluster,
    registry: Registry | None,
    lease: Lease,
    saved: Plan | None,
    hooks: ApplyHooks,
    batch_size: int,
    options: PlanOptions,
    reviewed: tuple[Plan, Path | None] | None = None,
) -> Applied:
    if saved is not None:
        check_saved_state(saved, cluster, registry)
        plan = saved
    else:
        plan = make_plan(context, cluster, registry, options)
        if reviewed is not None and not plan.errors:
            expect_reviewed(reviewed[0], plan, reviewed[1])
    hooks.show_plan(plan)
    if plan.errors or not plan.has_changes:
        return Applied(plan)
    approved = saved is not None or reviewed is not None
    if not approved and hooks.confirm is not None and not hooks.confirm(context.env_name):
        raise PlanRefused("apply cancelled; nothing was changed")
    with hooks.progress() as progress:
        report = run_apply(
            plan,
            cluster,
            registry=registry,
            progress=progress,
            on_outcome=hooks.on_outcome,
            lease=lease,
            batch_size=batch_size,
            reassignment=context.project.reassignment(context.environment),
            settle_timeout=context.environment.kafka.timeout_seconds(),
        )
    hooks.show_report(report)
    return Applied(plan, report)


def unlock_lease(
    project_file: Path | None, env: str | None, *, confirm: Callable[[LeaseState], bool]
) -> LeaseState | None:
    """Release the cluster's apply lease held by another run, if ``confirm`` (shown who
    holds it) agrees. Returns the lease released, or None when it was not held. Only that
    lease is released: if it changed meanwhile, a ``ProjectError`` says so."""
    context = load_context(project_file, env, specs=False)
    cluster = connect(context, read_only=False)
    try:
        lease = open_lease(context, cluster)
        state = lease.read()
        if not state.held:
            return None
        if not confirm(state):
            raise PlanRefused("unlock cancelled; the lease is still held")
        after = lease.break_(state)
        if after.head == state.head or after.held:
            raise ProjectError(
                f"the lease changed while unlocking ({after.describe()}); nothing was released",
                hint="run `kafkaplan unlock` again to see the current holder",
            )
        return state
    finally:
        cluster.close()
