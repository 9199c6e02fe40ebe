"""`apply --expect REVIEWED_PLAN` against the real broker: the reviewed plan is applied
only when a fresh plan makes exactly its changes."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.conftest import Project, eventually, kafka_tool, topic_configs

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]


def test_an_out_of_band_change_after_review_is_refused_with_the_difference(
    make_project: MakeProject, admin: AdminClient, stack: dict[str, str]
) -> None:
    project = make_project()
    topic = project.name("reviewed")
    project.specs(f"topics:\n  - name: {topic}\n    configs: {{retention.ms: 2d}}\n")
    assert project.run("apply", "--auto-approve").code == 0
    project.specs(f"topics:\n  - name: {topic}\n    configs: {{retention.ms: 7d}}\n")
    reviewed = project.root / "reviewed.json"
    assert project.run("plan", "--out", str(reviewed)).code == 0

    # After the review, someone changes the topic by hand.
    kafka_tool(
        stack,
        "kafka.admin.ConfigCommand",
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        "--add-config",
        "retention.ms=3600000",
    )

    def altered() -> None:
        assert topic_configs(admin, topic)["retention.ms"][0] == "3600000"

    eventually(altered)

    refused = project.run("apply", "--expect", str(reviewed))
    assert refused.code == 1
    assert "the plan computed now differs from the reviewed plan (1 changed)" in refused.err
    assert f"~ topic.{topic} changed (update):" in refused.err
    assert (
        '    configs.retention.ms: reviewed "172800000" -> "604800000", now "3600000" -> "604800000"'
    ) in refused.err
    assert topic_configs(admin, topic)["retention.ms"][0] == "3600000", "nothing was applied"


def test_another_spec_change_after_review_is_refused_and_the_reviewed_one_applies(
    make_project: MakeProject, admin: AdminClient
) -> None:
    project = make_project()
    first, second = project.name("first"), project.name("second")
    project.specs(f"topics:\n  - name: {first}\n    configs: {{retention.ms: 1d}}\n")
    reviewed = project.root / "reviewed.json"
    assert project.run("plan", "--out", str(reviewed)).code == 0

    # Another change merged before this one is applied.
    project.specs(
        f"topics:\n  - name: {first}\n    configs: {{retention.ms: 2d}}\n  - name: {second}\n"
    )
    refused = project.run("apply", "--expect", str(reviewed))
    assert refused.code == 1, refused.out
    assert "(1 added, 1 changed)" in refused.err
    assert f"+ topic.{second} added (create): not in the reviewed plan" in refused.err
    assert '    configs.retention.ms: reviewed "86400000", now "172800000"' in refused.err
    topics = admin.list_topics(timeout=10).topics
    assert first not in topics, "nothing was applied"
    assert second not in topics, "nothing was applied"

    # Back to the reviewed specs: the fresh plan matches and is applied, without a question.
    project.specs(f"topics:\n  - name: {first}\n    configs: {{retention.ms: 1d}}\n")
    applied = project.run("apply", "--expect", str(reviewed))
    assert applied.code == 0, applied.err
    assert f"✓ topic.{first} (create) done" in applied.out
    assert topic_configs(admin, first)["retention.ms"][0] == "86400000"
    saved = json.loads(reviewed.read_text())
    assert [c["address"] for c in saved["changes"]] == [f"topic.{first}"]
