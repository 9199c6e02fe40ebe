"""The ``kafkaplan`` command line: parse options, call the pipeline, render, return an exit code.

Exit codes: 0 success; 1 an error the user can fix (bad spec, unreachable broker, refused
plan, failed apply); 2 with ``--detailed-exitcode``/``drift``: changes present; 3 an
unexpected internal error (a bug: please report it with the output of ``--debug``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from kafkaplan import __version__
from kafkaplan.apply import ApplyReport, Status
from kafkaplan.cluster import Cluster
from kafkaplan.errors import KafkaplanError, PlanRefused, SpecError
from kafkaplan.pipeline import (
    Context,
    check_saved_plan,
    connect,
    load_context,
    make_plan,
    read_plan_file,
    run_apply,
)
from kafkaplan.plan import Plan
from kafkaplan.progress import ProgressReporter
from kafkaplan.render import FORMATS, render
from kafkaplan.spec import spec_json_schema
from kafkaplan.state import PlanOptions

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
                help="Plan deletions of owned resources that no spec declares. Without it "
                "they are kept and listed as warnings.",
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


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@env_option
@pass_options
def validate(options: Options, paths: tuple[Path, ...], env: str | None) -> int:
    """Check specs offline: shape, config names and values, names, policies.

    PATHS (files or folders) replace the project's `specs` setting. Prints one
    `file:line: message` per problem and exits 1 if there is any.
    """
    from kafkaplan.load import load_desired
    from kafkaplan.project import load_project

    project = load_project(options.project)
    if paths:
        cwd = Path.cwd()
        model = project.model.model_copy(
            update={"specs": [str((cwd / p).resolve()) for p in paths]}
        )
        project = type(project)(root=project.root, file=project.file, model=model)
    _, _, desired = load_desired(project, env)
    click.echo(f"Valid: {len(desired.topics)} topic(s).")
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
    result = make_plan(
        context, cluster, _plan_options(context, targets, allow_deletes, max_destroy)
    )
    click.echo(render(result, fmt, color=use_color(sys.stdout, options.color)), nl=False)
    if result.errors:
        return EXIT_ERROR
    if out is not None:
        out.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
        click.echo(f"Saved the plan to {out}. Apply it with: kafkaplan apply {out}", err=True)
    if detailed_exitcode and result.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@cli.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False))
@env_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI).")
@plan_options
@pass_options
def apply(
    options: Options,
    planfile: Path | None,
    env: str | None,
    auto_approve: bool,
    targets: tuple[str, ...],
    allow_deletes: bool,
    max_destroy: int | None,
) -> int:
    """Apply a saved plan, or plan and apply the specs.

    A saved PLANFILE is refused when the live state changed since it was planned, when it
    was made for another cluster or environment, or by another kafkaplan version. Without
    PLANFILE, the plan is computed now and shown; on a terminal you are asked to confirm
    unless --auto-approve is given.
    """
    color = use_color(sys.stdout, options.color)
    if planfile is not None:
        if targets or allow_deletes or max_destroy is not None:
            raise click.UsageError(
                "--target, --allow-deletes and --max-destroy shape a new plan; a saved plan "
                "is applied exactly as it was planned"
            )
        saved = read_plan_file(planfile)
        context = load_context(options.project, env or saved.environment, specs=False)
        cluster = connect(context, read_only=False)
        _close_at_exit(cluster)
        check_saved_plan(saved, context, cluster)
        result: Plan = saved
    else:
        context = load_context(options.project, env)
        cluster = connect(context, read_only=False)
        _close_at_exit(cluster)
        result = make_plan(
            context, cluster, _plan_options(context, targets, allow_deletes, max_destroy)
        )
    click.echo(render(result, "text", color=color), nl=False)
    if result.errors:
        click.echo("Nothing was applied.", err=True)
        return EXIT_ERROR
    if not result.has_changes:
        return EXIT_OK
    if planfile is None and not auto_approve:
        _confirm(context)
    with ProgressReporter(sys.stderr) as progress:
        report = run_apply(
            result,
            cluster,
            progress=progress,
            reassignment=context.project.reassignment(context.environment),
        )
    _print_report(report, color)
    return EXIT_OK if report.ok else EXIT_ERROR


def _close_at_exit(cluster: Cluster) -> None:
    """Close the cluster's clients when the command ends (they hold network threads)."""
    click.get_current_context().call_on_close(cluster.close)


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


def _print_report(report: ApplyReport, color: bool) -> None:
    marks = {
        Status.DONE: ("✓", "green"),
        Status.FAILED: ("✗", "red"),
        Status.SKIPPED: ("-", "yellow"),
    }
    click.echo("")
    for outcome in report.outcomes:
        mark, fg = marks[outcome.status]
        actions = "+".join(a.value for a in outcome.actions)
        detail = f": {outcome.detail}" if outcome.detail else ""
        line = f"  {mark} {outcome.address} ({actions}) {outcome.status.value}{detail}"
        click.echo(click.style(line, fg=fg) if color else line)
    click.echo("")
    verdict = "Apply complete" if report.ok else "Apply finished with failures"
    click.echo(f"{verdict}: {report.summary()}.")
    if not report.ok:
        click.echo(
            "Re-run `kafkaplan plan` to see what is left; `apply` again converges.", err=True
        )


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


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one handler turns every expected error into a line and a code."""
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
