"""The ``kafkaplan`` command line: parse options, call the pipeline, render, return an exit code.

Exit codes: 0 success; 1 an error the user can fix (bad spec, unreachable broker, refused
plan, failed apply); 2 with ``--detailed-exitcode``/``drift``: changes present; 3 an
unexpected internal error (a bug: please report it with the output of ``--debug``).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from kafkaplan import __version__
from kafkaplan.apply.runner import DEFAULT_BATCH_SIZE, ApplyReport, Outcome, Status
from kafkaplan.commands import (
    Context,
    check_plan_target,
    check_saved_plan,
    connect,
    connect_registry,
    load_context,
    make_drift,
    make_plan,
    open_lease,
    read_plan_file,
    run_apply,
    run_import,
)
from kafkaplan.errors import KafkaplanError, PlanRefused, ProjectError, SpecError
from kafkaplan.importer.build import RESOURCE_TYPES
from kafkaplan.live.cluster import Cluster
from kafkaplan.live.lease import Lease
from kafkaplan.output import ProgressReporter
from kafkaplan.plan.drift import DriftKind
from kafkaplan.plan.model import Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.render import FORMATS, render
from kafkaplan.render.drift import render_drift
from kafkaplan.secrets import Redactor
from kafkaplan.spec.models import spec_json_schema

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3


def use_color(stream: IO[str], flag: bool | None) -> bool:
    """Colour only for a terminal, unless NO_COLOR is set or --color/--no-color says so."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


class Options:
    def __init__(self, project: Path | None, color: bool | None, debug: bool):
        self.project = project
        self.color = color
        self.debug = debug


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


def _plan_options(
    context: Context, targets: tuple[str, ...], allow_deletes: bool, max_destroy: int | None
) -> PlanOptions:
    return PlanOptions(
        allow_deletes=allow_deletes,
        max_destroy=context.project.model.max_destroy if max_destroy is None else max_destroy,
        targets=targets,
    )


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
    from kafkaplan.spec.load import load_desired
    from kafkaplan.spec.project import load_project

    project = load_project(options.project)
    if paths:
        cwd = Path.cwd()
        model = project.model.model_copy(
            update={"specs": [str((cwd / p).resolve()) for p in paths]}
        )
        project = type(project)(root=project.root, file=project.file, model=model)
    _, _, desired = load_desired(project, env)
    acls = f", {len(desired.acls.bindings)} ACL binding(s)" if desired.acls.bindings else ""
    subjects = f", {len(desired.subjects)} subject(s)" if desired.subjects else ""
    click.echo(f"Valid: {len(desired.topics)} topic(s){acls}{subjects}.")
    return EXIT_OK


@cli.command()
@env_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan to FILE (JSON) for `apply FILE`.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are changes, 1 on error.",
)
@plan_options
@pass_options
def plan(
    options: Options,
    env: str | None,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    allow_deletes: bool,
    max_destroy: int | None,
) -> int:
    """Read the live cluster, compare it with the specs and show what apply would change.

    Exit codes: 0 success (with --detailed-exitcode: no changes), 2 changes present
    (--detailed-exitcode only), 1 error — including policy violations and changes the
    cluster would refuse.
    """
    context = load_context(options.project, env)
    cluster = connect(context, read_only=True)
    _close_at_exit(cluster)
    registry = connect_registry(context, read_only=True)
    result = make_plan(
        context, cluster, registry, _plan_options(context, targets, allow_deletes, max_destroy)
    )
    click.echo(render(result, fmt, color=use_color(sys.stdout, options.color)), nl=False)
    if result.errors:
        return EXIT_ERROR
    if out is not None:
        write_atomically(out, result.model_dump_json(indent=2) + "\n")
        click.echo(f"Saved the plan to {out}. Apply it with: kafkaplan apply {out}", err=True)
    if detailed_exitcode and result.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def write_atomically(path: Path, text: str) -> None:
    """Write a file so that a crash leaves the old file or the new one, never a torn one."""
    folder = path.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _duration_seconds(value: str | None, default: float) -> float:
    from kafkaplan.spec.units import UnitError, parse_duration_ms

    if value is None:
        return default
    try:
        return parse_duration_ms(value) / 1000
    except UnitError as exc:
        raise click.BadParameter(str(exc), param_hint="--lease-wait") from exc


@cli.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False))
@env_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI).")
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
    lease_wait: str | None,
    batch_size: int,
    targets: tuple[str, ...],
    allow_deletes: bool,
    max_destroy: int | None,
) -> int:
    """Apply a saved plan, or plan and apply the specs.

    A saved PLANFILE is refused when the live state changed since it was planned, when it
    was made for another cluster or environment, or by another kafkaplan version. Without
    PLANFILE, the plan is computed now and shown; on a terminal you are asked to confirm
    unless --auto-approve is given.

    One apply at a time changes a cluster: apply takes the cluster's lease before reading
    it and gives it back at the end (see `kafkaplan unlock`).
    """
    color = use_color(sys.stdout, options.color)
    saved: Plan | None = None
    if planfile is not None:
        if targets or allow_deletes or max_destroy is not None:
            raise click.UsageError(
                "--target, --allow-deletes and --max-destroy shape a new plan; a saved plan "
                "is applied exactly as it was planned"
            )
        saved = read_plan_file(planfile)
        context = load_context(options.project, env or saved.environment, specs=False)
    else:
        context = load_context(options.project, env)
    wait = _duration_seconds(lease_wait, context.project.model.lease.wait_seconds())
    cluster = connect(context, read_only=False)
    _close_at_exit(cluster)
    registry = connect_registry(context, read_only=False)
    if saved is not None:
        check_plan_target(saved, context, cluster)  # before the lease: nothing written
    lease = open_lease(context, cluster)
    with _terminate_as_interrupt():
        lease.acquire(wait)
        if lease.taken_over is not None:
            click.echo(
                f"Note: took over an expired apply lease ({lease.taken_over.describe()}); "
                "that run ended without giving it back. The plan below shows what it left.",
                err=True,
            )
        try:
            if saved is not None:
                check_saved_plan(saved, context, cluster, registry)
                result = saved
            else:
                result = make_plan(
                    context,
                    cluster,
                    registry,
                    _plan_options(context, targets, allow_deletes, max_destroy),
                )
            click.echo(render(result, "text", color=color), nl=False)
            if result.errors:
                click.echo("Nothing was applied.", err=True)
                return EXIT_ERROR
            if not result.has_changes:
                return EXIT_OK
            if planfile is None and not auto_approve:
                _confirm(context)
            click.echo("")
            with ProgressReporter(sys.stderr) as progress:
                report = run_apply(
                    result,
                    cluster,
                    registry=registry,
                    progress=progress,
                    on_outcome=_outcome_printer(color),
                    lease=lease,
                    batch_size=batch_size,
                    reassignment=context.project.reassignment(context.environment),
                    settle_timeout=context.environment.kafka.timeout_seconds(),
                )
            _print_report(report)
        finally:
            _release(lease)
    if report.interrupted == "interrupted":
        return 130
    return EXIT_OK if report.ok else EXIT_ERROR


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


def _close_at_exit(cluster: Cluster) -> None:
    """Close the cluster's clients when the command ends (they hold network threads)."""
    click.get_current_context().call_on_close(cluster.close)


def _release(lease: Lease) -> None:
    held = lease.state
    try:
        lease.release()
    except KafkaplanError as exc:
        expiry = held.describe().split("; ")[-1] if held is not None else ""
        click.echo(
            f"Warning: could not give back the apply lease ({exc}); {expiry}. Another apply "
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
    context = load_context(options.project, env, specs=False)
    cluster = connect(context, read_only=False)
    _close_at_exit(cluster)
    lease = open_lease(context, cluster)
    state = lease.read()
    if not state.held:
        click.echo("The apply lease is not held; nothing to do.")
        return EXIT_OK
    click.echo(f"{state.describe().capitalize()}.")
    if not force:
        if not sys.stdin.isatty():
            raise PlanRefused(
                "refusing to release the lease without confirmation: input is not a terminal",
                hint="pass --force if that run is gone",
            )
        answer = click.prompt(
            "Release it? A run that still applies stops before its next batch. "
            "Only 'yes' will be accepted",
            default="",
            show_default=False,
        )
        if answer.strip() != "yes":
            raise PlanRefused("unlock cancelled; the lease is still held")
    after = lease.break_(state)
    if after.head == state.head or after.held:
        raise ProjectError(
            f"the lease changed while unlocking ({after.describe()}); nothing was released",
            hint="run `kafkaplan unlock` again to see the current holder",
        )
    click.echo("Released the apply lease.")
    return EXIT_OK


def _confirm(context: Context) -> None:
    if not sys.stdin.isatty():
        raise PlanRefused(
            "refusing to apply without confirmation: input is not a terminal",
            hint="review the plan and pass --auto-approve, or apply a saved plan file",
        )
    answer = click.prompt(
        f"\nApply these changes to environment {context.env_name!r}? Only 'yes' will be accepted",
        default="",
        show_default=False,
    )
    if answer.strip() != "yes":
        raise PlanRefused("apply cancelled; nothing was changed")


_MARKS = {
    Status.DONE: ("✓", "green"),
    Status.FAILED: ("✗", "red"),
    Status.UNKNOWN: ("?", "magenta"),
    Status.SKIPPED: ("-", "yellow"),
}


def _outcome_printer(color: bool) -> Any:
    """Print each change's outcome as soon as it is known (flushed: a killed run still
    leaves a true record of what it did)."""

    def show(outcome: Outcome) -> None:
        mark, fg = _MARKS[outcome.status]
        actions = "+".join(a.value for a in outcome.actions)
        detail = f": {outcome.detail}" if outcome.detail else ""
        line = f"  {mark} {outcome.address} ({actions}) {outcome.status.value}{detail}"
        click.echo(click.style(line, fg=fg) if color else line)

    return show


UNSETTLED_SHOWN = 10


def _print_report(report: ApplyReport) -> None:
    click.echo("")
    if report.interrupted:
        verdict = f"Apply interrupted ({report.interrupted})"
    elif report.ok:
        verdict = "Apply complete"
    else:
        verdict = "Apply finished with failures"
    click.echo(f"{verdict}: {report.summary()}.")
    unknown = [o.address for o in report.outcomes if o.status is Status.UNKNOWN]
    if unknown:
        click.echo(
            f"Outcome unknown (sent, but not confirmed): {', '.join(unknown)}. "
            "The next `kafkaplan plan` shows whether they were made.",
            err=True,
        )
    if report.unsettled:
        shown = ", ".join(report.unsettled[:UNSETTLED_SHOWN])
        more = len(report.unsettled) - UNSETTLED_SHOWN
        if more > 0:
            shown += f" and {more} more"
        click.echo(
            f"Warning: the cluster does not report these changes yet: {shown}. They were "
            "acknowledged; a plan right now may still show them.",
            err=True,
        )
    if not report.ok:
        click.echo(
            "Re-run `kafkaplan plan` to see what is left; `apply` again converges.", err=True
        )


@cli.command()
@env_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
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
    no drift, 2 drift in a --fail-on class, 1 error.
    """
    classes = {part.strip() for part in fail_on.split(",") if part.strip()}
    unknown = classes - {kind.value for kind in DriftKind}
    if unknown:
        raise click.BadParameter(
            f"unknown drift class {', '.join(sorted(unknown))}; use changed, missing, unmanaged",
            param_hint="--fail-on",
        )
    context = load_context(options.project, env)
    report = make_drift(
        context, connect(context, read_only=True), connect_registry(context, read_only=True)
    )
    text = render_drift(report, fmt, color=use_color(sys.stdout, options.color))
    click.echo(text, nl=False)
    if out is not None:
        out.write_text(render_drift(report, fmt), encoding="utf-8")
    return EXIT_CHANGES if report.failing({DriftKind(c) for c in classes}) else EXIT_OK


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
    "[default: all three, leaving out subjects when the environment has no registry and "
    "ACLs when the cluster has none to read].",
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
    kinds = list(RESOURCE_TYPES)
    if resources is not None:
        kinds = [part.strip() for part in resources.split(",") if part.strip()]
        unknown = sorted(set(kinds) - set(RESOURCE_TYPES))
        if unknown or not kinds:
            raise click.BadParameter(
                f"unknown resource type {', '.join(unknown) or '(none)'}; use "
                f"{', '.join(RESOURCE_TYPES)}",
                param_hint="--resources",
            )
    context = load_context(options.project, env, specs=False)
    result, files, problems = run_import(
        context,
        connect(context, read_only=True),
        out,
        prefixes,
        [kind for kind in RESOURCE_TYPES if kind in kinds],
        force=force,
        registry=connect_registry(context, read_only=True) if "subjects" in kinds else None,
        explicit=resources is not None,
    )
    for path in files:
        click.echo(f"wrote {path}")
    for line in result.skipped:
        click.echo(f"skipped {line}", err=True)
    for problem in problems:
        click.echo(f"policy: {problem}", err=True)
    click.echo(f"Imported {result.summary()} into {len(files)} file(s).")
    for note in result.notes:
        click.echo(f"Note: {note}.")
    return EXIT_OK


@cli.command()
def schema() -> int:
    """Print the JSON Schema of the spec file format (for editors and CI)."""
    click.echo(json.dumps(spec_json_schema(), indent=2))
    return EXIT_OK


def _report_error(error: KafkaplanError) -> None:
    if isinstance(error, SpecError):
        for diagnostic in error.diagnostics:
            click.echo(f"{diagnostic}", err=True)
        click.echo(f"Error: {error.message}.", err=True)
        return
    click.echo(f"Error: {error}", err=True)


# A run builds hundreds of thousands of small objects (YAML nodes, spec values, live
# configs) that live until it ends. With the default threshold of 700 allocations the
# cyclic collector rescans them over and over: at 10,000 topics that was half the time of
# loading the specs. Collecting less often costs a few MB.
GC_THRESHOLDS = (50_000, 20, 20)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one handler turns every expected error into a line and a code."""
    gc.set_threshold(*GC_THRESHOLDS)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="kafkaplan", standalone_mode=False)
    except KafkaplanError as error:
        _report_error(error)
        return error.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted; nothing was changed.", err=True)
        return EXIT_ERROR
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as error:  # a bug: say so, and how to report it
        click.echo(f"Internal error: {type(error).__name__}: {error}", err=True)
        if debug:
            traceback.print_exc()
        else:
            click.echo(
                "This is a bug in kafkaplan. Re-run with --debug and report the output.", err=True
            )
        return EXIT_BUG
    return code if isinstance(code, int) else EXIT_OK
