"""The CLI contract: exit codes, output, refusals — against the in-memory cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kafkaplan import cli, commands
from kafkaplan.cli import main
from tests.conftest import PROJECT, MakeProject
from tests.conftest import run_cli as run
from tests.fakes import FakeTopic, MemoryCluster

SPEC = "topics:\n  - name: orders.created.v1\n    configs:\n      retention.ms: 1d\n"


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    fake = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    return fake


def test_validate_ok_and_errors(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    assert run(project, "validate", capsys=capsys) == (0, "Valid: 1 topic(s).\n", "")
    project = make_project({"a.yaml": SPEC.replace("retention.ms", "retention.mss")})
    code, _, err = run(project, "validate", capsys=capsys)
    assert code == 1
    assert err.splitlines() == [
        "specs/a.yaml:4: unknown topic config 'retention.mss' (hint: did you mean 'retention.ms'?)",
        "Error: 1 error in the specs.",
    ]


def test_validate_makes_no_connection(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate needs no Kafka or registry permission at all (docs/permissions.md): a
    project with topics, ACLs and a subject validates while every way out is a failure."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate opened a connection")

    for target in (
        "kafkaplan.commands.connect",
        "kafkaplan.commands.connect_registry",
        "kafkaplan.commands.open_lease",
        "confluent_kafka.admin.AdminClient",
        "confluent_kafka.Consumer",
        "confluent_kafka.Producer",
        "urllib.request.urlopen",
    ):
        monkeypatch.setattr(target, no_network)
    registry = "    schema_registry:\n      url: http://127.0.0.1:1\n"
    project = make_project(
        {
            "a.yaml": SPEC
            + "    value_schema: order.avsc\n"
            + "acls:\n  - principal: User:billing\n    role: producer\n"
            + "    topics: [orders.created.v1]\n",
            "order.avsc": '{"type": "record", "name": "O", "fields": []}',
        },
        project=PROJECT.replace("    defaults:\n", registry + "    defaults:\n", 1),
    )
    assert run(project, "validate", capsys=capsys) == (
        0,
        "Valid: 1 topic(s), 2 ACL binding(s), 1 subject(s).\n",
        "",
    )


def test_validate_paths_replace_the_project_specs(
    make_project: MakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": "topics: 3\n"})
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.yaml").write_text(SPEC)
    code, out, _ = run(project, "validate", str(other), capsys=capsys)
    assert (code, out) == (0, "Valid: 1 topic(s).\n")


def test_detailed_exitcode(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    assert run(project, "plan", "--detailed-exitcode", capsys=capsys)[0] == 2
    assert run(project, "plan", capsys=capsys)[0] == 0
    assert run(project, "apply", "--auto-approve", capsys=capsys)[0] == 0
    code, out, _ = run(project, "plan", "--detailed-exitcode", capsys=capsys)
    assert code == 0
    assert "No changes." in out
    cluster.topics["orders.created.v1"].partitions = 9
    code, out, _ = run(project, "plan", "--detailed-exitcode", capsys=capsys)
    assert code == 1
    assert "partitions cannot decrease (9 -> 3)" in out


def test_plan_json_is_the_plan(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    code, out, _ = run(project, "plan", "--format", "json", capsys=capsys)
    document = json.loads(out)
    assert code == 0
    assert document["format_version"] == 1
    assert document["environment"] == "test"
    assert document["cluster_id"] == "fake-cluster"
    assert [c["address"] for c in document["changes"]] == ["topic.orders.created.v1"]


def test_apply_needs_approval_without_a_terminal(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    code, _, err = run(project, "apply", capsys=capsys)
    assert code == 1
    assert "refusing to apply without confirmation" in err
    assert "--auto-approve" in err
    assert cluster.topics == {}


def test_apply_reports_each_change(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.topics["orders.updated.v1"] = FakeTopic(3, 1)
    cluster.denied_topics.add("orders.updated.v1")
    project = make_project(
        {"a.yaml": SPEC + "  - name: orders.updated.v1\n    configs: {retention.ms: 2d}\n"}
    )
    code, out, _ = run(project, "apply", "--auto-approve", capsys=capsys)
    assert code == 1
    assert "✓ topic.orders.created.v1 (create) done" in out
    assert "✗ topic.orders.updated.v1 (update) failed: configs: permission denied" in out
    assert "Apply finished with failures: 1 of 2 changes applied, 1 failed." in out


def test_apply_saved_plan_refusals(
    make_project: MakeProject,
    cluster: MemoryCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"a.yaml": SPEC})
    planfile = tmp_path / "plan.json"
    assert run(project, "plan", "--out", str(planfile), capsys=capsys)[0] == 0

    saved = json.loads(planfile.read_text())
    for field, value, message in [
        ("kafkaplan_version", "0.0.1", "plan was made by kafkaplan 0.0.1"),
        (
            "cluster_id",
            "other",
            "plan was made for cluster other, but this is cluster fake-cluster",
        ),
        ("format_version", 99, "plan file has format version 99"),
    ]:
        altered = tmp_path / f"{field}.json"
        altered.write_text(json.dumps({**saved, field: value}))
        code, _, err = run(project, "apply", str(altered), capsys=capsys)
        assert code == 1
        assert message in err

    (tmp_path / "garbage.json").write_text("{not json")
    code, _, err = run(project, "apply", str(tmp_path / "garbage.json"), capsys=capsys)
    assert code == 1
    assert "not a kafkaplan plan file (or a damaged one)" in err

    cluster.topics["orders.created.v1"] = FakeTopic(1, 1)  # created out of band meanwhile
    code, _, err = run(project, "apply", str(planfile), capsys=capsys)
    assert code == 1
    assert "saved plan is stale: topic.orders.created.v1 changed since it was planned" in err
    assert cluster.topics["orders.created.v1"].partitions == 1


def test_missing_project_and_environment(
    tmp_path: Path, make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(tmp_path / "nope.yaml", "validate", capsys=capsys)
    assert code == 1
    assert "does not exist" in err
    project = make_project({"a.yaml": SPEC})
    code, _, err = run(project, "plan", "--env", "staging", capsys=capsys)
    assert code == 1
    assert "unknown environment 'staging'" in err
    assert "environments in the project file: test" in err


def test_unexpected_errors_are_reported_as_bugs(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "connect", explode)
    project = make_project({"a.yaml": SPEC})
    code, _, err = run(project, "plan", capsys=capsys)
    assert code == 3
    assert "Internal error: RuntimeError: boom" in err
    assert "Traceback" not in err


def test_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"topics": [{"name": "a.b.v1", "configs": {"retention.ms": "7d"}}]})
    assert not validator.is_valid({"topics": [{"name": "a.b.v1", "colour": "blue"}]})


def test_every_command_has_help() -> None:
    for name, command in cli.cli.commands.items():
        assert command.help is not None, name
        assert len(command.help) > 20, name
