"""The commands' work, as library functions: load, connect, plan, check a saved plan, apply.

Each function takes plain inputs and returns data (or raises a ``KafkaplanError``); none
prints or prompts. The CLI is a thin layer over these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from kafkaplan import __version__
from kafkaplan.apply import ApplyReport, ProgressCallback, Targets, apply_plan, topic_request
from kafkaplan.cluster import Cluster, KafkaCluster
from kafkaplan.diff import compute_plan, live_fingerprints
from kafkaplan.errors import PermissionDenied, PlanRefused
from kafkaplan.load import load_desired
from kafkaplan.plan import FORMAT_VERSION, Action, Message, Plan
from kafkaplan.project import Environment, Project, ReassignmentSettings, load_project
from kafkaplan.read import read_addresses, read_live
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


def load_context(project_file: Path | None, env: str | None, *, specs: bool = True) -> Context:
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
    return KafkaCluster(
        context.environment.kafka, os.environ if environ is None else environ, read_only=read_only
    )


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


def make_plan(
    context: Context,
    cluster: Cluster,
    options: PlanOptions | None = None,
    *,
    now: datetime | None = None,
) -> Plan:
    desired = context.require_desired()
    live = read_live(cluster, desired)
    plan = compute_plan(desired, live, options)
    errors, warnings = preflight(plan, cluster)
    return plan.model_copy(
        update={
            "kafkaplan_version": __version__,
            "environment": context.env_name,
            "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "errors": [*plan.errors, *errors],
            "warnings": [*plan.warnings, *warnings],
        }
    )


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


def check_saved_plan(saved: Plan, context: Context, cluster: Cluster) -> None:
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
    live = read_addresses(cluster, saved.resource_fingerprints)
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
    progress: ProgressCallback | None = None,
    reassignment: ReassignmentSettings | None = None,
) -> ApplyReport:
    if plan.errors:
        raise PlanRefused(
            f"the plan has {len(plan.errors)} error(s); nothing was applied",
            hint="fix the errors shown in the plan",
        )
    targets = Targets(cluster=cluster, reassignment=reassignment or ReassignmentSettings())
    return apply_plan(plan, targets, progress=progress)
