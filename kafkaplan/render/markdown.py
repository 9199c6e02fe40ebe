"""The pull-request rendering of a plan: GitHub-flavoured Markdown."""

from __future__ import annotations

from collections.abc import Sequence

from kafkaplan.errors import Diagnostic
from kafkaplan.kinds import ResourceKind
from kafkaplan.plan.model import Action, Change, Plan, Principal
from kafkaplan.render.graph import Graph, plan_graph, to_mermaid
from kafkaplan.render.values import (
    acl_binding,
    acl_groups,
    acl_tally,
    bytes_lost_label,
    flatten,
    group_label,
    kind_counts,
    show,
    symbol,
    unique_principals,
)

# GitHub rejects comments over 65,536 characters; keep a margin for the workflow's header.
MAX_CHARS = 60_000
# ACL bindings per table: a principal with many changes gets several blocks, so a comment
# near the size limit still shows as many as fit.
ACL_ROWS_PER_BLOCK = 100


def escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(plan: Plan, *, max_chars: int = MAX_CHARS) -> str:
    head: list[str] = []
    env = f" `{plan.environment}`" if plan.environment else ""
    head.append(f"### kafkaplan plan{env}")
    head.append("")
    head.extend(_header(plan))
    head.append("")
    if plan.errors:
        head.append(f"**❌ {len(plan.errors)} error(s): this plan cannot be applied.**")
        head.append("")
        head.extend(_capped([f"- ❌ {escape(str(error))}" for error in plan.errors]))
        head.append("")
    if not plan.changes:
        head.append("**No changes.** The live state matches the specs.")
    else:
        head.append(f"**Plan: {plan.summary()}.**")
        head.append("")
        head.extend(_counts_table(plan))
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    if deletes:
        head.append("")
        head.append(f"**💥 {len(deletes)} deletion(s):**")
        head.extend(_capped([f"- `{c.address}`" for c in deletes]))
    risks = [(c, r) for c in plan.changes for r in c.risks]
    if risks:
        head.append("")
        head.append(f"**⚠️ {len(risks)} risk(s):**")
        head.extend(
            _capped([f"- `{c.address}` **{r.label.value}**: {escape(r.message)}" for c, r in risks])
        )
    affected = [c for c in plan.changes if c.affected is not None]
    if affected:
        head.append("")
        head.extend(_blast_table(affected))
    picture = plan_graph(plan)
    if picture is not None:
        head.append("")
        head.extend(_picture(picture))
    if plan.warnings:
        head.append("")
        head.append(f"**{len(plan.warnings)} warning(s):**")
        head.extend(_capped([f"- {escape(str(w))}" for w in plan.warnings]))
    # Destructive first, then risky, then the rest, each in plan order.
    ordered = sorted(plan.changes, key=lambda c: (c.action is not Action.DELETE, not c.risks))
    details = [(_details(change), 1) for change in ordered if change.kind is not ResourceKind.ACL]
    for principal, changes in acl_groups(plan.changes):
        for start in range(0, len(changes), ACL_ROWS_PER_BLOCK):
            chunk = changes[start : start + ACL_ROWS_PER_BLOCK]
            details.append((_acl_details(principal, changes, chunk, start), len(chunk)))
    footer: list[str] = []
    if plan.unmanaged:
        footer.append("")
        footer.append(
            f"<details><summary>{len(plan.unmanaged)} unmanaged resource(s), left alone</summary>"
        )
        footer.append("")
        footer.extend(_capped([f"- `{address}`" for address in plan.unmanaged], 200))
        footer.append("</details>")
    footer.extend(_footer(plan))
    text = "\n".join(head)
    budget = max_chars - len(text) - len("\n".join(footer)) - 200
    shown = 0
    body: list[str] = []
    for block, count in details:
        if len(block) + 2 > budget:
            break
        body.append(block)
        budget -= len(block) + 2
        shown += count
    total = sum(count for _, count in details)
    if shown < total:
        body.append(
            f"\n_{total - shown} more change(s) not shown: the comment would exceed "
            "GitHub's size limit. Run `kafkaplan plan` for the full plan._"
        )
    parts = [text, "", "\n\n".join(body), *footer]
    return "\n".join(parts).rstrip() + "\n"


def _header(plan: Plan) -> list[str]:
    """Where and when it was planned, and the flags that change what the plan means."""
    facts = []
    if plan.environment:
        facts.append(f"environment `{escape(plan.environment)}`")
    facts.append(f"cluster `{escape(plan.cluster_id)}`" if plan.cluster_id else "cluster unknown")
    facts.append(f"commit `{plan.commit[:12]}`" if plan.commit else "commit unknown")
    if plan.created_at:
        facts.append(f"planned {escape(plan.created_at)}")
    flags = []
    if plan.allow_deletes:
        flags.append("`--allow-deletes` (owned resources in no spec are deleted)")
    if plan.in_use_override:
        flags.append("`--allow-in-use-deletes` (topics consumer groups still read may be deleted)")
    if plan.targets:
        patterns = " ".join(f"--target {t}" for t in plan.targets)
        flags.append(f"`{escape(patterns)}` (only the matching resources: the plan may be partial)")
    flag_text = "; ".join(flags) if flags else "none (deletions are kept and only warned about)"
    return [" · ".join(facts) + "  ", f"Flags: {flag_text}"]


def _footer(plan: Plan) -> list[str]:
    """How the plan will be applied."""
    if plan.errors:
        how = "Nothing can be applied until the errors above are fixed."
    elif not plan.changes:
        how = "Nothing to apply."
    else:
        how = (
            "`kafkaplan apply` carries out these changes in phases (create topics, update "
            "topics, create ACLs, schemas, delete ACLs and subjects, delete topics last), "
            "under the cluster's apply lease, reporting each change as done, failed or "
            "unknown. A plan saved with `kafkaplan plan --out` is applied exactly as shown, "
            "and refused if the cluster changed since it was planned."
        )
    version = f" · kafkaplan {plan.kafkaplan_version}" if plan.kafkaplan_version else ""
    return ["", "---", f"<sub>{how}{version}</sub>"]


def render_spec_errors(
    diagnostics: Sequence[Diagnostic],
    *,
    environment: str | None = None,
    commit: str | None = None,
    max_chars: int = MAX_CHARS,
) -> str:
    """A pull-request comment for specs that do not load: every problem with its file:line,
    so the comment says why there is no plan."""
    env = f" `{escape(environment)}`" if environment else ""
    lines = [f"### kafkaplan plan{env}", ""]
    if commit:
        lines.extend([f"commit `{commit[:12]}`", ""])
    count = len(diagnostics)
    lines.append(
        f"**❌ the specs do not load: {count} error(s). No plan was made, and nothing can "
        "be applied.**"
    )
    lines.append("")
    lines.append("| where | problem | hint |")
    lines.append("|---|---|---|")
    budget = max_chars - 400
    used = sum(len(line) + 1 for line in lines)
    shown = 0
    for diagnostic in diagnostics:
        where = f"`{escape(diagnostic.location())}`" if diagnostic.file else ""
        row = f"| {where} | {escape(diagnostic.message)} | {escape(diagnostic.hint or '')} |"
        if used + len(row) + 1 > budget:
            break
        lines.append(row)
        used += len(row) + 1
        shown += 1
    if shown < count:
        lines.append("")
        lines.append(f"_{count - shown} more error(s) not shown; run `kafkaplan validate`._")
    lines.extend(
        [
            "",
            "---",
            "<sub>Fix the specs and push again; `kafkaplan validate` checks them offline.</sub>",
        ]
    )
    return "\n".join(lines) + "\n"


def _capped(lines: list[str], limit: int = 25) -> list[str]:
    """At most ``limit`` list items, then a line saying how many more there are."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"- _... and {len(lines) - limit} more (run `kafkaplan plan`)_"]


def _counts_table(plan: Plan) -> list[str]:
    rows = ["| resource | create | update | delete |", "|---|---:|---:|---:|"]
    for kind, counts in kind_counts(plan).items():
        rows.append(
            f"| {kind} | {counts[Action.CREATE]} | {counts[Action.UPDATE]} | {counts[Action.DELETE]} |"
        )
    return rows


def _acl_details(principal: str, changes: list[Change], chunk: list[Change], start: int) -> str:
    """One principal's ACL changes (or a part of them) as a table of bindings."""
    labels = sorted({r.label.value for c in chunk for r in c.risks})
    flags = "".join(f" ⚠️ {label}" for label in labels)
    part = ""
    if len(chunk) < len(changes):
        part = f" (bindings {start + 1}-{start + len(chunk)} of {len(changes)})"
    lines = [
        f"<details><summary>ACLs of <code>{escape(principal)}</code>: "
        f"{acl_tally(changes)}{part}{flags}</summary>",
        "",
        "| | permission | operation | resource | declared at / owner |",
        "|---|---|---|---|---|",
    ]
    for change in chunk:
        row = acl_binding(change).as_dict()
        owner = (change.before or {}).get("owner")
        source = f"`{change.source}`" if change.source else f"team {owner}" if owner else ""
        if change.protected is not None:
            source += " 🔒 protected"
        # One column for what the binding is on, so the table fits a comment's width.
        resource = f"{row.get('resource_type')} `{escape(str(row.get('resource_name')))}`"
        if row.get("pattern_type") != "literal":
            resource += f" ({row.get('pattern_type')})"
        if row.get("host") not in (None, "*"):
            resource += f" from host `{escape(str(row.get('host')))}`"
        lines.append(
            f"| **{symbol(change)}** | {row.get('permission')} | {row.get('operation')} | "
            f"{resource} | {source} |"
        )
    risks = [r for c in chunk for r in c.risks]
    if risks:
        lines.append("")
        lines.extend(f"> ⚠️ **{r.label.value}**: {escape(r.message)}  " for r in risks)
    lines.append("")
    lines.append("</details>")
    return "\n".join(lines)


def _details(change: Change) -> str:
    mark = symbol(change)
    labels = dict.fromkeys(r.label.value for r in change.risks)
    flags = "".join(f" ⚠️ {label}" for label in labels)
    if change.protected is not None:
        flags += " 🔒 protected"
    lines = [f"<details><summary><code>{mark} {change.address}</code>{flags}</summary>", ""]
    if change.source:
        lines.append(f"Declared at `{change.source}`.")
        lines.append("")
    if change.protected is not None:
        lines.append(f"Protected from deletion: {escape(change.protected)}.")
        lines.append("")
    origins = bool(change.origins)
    if change.action in (Action.CREATE, Action.DELETE):
        rows = flatten(change.after if change.action is Action.CREATE else change.before)
        lines.append("| field | value |" + (" from |" if origins else ""))
        lines.append("|---|---|" + ("---|" if origins else ""))
        lines.extend(
            f"| `{path}` | {escape(show(path, value))} |"
            + (f" {escape(change.origins.get(path, 'topic'))} |" if origins else "")
            for path, value in rows
        )
    else:
        lines.append("| field | before | after |" + (" from |" if origins else ""))
        lines.append("|---|---|---|" + ("---|" if origins else ""))
        lines.extend(
            f"| `{item.path}` | {escape(show(item.path, item.before))} | "
            f"{escape(show(item.path, item.after))} |"
            + (f" {escape(change.origins.get(item.path, 'topic'))} |" if origins else "")
            for item in change.fields
        )
    for risk in change.risks:
        lines.append("")
        lines.append(f"> ⚠️ **{risk.label.value}**: {escape(risk.message)}")
    lines.extend(_affected_details(change))
    lines.append("")
    lines.append("</details>")
    return "\n".join(lines)


BLAST_ROWS = 25


def _picture(graph: Graph) -> list[str]:
    """The affected part of the estate as a Mermaid flowchart (GitHub draws it)."""
    lines = [
        "<details open><summary>Picture: producers → changed topics → consumers and groups"
        "</summary>",
        "",
        "```mermaid",
        to_mermaid(graph).rstrip("\n"),
        "```",
        "",
        "Green: created; yellow: changed; red, dashed: deleted; blue: consumer groups "
        "(`in use`: live members or recent reads).",
    ]
    lines.extend(f"_{escape(note)}._" for note in graph.notes[:5])
    if len(graph.notes) > 5:
        lines.append(f"_... and {len(graph.notes) - 5} more left out._")
    lines.extend(["", "</details>"])
    return lines


def _blast_table(changes: list[Change]) -> list[str]:
    """One row per changed topic: who notices it."""
    lines = [
        f"**👥 Who is affected ({len(changes)} change(s)):**",
        "",
        "| change | owner | producers | consumers | consumer groups |",
        "|---|---|---|---|---|",
    ]
    for change in changes[:BLAST_ROWS]:
        affected = change.affected
        assert affected is not None
        groups = "<br>".join(escape(group_label(g)) for g in affected.groups)
        if not affected.groups_read:
            groups = "_not read_"
        lines.append(
            f"| **{symbol(change)}** `{change.address}` | {escape(affected.owner or '')} | "
            f"{_names(affected.producers)} | {_names(affected.consumers)} | {groups or 'none'} |"
        )
    if len(changes) > BLAST_ROWS:
        lines.append("")
        lines.append(f"_... and {len(changes) - BLAST_ROWS} more (run `kafkaplan plan`)_")
    return lines


def _names(entries: list[Principal]) -> str:
    names = sorted({entry.principal for entry in entries})
    # One per line: the columns stay as narrow as the longest name.
    return "<br>".join(f"`{escape(name)}`" for name in names) or "none found"


def _affected_details(change: Change) -> list[str]:
    affected = change.affected
    if affected is None:
        return []
    lines = [
        "",
        "**Who is affected**"
        + (f" (topic `{affected.topic}`)" if affected.topic != change.name else ""),
        "",
    ]
    lines.append(f"- owner: {escape(affected.owner) if affected.owner else '_none declared_'}")
    for label, entries in (("producers", affected.producers), ("consumers", affected.consumers)):
        shown = "; ".join(escape(name) for name in unique_principals(entries))
        lines.append(f"- {label}: {shown or '_none found_'}")
    if affected.groups:
        lines.append("- consumer groups:")
        lines.extend(f"  - {escape(group_label(group))}" for group in affected.groups)
    elif affected.groups_read:
        lines.append("- consumer groups: _none with offsets on it_")
    if affected.messages_lost is not None:
        lines.append(f"- messages deleted by the retention cut: **{affected.messages_lost:,}**")
    freed = bytes_lost_label(affected)
    if freed is not None:
        lines.append(f"- bytes on disk that go: **{escape(freed)}**")
    lines.extend(f"- note: {escape(note)}" for note in affected.notes)
    return lines
