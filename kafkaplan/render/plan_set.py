"""The plans of several environments as one report: a summary, then one section per
environment (each the environment's own plan, rendered as for a single environment)."""

from __future__ import annotations

import click

from kafkaplan.plan.model import Plan, PlanSet
from kafkaplan.render.markdown import MAX_CHARS, escape, render_markdown
from kafkaplan.render.text import render_text


def _status(plan: Plan) -> str:
    if plan.errors:
        return f"{len(plan.errors)} error(s)"
    return plan.summary() if plan.has_changes else "no changes"


def render_plan_set(plans: PlanSet, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return plans.model_dump_json(indent=2) + "\n"
    if fmt == "markdown":
        return render_plan_set_markdown(plans)
    return render_plan_set_text(plans, color=color)


def render_plan_set_text(plans: PlanSet, *, color: bool = False) -> str:
    def bold(text: str) -> str:
        return click.style(text, bold=True) if color else text

    lines = [bold(f"kafkaplan plan for {len(plans.plans)} environments"), ""]
    width = max((len(plan.environment or "") for plan in plans.plans), default=0)
    lines.extend(f"  {plan.environment or '':<{width}}  {_status(plan)}" for plan in plans.plans)
    lines.append("")
    sections = [render_text(plan, color=color) for plan in plans.plans]
    rule = "─" * 72
    return "\n".join(lines) + "".join(f"{rule}\n{section}" for section in sections)


def render_plan_set_markdown(plans: PlanSet, *, max_chars: int = MAX_CHARS) -> str:
    """One pull-request comment: the summary table, then each environment's plan, each
    within its share of the comment's size limit."""
    head = [
        f"## kafkaplan plan: {len(plans.plans)} environments",
        "",
        "| environment | plan |",
        "|---|---|",
    ]
    for plan in plans.plans:
        mark = "❌ " if plan.errors else ""
        head.append(f"| `{escape(plan.environment or '')}` | {mark}{escape(_status(plan))} |")
    head.append("")
    share = max(2_000, (max_chars - 1_000) // max(1, len(plans.plans)))
    sections = [render_markdown(plan, max_chars=share) for plan in plans.plans]
    return "\n".join(head) + "\n" + "\n".join(sections)
