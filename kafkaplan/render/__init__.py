"""Renderers: each reads a ``Plan`` (the same value ``--format json`` prints) and returns text."""

from __future__ import annotations

from kafkaplan.plan.model import Plan
from kafkaplan.render.markdown import render_markdown
from kafkaplan.render.text import render_text

FORMATS = ("text", "json", "markdown")


def render(plan: Plan, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return plan.model_dump_json(indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color)


__all__ = ["FORMATS", "render", "render_markdown", "render_text"]
