"""Pictures of who writes and reads what: producers -> topics -> consumers and groups.

``plan_graph`` draws the part of the estate a plan touches (its topic changes and their
blast radius), ``estate_graph`` the declared estate (for documentation, ``kafkaplan
graph``). Both give a ``Graph``, drawn as Mermaid (GitHub renders ```` ```mermaid ````
blocks in comments) or Graphviz dot. Large pictures are cut to a readable size, and say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from msgspec import Struct, field

from kafkaplan.plan.model import Action, Change, Plan
from kafkaplan.spec.acls import Binding, Operation, PatternType, Permission, ResourceType
from kafkaplan.spec.desired import DesiredState

# Topics drawn at most, and producers / consumers / groups per topic.
MAX_TOPICS = 20
MAX_PER_TOPIC = 6

STYLES = {
    "created": ("#dafbe1", "#1a7f37", ""),
    "changed": ("#fff8c5", "#9a6700", ""),
    "deleted": ("#ffebe9", "#cf222e", "5 3"),
    "topic": ("#ffffff", "#57606a", ""),
    "principal": ("#f6f8fa", "#57606a", ""),
    "group": ("#ddf4ff", "#0969da", ""),
    "more": ("#ffffff", "#8c959f", "2 2"),
}
_CLASS_OF = {Action.CREATE: "created", Action.UPDATE: "changed", Action.DELETE: "deleted"}
_MARK = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}


class Graph(Struct):
    nodes: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # id -> label, class, shape
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # from, to, label
    notes: list[str] = field(default_factory=list)  # what was left out
    _ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def node(self, kind: str, key: str, label: str, css: str, shape: str = "box") -> str:
        existing = self._ids.get((kind, key))
        if existing is not None:
            return existing
        node_id = f"n{len(self._ids)}"
        self._ids[(kind, key)] = node_id
        self.nodes[node_id] = (label, css, shape)
        return node_id

    def edge(self, source: str, target: str, label: str = "") -> None:
        if (source, target, label) not in self.edges:
            self.edges.append((source, target, label))


def plan_graph(plan: Plan, *, max_topics: int = MAX_TOPICS) -> Graph | None:
    """The topics a plan changes, who writes them and who reads them (None: no topic
    changes)."""
    changes = [c for c in plan.changes if c.affected is not None and c.kind.value == "topic"]
    if not changes:
        return None
    graph = Graph()
    for change in changes[:max_topics]:
        _topic_with_radius(graph, change)
    if len(changes) > max_topics:
        more = len(changes) - max_topics
        graph.node("more", "topics", f"... and {more} more changed topic(s)", "more")
        graph.notes.append(
            f"{more} of {len(changes)} changed topics are not drawn (at most {max_topics}); "
            "`kafkaplan plan` lists them all"
        )
    return graph


def _topic_with_radius(graph: Graph, change: Change) -> None:
    affected = change.affected
    assert affected is not None
    label = f"{_MARK[change.action]} {change.name}"
    if affected.owner:
        label += f"\nowner: {affected.owner}"
    if affected.messages_lost:
        label += f"\nloses {affected.messages_lost:,} message(s)"
    topic = graph.node("topic", change.name, label, _CLASS_OF[change.action])
    producers = sorted({p.principal for p in affected.producers})
    consumers = sorted({p.principal for p in affected.consumers})
    for principal in _capped(graph, producers, change.name, "producer(s)"):
        graph.edge(graph.node("principal", principal, principal, "principal"), topic, "writes")
    for principal in _capped(graph, consumers, change.name, "consumer(s)"):
        graph.edge(topic, graph.node("principal", principal, principal, "principal"), "reads")
    groups = {g.group: g for g in affected.groups}
    for name in _capped(graph, sorted(groups), change.name, "group(s)"):
        group = groups[name]
        facts = [f"{len(group.members)} member(s)" if group.members else "no members"]
        if group.lag is not None:
            facts.append(f"lag {group.lag:,}")
        node = graph.node("group", name, f"group {name}\n{', '.join(facts)}", "group", "round")
        graph.edge(topic, node, "in use" if group.active else "offsets")


def _capped(graph: Graph, names: Sequence[str], topic: str, what: str) -> list[str]:
    if len(names) <= MAX_PER_TOPIC:
        return list(names)
    shown = list(names[: MAX_PER_TOPIC - 1])
    more = len(names) - len(shown)
    graph.notes.append(f"{topic}: {more} more {what} not drawn")
    return shown


def estate_graph(desired: DesiredState, targets: Sequence[str] = ()) -> Graph:
    """Every declared topic (matching ``targets``, address patterns such as
    ``topic.orders.*``), the principals the declared ACLs let write or read it."""
    names = sorted(
        name
        for name in desired.topics
        if not targets or any(fnmatchcase(f"topic.{name}", t) for t in targets)
    )
    graph = Graph()
    bindings = [b for b in desired.acls.bindings if _on_topics(b)]
    for name in names:
        spec = desired.topics[name]
        label = name + (f"\nowner: {spec.owner}" if spec.owner else "")
        topic = graph.node("topic", name, label, "topic")
        writers = sorted({b.principal for b in _matching(bindings, name, _WRITE)})
        readers = sorted({b.principal for b in _matching(bindings, name, _READ)})
        for principal in _capped(graph, writers, name, "producer(s)"):
            role = _role(desired, principal, name, _WRITE)
            graph.edge(graph.node("principal", principal, principal, "principal"), topic, role)
        for principal in _capped(graph, readers, name, "consumer(s)"):
            role = _role(desired, principal, name, _READ)
            graph.edge(topic, graph.node("principal", principal, principal, "principal"), role)
    return graph


_WRITE = frozenset({Operation.WRITE, Operation.ALL})
_READ = frozenset({Operation.READ, Operation.ALL})


def _on_topics(binding: Binding) -> bool:
    return binding.resource_type is ResourceType.TOPIC and binding.permission is Permission.ALLOW


def _matching(
    bindings: Iterable[Binding], topic: str, operations: frozenset[Operation]
) -> list[Binding]:
    return [
        b
        for b in bindings
        if b.operation in operations
        and (
            (b.pattern_type is PatternType.PREFIXED and topic.startswith(b.resource_name))
            or (b.pattern_type is PatternType.LITERAL and b.resource_name in (topic, "*"))
        )
    ]


def _role(
    desired: DesiredState, principal: str, topic: str, operations: frozenset[Operation]
) -> str:
    bindings = [b for b in desired.acls.bindings if b.principal == principal and _on_topics(b)]
    roles = sorted(
        {
            desired.acls.roles[b]
            for b in _matching(bindings, topic, operations)
            if b in desired.acls.roles
        }
    )
    return ", ".join(roles) or ("writes" if operations is _WRITE else "reads")


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    """A label inside "...": quotes and the characters Markdown or Mermaid would take."""
    escaped = (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )
    return escaped.replace("\n", "<br/>")


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    used = {css for _, css, _ in graph.nodes.values()}
    for css, (fill, stroke, dash) in STYLES.items():
        if css in used:
            extra = f",stroke-dasharray:{dash}" if dash else ""
            lines.append(f"  classDef {css} fill:{fill},stroke:{stroke},color:#1f2328{extra}")
    for node_id, (label, css, shape) in graph.nodes.items():
        text = _mermaid_text(label)
        body = f'(["{text}"])' if shape == "round" else f'["{text}"]'
        lines.append(f"  {node_id}{body}:::{css}")
    for source, target, label in graph.edges:
        arrow = f" -->|{_mermaid_text(label)}| " if label else " --> "
        lines.append(f"  {source}{arrow}{target}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(graph: Graph) -> str:
    lines = [
        "digraph kafkaplan {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    for node_id, (label, css, shape) in graph.nodes.items():
        fill, stroke, dash = STYLES[css]
        style = "filled,dashed" if dash else "filled"
        form = 'box, style="rounded,' + style + '"' if shape == "round" else f'box, style="{style}"'
        lines.append(
            f'  {node_id} [label="{_dot_text(label)}", shape={form}, fillcolor="{fill}", '
            f'color="{stroke}"];'
        )
    for source, target, label in graph.edges:
        attrs = f' [label="{_dot_text(label)}"]' if label else ""
        lines.append(f"  {source} -> {target}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"
