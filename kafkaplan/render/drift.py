"""Renderings of a drift report: text for terminals and logs, Markdown for issues, JSON."""

from __future__ import annotations

import click

from kafkaplan.plan.drift import DriftItem, DriftKind, DriftReport
from kafkaplan.render.markdown import escape
from kafkaplan.render.values import show

_MARKS = {
    DriftKind.CHANGED: ("~", "yellow"),
    DriftKind.MISSING: ("+", "green"),
    DriftKind.UNMANAGED: ("?", "red"),
}
_TITLES = {
    DriftKind.CHANGED: "Changed outside git",
    DriftKind.MISSING: "Declared but missing",
    DriftKind.UNMANAGED: "Unmanaged (in no spec)",
}


def _field_lines(item: DriftItem) -> list[str]:
    return [
        f"{f.path}: live {show(f.path, f.before)}, spec {show(f.path, f.after)}"
        for f in item.fields
    ]


def render_drift(report: DriftReport, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(report)
    return _text(report, color)


def _summary(report: DriftReport) -> str:
    counts = report.counts()
    if not report.items:
        return "No drift. The live state matches the specs."
    return (
        f"Drift: {counts['changed']} changed, {counts['missing']} missing, "
        f"{counts['unmanaged']} unmanaged."
    )


def _text(report: DriftReport, color: bool) -> str:
    def style(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    where = f' for environment "{report.environment}"' if report.environment else ""
    lines = [style(f"kafkaplan drift{where} (cluster {report.cluster_id})", bold=True), ""]
    for kind in DriftKind:
        items = [item for item in report.items if item.kind is kind]
        if not items:
            continue
        mark, fg = _MARKS[kind]
        lines.append(style(f"{_TITLES[kind]} ({len(items)}):", fg, True))
        for item in items:
            source = f"   ({item.source})" if item.source else ""
            lines.append(style(f"  {mark} {item.address}", fg) + f": {item.message}{source}")
            lines.extend(f"      {line}" for line in _field_lines(item))
        lines.append("")
    if report.not_checked:
        lines.append(style(f"Not checked ({len(report.not_checked)}):", "magenta", True))
        lines.extend(f"  ! {message}" for message in report.not_checked)
        lines.append("")
    lines.append(style(_summary(report), bold=True))
    return "\n".join(lines) + "\n"


def _markdown(report: DriftReport) -> str:
    env = f" `{report.environment}`" if report.environment else ""
    lines = [f"### kafkaplan drift{env}", "", f"**{_summary(report)}**", ""]
    if report.created_at:
        lines += [f"Checked at {report.created_at} against cluster `{report.cluster_id}`.", ""]
    for kind in DriftKind:
        items = [item for item in report.items if item.kind is kind]
        if not items:
            continue
        lines += [f"#### {_TITLES[kind]} ({len(items)})", ""]
        for item in items:
            source = f" (declared at `{item.source}`)" if item.source else ""
            lines.append(f"- `{item.address}`: {escape(item.message)}{source}")
            lines.extend(f"  - {escape(line)}" for line in _field_lines(item))
        lines.append("")
    if report.not_checked:
        lines += [f"#### Not checked ({len(report.not_checked)})", ""]
        lines.extend(f"- {escape(str(message))}" for message in report.not_checked)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
