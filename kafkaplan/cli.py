"""The ``kafkaplan`` command line: parse options, call one function of ``kafkaplan.commands``,
render what it returns through ``kafkaplan.output``, return an exit code.

Exit codes: 0 success; 1 an error the user can fix (bad spec, unreachable broker, refused
plan, failed apply); 2 with ``--detailed-exitcode``/``drift``: changes present; 3 an
unexpected internal error (a bug: please report it with the output of ``--debug``); 4
``drift`` found no drift but could not check everything (the report is incomplete).
"""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

import click

from kafkaplan import __version__, commands
from kafkaplan.apply.runner import (
    DEFAULT_BATCH_SIZE,
    ApplyReport,
    Outcome,
    ProgressCallback,
    Status,
)
from kafkaplan.errors import KafkaplanError, PlanMismatch, PlanRefused, SpecError
from kafkaplan.importer.build import RESOURCE_TYPES
from kafkaplan.live.connection import is_interrupt
from kafkaplan.live.lease import LeaseState
from kafkaplan.output import Output
from kafkaplan.plan.drift import DriftKind
from kafkaplan.plan.model import Plan
from kafkaplan.render import FORMATS, render
from kafkaplan.render.drift import render_drift
from kafkaplan.render.graph import to_dot, to_mermaid
from kafkaplan.render.markdown import render_spec_errors
from kafkaplan.render.plan_set import render_plan_set
from kafkaplan.secrets import Redactor
from kafkaplan.spec.models import spec_json_schema
from kafkaplan.spec.project import project_json_schema

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3
# drift: no drift in what was checked, but something could not be checked.
EXIT_INCOMPLETE = 4
EXIT_INTERRUPTED = 130


class Options:
    def __init__(self, project: Path | None, color: bool | None, debug: bool):
        self.project = project
        self.debug = debug
        self.output = Output(color)


pass_options = click.make_pass_decorator(Options)

env_option = click.option(
    "--env", "-e", "env", metavar="NAME", help="Environment from the project file."
)


def plan_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that shape a plan, shared by `plan` and `apply`."""
    for option in reversed(
        [
            click.option(
                "--target",
                "targets",
                multiple=True,
                metavar="PATTERN",
                help="Only resources whose address matches PATTERN (shell-style, e.g. "
                "'topic.orders.*'). Repeatable.",
            ),
            click.option(
                "--allow-deletes",
                is_flag=True,
                help="Plan deletions of owned resources (topics, ACL bindings, subjects) that "
                "no spec declares. Without it they are kept and listed as warnings.",
            ),
            click.option(
                "--allow-in-use-deletes",
                is_flag=True,
                help="Plan deletions of topics that consumer groups still read (live members, "
                "or records written within the project's blast_radius.in_use_window read). "
                "Without it such a deletion is a plan error naming the groups. Recorded in the "
                "plan.",
            ),
            click.option(
                "--rotate-passwords",
                is_flag=True,
                help="Set a new password on every declared SCRAM user that exists, from its "
                "password_env (with --target user.NAME: that user only). Without it an "
                "existing user's password is never set again.",
            ),
            click.option(
                "--max-destroy",
                type=click.IntRange(min=0),
                metavar="N",
                help="Refuse a plan that deletes more than N resources (default: the "
                "project's max_destroy).",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kafkaplan")
@click.option(
    "--project",
    "-p",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Project file (default: kafkaplan.yaml here or in a parent folder).",
)
@click.option(
    "--color/--no-color", default=None, help="Force colour on or off (NO_COLOR is honoured)."
)
@click.option(
    "--debug", is_flag=True, help="Log client activity and show tracebacks of internal errors."
)
@click.pass_context
def cli(ctx: click.Context, project: Path | None, color: bool | None, debug: bool) -> None:
    """Plan and apply Kafka topics from YAML specs, the way Terraform does for clouds."""
    ctx.obj = Options(project, color, debug)
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        for handler in logging.getLogger().handlers:
            handler.addFilter(Redactor())


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@env_option
@pass_options
def validate(options: Options, paths: tuple[Path, ...], env: str | None) -> int:
    """Check specs offline: shape, config names and values, names, policies.

    PATHS (files or folders) replace the project's `specs` setting. Prints one
    `file:line: message` per problem and exits 1 if there is any.
    """
    desired = commands.validate_specs(options.project, env, paths)
    acls = f", {len(desired.acls.bindings)} ACL binding(s)" if desired.acls.bindings else ""
    subjects = f", {len(desired.subjects)} subject(s)" if desired.subjects else ""
    users = f", {len(desired.users)} user(s)" if desired.users else ""
    groups = f", {len(desired.groups)} group(s)" if desired.groups else ""
    count = len(desired.quotas.entities)
    quotas = f", {count} quota entit{'y' if count == 1 else 'ies'}" if count else ""
    counts = f"{acls}{subjects}{users}{groups}{quotas}"
    options.output.echo(f"Valid: {len(desired.topics)} topic(s){counts}.")
    return EXIT_OK


@cli.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 listing the files that would change."
)
@pass_options
def fmt_command(options: Options, paths: tuple[Path, ...], check: bool) -> int:
    """Rewrite spec files in one canonical form, keeping their comments.

    Keys in the order of the spec reference (a topic's name first), topic configs sorted
    and in human units (604800000 -> 7d), the same quoting and indentation everywhere. The
    specs mean the same afterwards: the same plan. PATHS (files or folders) replace the
    project's `specs` setting; YAML files that are not specs are left alone.
    """
    output = options.output
    done = commands.format_specs(options.project, paths, check=check, write=output.write_file)
    for path in done.changed:
        output.echo(f"{'would reformat' if check else 'reformatted'} {path}")
    for path in done.skipped:
        output.echo(f"not a spec file, left alone: {path}", err=True)
    verb = "would be reformatted" if check else "reformatted"
    output.echo(
        f"{len(done.changed)} file(s) {verb}, {len(done.unchanged)} already formatted.",
        err=True,
    )
    return EXIT_ERROR if check and done.changed else EXIT_OK


@cli.command()
@click.option(
    "--env",
    "-e",
    "envs",
    metavar="NAME",
    multiple=True,
    help="Environment from the project file. Repeat it to plan several environments in one "
    "run: one report with a section per environment.",
)
@click.option(
    "--all-envs", is_flag=True, help="Plan every environment of the project file in one run."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan to FILE (JSON) for `apply FILE` (one environment only).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to show the plan: text for a terminal, markdown for a pull request comment, "
    "json for machines (docs/plan.schema.json).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are changes, 1 on error.",
)
@plan_options
@pass_options
def plan(
    options: Options,
    envs: tuple[str, ...],
    all_envs: bool,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    allow_deletes: bool,
    allow_in_use_deletes: bool,
    rotate_passwords: bool,
    max_destroy: int | None,
) -> int:
    """Read the live cluster, compare it with the specs and show what apply would change.

    Exit codes: 0 success (with --detailed-exitcode: no changes), 2 changes present
    (--detailed-exitcode only), 1 error — including policy violations and changes the
    cluster would refuse.

    With several environments (--env a --env b, or --all-envs) their plans are read at
    the same time and shown as one report, a section per environment (--format json: a
    plan set, docs/plan-set.schema.json). The exit code is 1 if any environment has an
    error; otherwise, with --detailed-exitcode, 2 if any has changes; else 0.
    """
    output = options.output
    if all_envs or len(envs) > 1:
        if out is not None:
            raise click.UsageError(
                "--out saves one environment's plan: plan each environment with its own --out"
            )
        if rotate_passwords:
            raise click.UsageError("--rotate-passwords plans one environment: pass one --env")
        if all_envs and envs:
            raise click.UsageError("pass --env NAME (repeatable) or --all-envs, not both")
        plans = commands.plan_environments(
            options.project,
            envs,
            targets=targets,
            allow_deletes=allow_deletes,
            max_destroy=max_destroy,
        )
        output.echo(render_plan_set(plans, fmt, color=output.color), nl=False)
        if plans.has_errors:
            return EXIT_ERROR
        return EXIT_CHANGES if detailed_exitcode and plans.has_changes else EXIT_OK
    env = envs[0] if envs else None
    try:
        result = commands.plan_specs(
            options.project,
            env,
            targets=targets,
            allow_deletes=allow_deletes,
            max_destroy=max_destroy,
            allow_in_use_deletes=allow_in_use_deletes,
            rotate_passwords=rotate_passwords,
        )
    except SpecError as error:
        if fmt != "markdown":
            raise
        # The pull-request comment says why there is no plan instead of going blank.
        commit = commands.planned_commit(
            options.project.parent if options.project is not None else Path.cwd()
        )
        environment = commands.planned_environment(options.project, env)
        output.echo(
            render_spec_errors(error.diagnostics, environment=environment, commit=commit),
            nl=False,
        )
        _report_error(output, error)
        return EXIT_ERROR
    output.echo(render(result, fmt, color=output.color), nl=False)
    if result.errors:
        return EXIT_ERROR
    if out is not None:
        output.write_file(out, result.model_dump_json(indent=2) + "\n")
        output.echo(f"Saved the plan to {out}. Apply it with: kafkaplan apply {out}", err=True)
    if detailed_exitcode and result.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@cli.command()
@click.argument("planfile", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to show the plan: text, markdown or json.",
)
@pass_options
def show(options: Options, planfile: Path, fmt: str) -> int:
    """Show a saved plan (`plan --out FILE`) again, without connecting to the cluster.

    Exit codes: 0 the plan can be applied, 1 it has errors or cannot be read.
    """
    saved = commands.read_plan_file(planfile)
    options.output.echo(render(saved, fmt, color=options.output.color), nl=False)
    return EXIT_ERROR if saved.errors else EXIT_OK


@cli.command()
@env_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("mermaid", "dot")),
    default="mermaid",
    show_default=True,
    help="mermaid (GitHub and most docs sites draw it) or dot (Graphviz).",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="PATTERN",
    help="Only topics whose address matches PATTERN (e.g. 'topic.orders.*'). Repeatable.",
)
@pass_options
def graph(options: Options, env: str | None, fmt: str, targets: tuple[str, ...]) -> int:
    """Draw the declared estate: each topic, who may write it and who may read it.

    Offline: reads the specs only. Producers and consumers come from the declared ACLs
    (roles named on the arrows).
    """
    drawn = commands.graph_specs(options.project, env, targets=targets)
    options.output.echo(to_mermaid(drawn) if fmt == "mermaid" else to_dot(drawn), nl=False)
    return EXIT_OK


def _duration_seconds(value: str | None) -> float | None:
    from kafkaplan.spec.units import UnitError, parse_duration_ms

    if value is None:
        return None
    try:
        return parse_duration_ms(value) / 1000
    except UnitError as exc:
        raise click.BadParameter(str(exc), param_hint="--lease-wait") from exc


@cli.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False))
@env_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI).")
@click.option(
    "--expect",
    "expect",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="REVIEWED_PLAN",
    help="Plan afresh, and apply only if the new plan makes exactly the changes of this "
    "reviewed plan file (`plan --out`); otherwise list the differences and apply nothing. "
    "A matching plan is applied without asking.",
)
@click.option(
    "--lease-wait",
    metavar="DURATION",
    help="How long to wait for another apply's lease on the cluster (e.g. 5m; default: the "
    "project's lease.wait, 0s).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Changes sent per request; each is reported as soon as its batch is answered.",
)
@plan_options
@pass_options
def apply(
    options: Options,
    planfile: Path | None,
    env: str | None,
    auto_approve: bool,
    expect: Path | None,
    lease_wait: str | None,
    batch_size: int,
    targets: tuple[str, ...],
    allow_deletes: bool,
    allow_in_use_deletes: bool,
    rotate_passwords: bool,
    max_destroy: int | None,
) -> int:
    """Apply a saved plan, or plan and apply the specs.

    A saved PLANFILE is refused when the live state changed since it was planned, when it
    was made for another cluster or environment, or by another kafkaplan version. Without
    PLANFILE, the plan is computed now and shown; on a terminal you are asked to confirm
    unless --auto-approve is given.

    With --expect REVIEWED_PLAN, the plan is computed now and applied only if its changes
    are exactly those of the reviewed plan (timestamps, versions and fingerprints aside);
    otherwise each added, removed or changed change is listed and nothing is applied.

    One apply at a time changes a cluster: apply takes the cluster's lease before reading
    it and gives it back at the end (see `kafkaplan unlock`).
    """
    if planfile is not None and expect is not None:
        raise click.UsageError(
            "a saved PLANFILE is applied as it was planned; --expect checks a new plan "
            "against a reviewed one: pass one or the other"
        )
    if planfile is not None and (
        targets
        or allow_deletes
        or allow_in_use_deletes
        or rotate_passwords
        or max_destroy is not None
    ):
        raise click.UsageError(
            "--target, --allow-deletes, --allow-in-use-deletes, --rotate-passwords and "
            "--max-destroy shape a new "
            "plan; a saved plan "
            "is applied exactly as it was planned"
        )
    wait = _duration_seconds(lease_wait)
    output = options.output
    hooks = commands.ApplyHooks(
        show_plan=lambda result: _show_plan(output, result),
        confirm=None
        if planfile is not None or expect is not None or auto_approve
        else _confirmer(output),
        progress=lambda: _progress(output),
        on_outcome=lambda outcome: _show_outcome(output, outcome),
        show_report=lambda report: _show_report(output, report),
        lease_taken_over=lambda state: output.echo(
            f"Note: took over an expired apply lease ({state.describe()}); "
            "that run ended without giving it back. The plan below shows what it left.",
            err=True,
        ),
        lease_not_released=lambda error, held: _show_not_released(output, error, held),
    )
    with _terminate_as_interrupt():
        applied = commands.apply_specs(
            options.project,
            env,
            planfile,
            targets=targets,
            allow_deletes=allow_deletes,
            max_destroy=max_destroy,
            lease_wait=wait,
            batch_size=batch_size,
            hooks=hooks,
            allow_in_use_deletes=allow_in_use_deletes,
            expect=expect,
            rotate_passwords=rotate_passwords,
        )
    if applied.plan.errors:
        return EXIT_ERROR
    if applied.report is None:
        return EXIT_OK
    if applied.report.interrupted == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if applied.report.ok else EXIT_ERROR


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) ends an apply like Ctrl-C: the batch in flight is
    reported, nothing more is sent, the lease is given back."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _show_plan(output: Output, result: Plan) -> None:
    output.echo(render(result, "text", color=output.color), nl=False)
    if result.errors:
        output.echo("Nothing was applied.", err=True)


def _confirmer(output: Output) -> Callable[[str], bool]:
    def confirm(env_name: str) -> bool:
        if not output.interactive():
            raise PlanRefused(
                "refusing to apply without confirmation: input is not a terminal",
                hint="review the plan and pass --auto-approve, or apply a saved plan file",
            )
        answer = output.ask(
            f"\nApply these changes to environment {env_name!r}? Only 'yes' will be accepted"
        )
        return answer == "yes"

    return confirm


@contextmanager
def _progress(output: Output) -> Iterator[ProgressCallback]:
    output.echo("")
    with output.progress() as progress:
        yield progress


def _show_not_released(output: Output, error: KafkaplanError, held: LeaseState | None) -> None:
    expiry = held.describe().split("; ")[-1] if held is not None else ""
    output.echo(
        f"Warning: could not give back the apply lease ({error}); {expiry}. Another apply "
        "can take it over once it expires, or run `kafkaplan unlock`.",
        err=True,
    )


@cli.command()
@env_option
@click.option("--force", is_flag=True, help="Release without asking (for scripts).")
@pass_options
def unlock(options: Options, env: str | None, force: bool) -> int:
    """Release the cluster's apply lease held by another (crashed) run.

    Shows who holds the lease and since when, and asks for confirmation unless --force is
    given. Only that lease is released: if it changed meanwhile, nothing happens. Breaking
    the lease of a run that is still applying makes it stop before its next batch.
    """
    output = options.output

    def confirm(state: LeaseState) -> bool:
        output.echo(f"{state.describe().capitalize()}.")
        if force:
            return True
        if not output.interactive():
            raise PlanRefused(
                "refusing to release the lease without confirmation: input is not a terminal",
                hint="pass --force if that run is gone",
            )
        answer = output.ask(
            "Release it? A run that still applies stops before its next batch. "
            "Only 'yes' will be accepted"
        )
        return answer == "yes"

    released = commands.unlock_lease(options.project, env, confirm=confirm)
    if released is None:
        output.echo("The apply lease is not held; nothing to do.")
    else:
        output.echo("Released the apply lease.")
    return EXIT_OK


_MARKS = {
    Status.DONE: ("✓", "green"),
    Status.FAILED: ("✗", "red"),
    Status.UNKNOWN: ("?", "magenta"),
    Status.SKIPPED: ("-", "yellow"),
}


def _show_outcome(output: Output, outcome: Outcome) -> None:
    """Each change's outcome, as soon as it is known (flushed: a killed run still leaves a
    true record of what it did)."""
    mark, fg = _MARKS[outcome.status]
    detail = f": {outcome.detail}" if outcome.detail else ""
    output.echo(
        output.style(
            f"  {mark} {outcome.address} ({outcome.action.value}) {outcome.status.value}{detail}",
            fg=fg,
        )
    )


UNSETTLED_SHOWN = 10


def _show_report(output: Output, report: ApplyReport) -> None:
    output.echo("")
    if report.interrupted:
        verdict = f"Apply interrupted ({report.interrupted})"
    elif report.ok:
        verdict = "Apply complete"
    else:
        verdict = "Apply finished with failures"
    output.echo(f"{verdict}: {report.summary()}.")
    unknown = [o.address for o in report.outcomes if o.status is Status.UNKNOWN]
    if unknown:
        output.echo(
            f"Outcome unknown (sent, but not confirmed): {', '.join(unknown)}. "
            "The next `kafkaplan plan` shows whether they were made.",
            err=True,
        )
    if report.unsettled:
        shown = ", ".join(report.unsettled[:UNSETTLED_SHOWN])
        more = len(report.unsettled) - UNSETTLED_SHOWN
        if more > 0:
            shown += f" and {more} more"
        output.echo(
            f"Warning: the cluster does not report these changes yet: {shown}. They were "
            "acknowledged; a plan right now may still show them.",
            err=True,
        )
    if not report.ok:
        output.echo(
            "Re-run `kafkaplan plan` to see what is left; `apply` again converges.", err=True
        )


@cli.command()
@env_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to show the report: text, markdown or json.",
)
@click.option(
    "--fail-on",
    "fail_on",
    default="changed,missing,unmanaged",
    show_default=True,
    metavar="CLASSES",
    help="Comma-separated drift classes that make the exit code 2; the others are "
    "reported only (e.g. --fail-on changed,missing to report unmanaged resources "
    "without failing).",
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the report to FILE."
)
@pass_options
def drift(options: Options, env: str | None, fmt: str, fail_on: str, out: Path | None) -> int:
    """Report how the live cluster differs from the specs, for nightly jobs. Read-only.

    Classes: changed (a managed resource differs from its spec), missing (declared but
    absent), unmanaged (present in an owned scope or matching the naming taxonomy, but in
    no spec). What the principal may not read is reported as not checked. Exit codes: 0
    no drift and everything checked, 2 drift in a --fail-on class, 4 no such drift but
    something could not be checked (the report is incomplete), 1 error.
    """
    classes = {part.strip() for part in fail_on.split(",") if part.strip()}
    unknown = classes - {kind.value for kind in DriftKind}
    if unknown:
        raise click.BadParameter(
            f"unknown drift class {', '.join(sorted(unknown))}; use changed, missing, unmanaged",
            param_hint="--fail-on",
        )
    output = options.output
    report = commands.report_drift(options.project, env)
    output.echo(render_drift(report, fmt, color=output.color), nl=False)
    if out is not None:
        output.write_file(out, render_drift(report, fmt))
    if report.failing({DriftKind(c) for c in classes}):
        return EXIT_CHANGES
    return EXIT_OK if report.complete else EXIT_INCOMPLETE


@cli.command(name="import")
@env_option
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write the spec files into.",
)
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    metavar="PREFIX",
    help="Only resources whose name starts with PREFIX (topics, subjects; ACL bindings on "
    "such resources or of principals whose name starts with it). Repeatable.",
)
@click.option(
    "--resources",
    default=None,
    metavar="TYPES",
    help=f"Comma-separated resource types to import, of {', '.join(RESOURCE_TYPES)} "
    "[default: all of them, leaving out subjects when the environment has no registry, and "
    "ACLs and quotas when the principal may not read them].",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@pass_options
def import_(
    options: Options,
    env: str | None,
    out: Path,
    prefixes: tuple[str, ...],
    resources: str | None,
    force: bool,
) -> int:
    """Write specs for what is live, so an existing cluster can be adopted.

    Topics and subjects go to one file per entity (the first part of the name), each
    subject's schema to schemas/, ACL bindings to acls/<principal>.yaml as roles where they
    match one exactly (docs/import.md). Sorted, human units, only configs set on the
    resource itself; internal topics are never imported. Right after an import that the
    project's `specs` include, `kafkaplan plan` shows no changes; imported names that break
    the project's policies are listed so you can rename them or add exceptions.
    """
    kinds: list[str] | None = None
    if resources is not None:
        kinds = [part.strip() for part in resources.split(",") if part.strip()]
        unknown = sorted(set(kinds) - set(RESOURCE_TYPES))
        if unknown or not kinds:
            raise click.BadParameter(
                f"unknown resource type {', '.join(unknown) or '(none)'}; use "
                f"{', '.join(RESOURCE_TYPES)}",
                param_hint="--resources",
            )
    output = options.output
    imported = commands.import_live(
        options.project, env, out, prefixes=prefixes, resources=kinds, force=force
    )
    for path in imported.files:
        output.echo(f"wrote {path}")
    for line in imported.result.skipped:
        output.echo(f"skipped {line}", err=True)
    for problem in imported.problems:
        output.echo(f"policy: {problem}", err=True)
    output.echo(f"Imported {imported.result.summary()} into {len(imported.files)} file(s).")
    for note in imported.result.notes:
        output.echo(f"Note: {note}.")
    return EXIT_OK


@cli.command()
@click.option(
    "--project",
    "of_project",
    is_flag=True,
    help="The JSON Schema of the project file (kafkaplan.yaml) instead of a spec file.",
)
@pass_options
def schema(options: Options, of_project: bool) -> int:
    """Print the JSON Schema of the spec file format, or with --project of kafkaplan.yaml
    (for editors and CI)."""
    document = project_json_schema() if of_project else spec_json_schema()
    options.output.echo(json.dumps(document, indent=2))
    return EXIT_OK


def _report_error(output: Output, error: KafkaplanError) -> None:
    if isinstance(error, SpecError):
        for diagnostic in error.diagnostics:
            output.error(f"{diagnostic}")
        output.error(f"Error: {error.message}.")
        return
    output.error(f"Error: {error}")
    if isinstance(error, PlanMismatch):
        for line in error.details:
            output.error(f"  {line}")


def _show_click_error(output: Output, error: click.ClickException) -> None:
    """click's own message (usage, hint, ``Error: ...``), through the one writer."""
    buffer = io.StringIO()
    error.show(file=buffer)
    output.echo(buffer.getvalue(), err=True, nl=False)


# A run builds hundreds of thousands of small objects (YAML nodes, spec values, live
# configs) that live until it ends, and makes little cyclic garbage (about 2,300 objects in
# a no-op plan at 1,000 topics). With the default threshold of 700 allocations the cyclic
# collector rescans them over and over: at 10,000 topics that was half the time of loading
# the specs. At 200,000 a no-op plan at 1,000 topics runs no collection after the CLI has
# loaded (at 50,000: six, 36 ms), and one at 10,000 topics two (41 ms), 4% faster than at
# 50,000, with the same peak RSS.
GC_THRESHOLDS = (200_000, 20, 20)
# The reads run on threads that mostly wait for the broker and the registry, beside a main
# thread that checks the specs. Each read thread needs the interpreter lock again after
# every answer; with the default switch interval (5 ms) it waits up to that long for the
# busy thread to let go, request after request (a 10,000-topic plan's 1,000 registry reads
# finished last, waiting). A shorter interval hands the lock over sooner.
SWITCH_INTERVAL_S = 0.001


_INTERRUPTED = (
    "Interrupted. Changes sent before the interrupt may have been made: "
    "run `kafkaplan plan` to see what is left."
)


def run() -> NoReturn:
    """The ``kafkaplan`` command: ``main``, then the process's exit. Once ``main`` has
    reported and chosen the exit code the run is over: a Ctrl-C or SIGTERM that arrives
    while its output is flushed changes nothing, and must not turn the exit code into a
    signal's (with no word said)."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _leave(code)


def _leave(code: int) -> NoReturn:
    """End the process with ``code`` as soon as what it wrote is flushed, without the
    interpreter's teardown. The command has closed its clients and the files it wrote, and
    its result is out: all the teardown would add is freeing, one by one, the objects the
    run built, and collecting them (about 0.05 s of a no-op plan at 1,000 topics, 0.23 s at
    10,000). A reader that closed the pipe early (``| head``) does not change the exit code."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: the one handler at the boundary. An expected error (a
    ``KafkaplanError``) becomes its ``Error: ...`` line and exit 1; an unexpected one is a
    bug: ``Internal error: ...``, how to report it, and exit 3."""
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    output = Output()
    try:
        code = cli.main(args=argv, prog_name="kafkaplan", standalone_mode=False)
    except KafkaplanError as error:
        _report_error(output, error)
        return error.exit_code
    except click.exceptions.Abort as error:
        if isinstance(error.__cause__, KeyboardInterrupt):
            # click turns a Ctrl-C that reaches it into Abort, wherever it came: in the
            # middle of an apply too, after changes were sent. Only an answer at the
            # confirmation prompt (whose Abort has no cause) comes before any change.
            output.error(_INTERRUPTED)
            return EXIT_INTERRUPTED
        output.error("Aborted; nothing was changed.")
        return EXIT_ERROR
    except click.ClickException as error:
        _show_click_error(output, error)
        return error.exit_code
    except KeyboardInterrupt:
        output.error(_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: say so, and how to report it
        if is_interrupt(error):  # a Ctrl-C, as confluent-kafka passes one on
            output.error(_INTERRUPTED)
            return EXIT_INTERRUPTED
        output.error(f"Internal error: {type(error).__name__}: {error}")
        if debug:
            output.echo(traceback.format_exc(), err=True, nl=False)
        else:
            output.error("This is a bug in kafkaplan. Re-run with --debug and report the output.")
        return EXIT_BUG
    return code if isinstance(code, int) else EXIT_OK
