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


# Beyond this many items of one class, the text lists the first ones and a count of the
# rest (the JSON report lists every item).
TEXT_LIMIT = 25


def _summary(report: DriftReport) -> str:
    counts = report.counts()
    unchecked = len(report.not_checked)
    if not report.items and not unchecked:
        return "No drift. The live state matches the specs."
    if not report.items:
        return (
            f"No drift in what could be checked, but {unchecked} not checked: "
            "the report is incomplete."
        )
    text = (
        f"Drift: {counts['changed']} changed, {counts['missing']} missing, "
        f"{counts['unmanaged']} unmanaged"
    )
    if unchecked:
        return f"{text}; {unchecked} not checked: the report is incomplete."
    return text + "."


def _more(count: int) -> str:
    return f"... and {count} more (the JSON report, --format json, lists every one)"


def _text(report: DriftReport, color: bool) -> str:
    def style(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    where = f' for environment "{report.environment}"' if report.environment else ""
    lines = [
        style(f"kafkaplan drift{where} (cluster {report.cluster_id})", bold=True),
        style(_summary(report), bold=True),
        "",
    ]
    for kind in DriftKind:
        items = [item for item in report.items if item.kind is kind]
        if not items:
            continue
        mark, fg = _MARKS[kind]
        lines.append(style(f"{_TITLES[kind]} ({len(items)}):", fg, True))
        for item in items[:TEXT_LIMIT]:
            source = f"   ({item.source})" if item.source else ""
            lines.append(style(f"  {mark} {item.address}", fg) + f": {item.message}{source}")
            lines.extend(f"      {line}" for line in _field_lines(item))
        if len(items) > TEXT_LIMIT:
            lines.append(f"  {_more(len(items) - TEXT_LIMIT)}")
        lines.append("")
    if report.not_checked:
        lines.append(style(f"Not checked ({len(report.not_checked)}):", "magenta", True))
        lines.extend(f"  ! {message}" for message in report.not_checked[:TEXT_LIMIT])
        if len(report.not_checked) > TEXT_LIMIT:
            lines.append(f"  {_more(len(report.not_checked) - TEXT_LIMIT)}")
        lines.append("")
    if report.items or report.not_checked:
        lines.append(style(_summary(report), bold=True))  # again, for a log's last line
    else:
        lines.pop()
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
