"""The CLI with subjects: validate, plan and apply against in-memory doubles."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaplan import commands
from kafkaplan.live.registry import SchemaPayload
from tests.conftest import PROJECT, MakeProject
from tests.conftest import run_cli as run
from tests.fakes import MemoryCluster, MemoryRegistry

SPEC = "topics:\n  - name: orders.created.v1\n    value_schema: order.avsc\n"
ORDER = '{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}'
WITH_REGISTRY = (
    PROJECT.replace(
        "      bootstrap_servers: 127.0.0.1:1\n",
        "      bootstrap_servers: 127.0.0.1:1\n    schema_registry:\n      url: http://127.0.0.1:1\n",
    )
    + "schemas:\n  owned_subjects: [orders.]\n"
)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> MemoryRegistry:
    fake, cluster = MemoryRegistry(), MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: cluster)
    monkeypatch.setattr(commands, "connect_registry", lambda context, read_only: fake)
    return fake


def test_validate_counts_subjects(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC, "order.avsc": ORDER})
    assert run(project, "validate", capsys=capsys) == (0, "Valid: 1 topic(s), 1 subject(s).\n", "")


def test_subjects_need_a_registry(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "connect", lambda context, read_only: MemoryCluster(brokers=1))
    project = make_project({"a.yaml": SPEC, "order.avsc": ORDER})
    code, _, err = run(project, "plan", capsys=capsys)
    assert code == 1
    assert err.startswith(
        "Error: " + str(project) + ": the specs manage Schema Registry subjects, but environment "
        "'test' has no schema_registry"
    )


def test_plan_apply_and_deletes(
    make_project: MakeProject, registry: MemoryRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC, "order.avsc": ORDER}, project=WITH_REGISTRY)
    code, out, _ = run(project, "plan", "--detailed-exitcode", capsys=capsys)
    assert code == 2
    assert "+ subject.orders.created.v1-value   (specs/a.yaml:3)" in out
    assert "schema_text" not in out
    assert (
        "Plan: 2 to create, 0 to update, 0 to delete.\n  subject: 1 to create; topic: 1 to create\n"
        in out
    )
    code, out, _ = run(project, "apply", "--auto-approve", capsys=capsys)
    assert code == 0, out
    assert "✓ subject.orders.created.v1-value (create) done: version 1, schema id 1" in out
    markdown = run(project, "plan", "--format", "markdown", capsys=capsys)[1]
    assert "No changes." in markdown

    (project.parent / "specs" / "a.yaml").write_text("topics:\n  - name: orders.created.v1\n")
    code, out, _ = run(project, "plan", "--detailed-exitcode", capsys=capsys)
    assert code == 0
    assert (
        "! subject.orders.created.v1-value: in the owned subject scope but in no spec: kept" in out
    )
    code, out, _ = run(project, "plan", "--allow-deletes", "--format", "markdown", capsys=capsys)
    assert "| subject | 0 | 0 | 1 |" in out
    assert "**schema-break**: soft delete" in out
    code, out, _ = run(project, "apply", "--auto-approve", "--allow-deletes", capsys=capsys)
    assert code == 0, out
    assert "✓ subject.orders.created.v1-value (delete) done: soft-deleted versions [1]" in out
    assert registry.soft_deleted == {"orders.created.v1-value"}


def test_saved_plan_with_subjects(
    make_project: MakeProject,
    registry: MemoryRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"a.yaml": SPEC, "order.avsc": ORDER}, project=WITH_REGISTRY)
    planfile = tmp_path / "plan.json"
    assert run(project, "plan", "--out", str(planfile), capsys=capsys)[0] == 0
    registry.register("orders.created.v1-value", SchemaPayload("AVRO", '"string"'))
    code, _, err = run(project, "apply", str(planfile), capsys=capsys)
    assert code == 1
    assert (
        "saved plan is stale: subject.orders.created.v1-value changed since it was planned" in err
    )

    registry.subjects.clear()
    code, out, _ = run(project, "apply", str(planfile), capsys=capsys)
    assert code == 0, out
    [version] = registry.subjects["orders.created.v1-value"]
    assert version.payload == SchemaPayload("AVRO", ORDER)
