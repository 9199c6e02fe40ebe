"""Renderers read the plan value: golden files for text and Markdown, the JSON Schema for JSON."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import jsonschema
import pytest

from kafkaplan.live.read import read_live
from kafkaplan.output import use_color
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.model import Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.render import render
from kafkaplan.render.markdown import MAX_CHARS
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from tests.fakes import FakeTopic, MemoryCluster

GOLDEN = Path(__file__).parent / "golden"
PLAN_SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "plan.schema.json"


def sample_plan() -> Plan:
    """A plan with every kind of topic change, a risk, an error, a warning and unmanaged."""
    cluster = MemoryCluster(
        brokers=1,
        topics={
            "orders.created.v1": FakeTopic(6, 1, {"retention.ms": "604800000"}),
            "orders.fixed.v1": FakeTopic(6, 1),
            "orders.retired.v1": FakeTopic(2, 1, {"cleanup.policy": "compact"}),
            "legacy.clicks": FakeTopic(1, 1),
        },
        messages={"orders.retired.v1": 4200},
    )

    def topic(name: str, partitions: int, line: int, **configs: str | None) -> DesiredTopic:
        return DesiredTopic(
            name,
            partitions,
            1,
            {k.replace("_", "."): v for k, v in configs.items()},
            Source("specs/orders.yaml", line),
        )

    desired = DesiredState(
        topics={
            t.name: t
            for t in [
                topic(
                    "orders.created.v1", 12, 2, retention_ms="86400000", cleanup_policy="compact"
                ),
                topic("orders.placed.v1", 3, 9, retention_ms="1209600000", compression_type="zstd"),
                topic("orders.fixed.v1", 3, 15),
            ]
        },
        owned_topic_prefixes=("orders.",),
    )
    plan = compute_plan(desired, read_live(cluster, desired), PlanOptions(allow_deletes=True))
    return plan.model_copy(
        update={
            "kafkaplan_version": "0.1.0",
            "environment": "production",
            "created_at": "2026-11-28T06:00:00+00:00",
            "commit": "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        }
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KAFKAPLAN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; KAFKAPLAN_UPDATE_GOLDEN=1 rewrites it"


def test_text_golden() -> None:
    check_golden("plan.txt", render(sample_plan(), "text"))


def test_markdown_golden() -> None:
    check_golden("plan.md", render(sample_plan(), "markdown"))


def test_json_matches_the_documented_schema() -> None:
    document = json.loads(render(sample_plan(), "json"))
    jsonschema.validate(document, json.loads(PLAN_SCHEMA.read_text()))
    assert Plan.model_validate(document) == sample_plan()


def test_markdown_puts_errors_and_risks_first() -> None:
    text = render(sample_plan(), "markdown")
    assert text.index("❌") < text.index("💥 1 deletion(s)") < text.index("4 risk(s)")
    assert text.index("4 risk(s)") < text.index("<details>")
    details = [line for line in text.splitlines() if line.startswith("<details><summary><code>")]
    assert [d.split("<code>")[1].split("</code>")[0] for d in details] == [
        "- topic.orders.retired.v1",
        "~ topic.orders.created.v1",
        "+ topic.orders.placed.v1",
    ]


def test_markdown_stays_under_githubs_comment_limit() -> None:
    cluster = MemoryCluster()
    desired = DesiredState(
        topics={
            f"bulk.t{i:05}.v1": DesiredTopic(
                f"bulk.t{i:05}.v1", 3, 1, {"retention.ms": "86400000"}, Source("specs/bulk.yaml", i)
            )
            for i in range(5000)
        }
    )
    text = render(compute_plan(desired, read_live(cluster, desired)), "markdown")
    assert len(text) <= MAX_CHARS < 65_536
    assert "**Plan: 5000 to create, 0 to update, 0 to delete.**" in text
    assert "more change(s) not shown" in text


def test_colour_only_on_terminals(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Tty(), None) is True
    assert use_color(io.StringIO(), None) is False
    assert use_color(io.StringIO(), True) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Tty(), None) is False
    coloured = render(sample_plan(), "text", color=True)
    assert "\x1b[" in coloured
    assert "\x1b[" not in render(sample_plan(), "text", color=False)


def blast_plan() -> Plan:
    """A plan with a blast radius: a retention cut read by a live group, a deletion of a
    topic still in use (allowed), and the principals from declared and live ACLs."""
    from tests.unit.plan.test_blast import estate, plan_of

    cluster, desired = estate()
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    return plan.model_copy(
        update={
            "kafkaplan_version": "0.1.0",
            "environment": "production",
            "created_at": "2026-11-28T06:00:00+00:00",
            "commit": "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        }
    )


def test_blast_radius_golden() -> None:
    plan = blast_plan()
    check_golden("plan-blast.txt", render(plan, "text"))
    check_golden("plan-blast.md", render(plan, "markdown"))
    document = json.loads(render(plan, "json"))
    jsonschema.validate(document, json.loads(PLAN_SCHEMA.read_text()))
    assert Plan.model_validate(document) == plan


def test_spec_errors_golden() -> None:
    from kafkaplan.errors import Diagnostic
    from kafkaplan.render.markdown import render_spec_errors

    text = render_spec_errors(
        [
            Diagnostic(
                "unknown topic config 'retention.mss'",
                "specs/orders.yaml",
                4,
                "did you mean 'retention.ms'?",
            ),
            Diagnostic("a spec file must be a mapping (e.g. `topics: [...]`)", "specs/x.yaml", 1),
        ],
        environment="production",
        commit="4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    )
    check_golden("spec-errors.md", text)


def test_the_picture_is_cut_to_a_readable_size_and_says_so() -> None:
    from kafkaplan.render.graph import plan_graph, to_mermaid

    plan = blast_plan()
    [change] = [c for c in plan.changes if c.name == "orders.created.v1"]
    many = plan.model_copy(
        update={
            "changes": [
                change.model_copy(
                    update={"name": f"orders.t{i}.v1", "address": f"topic.orders.t{i}.v1"}
                )
                for i in range(30)
            ]
        }
    )
    graph = plan_graph(many)
    assert graph is not None
    mermaid = to_mermaid(graph)
    assert mermaid.count(":::changed") == 20
    assert "... and 10 more changed topic(s)" in mermaid
    assert graph.notes == [
        "10 of 30 changed topics are not drawn (at most 20); `kafkaplan plan` lists them all"
    ]
    assert "10 of 30 changed topics are not drawn" in render(many, "markdown")
