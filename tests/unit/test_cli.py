"""The CLI contract: exit codes, output, refusals — against the in-memory cluster."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from kafkaplan import cli, commands, secrets
from kafkaplan.cli import main
from kafkaplan.live.cluster import NewTopicRequest
from kafkaplan.live.lease import Lease
from kafkaplan.plan.model import FORMAT_VERSION
from tests.conftest import PROJECT, MakeProject
from tests.conftest import run_cli as run
from tests.fakes import FakeTopic, MemoryCluster, MemoryLeaseLog

ROOT = Path(__file__).resolve().parents[2]

SPEC = "topics:\n  - name: orders.created.v1\n    configs:\n      retention.ms: 1d\n"
PLAN_TEXT = """\
kafkaplan plan for environment "test" (cluster fake-cluster)

  + topic.orders.created.v1   (specs/a.yaml:2)
      partitions            3
      replication_factor    1
      configs.retention.ms  86400000 (1d)

Plan: 1 to create, 0 to update, 0 to delete.
"""


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    fake = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    return fake


@pytest.fixture
def lease_log(cluster: MemoryCluster) -> MemoryLeaseLog:
    """The apply lease of the in-memory cluster (what `apply` and `unlock` take)."""
    return cluster.lease


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
    assert document["format_version"] == FORMAT_VERSION
    assert document["environment"] == "test"
    assert document["cluster_id"] == "fake-cluster"
    assert [c["address"] for c in document["changes"]] == ["topic.orders.created.v1"]


def test_apply_needs_approval_without_a_terminal(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    code, out, err = run(project, "apply", capsys=capsys)
    assert (code, out, err) == (
        1,
        PLAN_TEXT,
        "Error: refusing to apply without confirmation: input is not a terminal (hint: "
        "review the plan and pass --auto-approve, or apply a saved plan file)\n",
    )
    assert cluster.topics == {}


def test_apply_reports_each_change(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.topics["orders.updated.v1"] = FakeTopic(3, 1)
    cluster.denied_topics.add("orders.updated.v1")
    project = make_project(
        {"a.yaml": SPEC + "  - name: orders.updated.v1\n    configs: {retention.ms: 2d}\n"}
    )
    code, out, err = run(project, "apply", "--auto-approve", capsys=capsys)
    assert code == 1
    assert out.endswith(
        "Plan: 1 to create, 1 to update, 0 to delete.\n"
        "\n"
        "  ✓ topic.orders.created.v1 (create) done\n"
        "  ✗ topic.orders.updated.v1 (update) failed: configs: permission denied\n"
        "\n"
        "Apply finished with failures: 1 of 2 changes applied, 1 failed.\n"
    )
    assert err == (
        "apply: 1/2 changes (50%) - create topics\n"
        "apply: 2/2 changes (100%), 1 failed - update topics\n"
        "Re-run `kafkaplan plan` to see what is left; `apply` again converges.\n"
    )


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
    (tmp_path / "binary.json").write_bytes(b'{"a": "\xd1\x00\xff"}')  # not UTF-8
    for garbage in ("garbage.json", "binary.json"):
        code, _, err = run(project, "apply", str(tmp_path / garbage), capsys=capsys)
        assert code == 1, err
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
    assert run(project, "plan", capsys=capsys) == (
        3,
        "",
        "Internal error: RuntimeError: boom\n"
        "This is a bug in kafkaplan. Re-run with --debug and report the output.\n",
    )
    code, _, err = run(project, "--debug", "plan", capsys=capsys)
    assert code == 3
    assert err.startswith("Internal error: RuntimeError: boom\nTraceback (most recent call last):")
    assert err.endswith("RuntimeError: boom\n")


def test_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"topics": [{"name": "a.b.v1", "configs": {"retention.ms": "7d"}}]})
    assert not validator.is_valid({"topics": [{"name": "a.b.v1", "colour": "blue"}]})


def test_every_command_has_help_and_documentation() -> None:
    """Each command and option says what it does, and each command is in the README or docs/."""
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(path.read_text(encoding="utf-8") for path in documents)
    assert set(cli.cli.commands) == {
        "validate",
        "plan",
        "apply",
        "unlock",
        "drift",
        "import",
        "schema",
        "show",
        "graph",
        "fmt",
    }
    for name, command in cli.cli.commands.items():
        assert command.help is not None, name
        assert len(command.help) > 20, name
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"{name} {param.opts[0]} has no help text"
        assert re.search(rf"`kafkaplan {name}\b", text), f"`kafkaplan {name}` is not documented"
    for param in cli.cli.params:
        assert not isinstance(param, click.Option) or param.help, param.opts


def test_plan_out_saves_the_plan_atomically(
    make_project: MakeProject,
    cluster: MemoryCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"a.yaml": SPEC})
    planfile = tmp_path / "saved" / "plan.json"
    planfile.parent.mkdir()
    assert run(project, "plan", "--out", str(planfile), capsys=capsys) == (
        0,
        PLAN_TEXT,
        f"Saved the plan to {planfile}. Apply it with: kafkaplan apply {planfile}\n",
    )
    assert json.loads(planfile.read_text())["changes"][0]["address"] == "topic.orders.created.v1"
    assert sorted(p.name for p in planfile.parent.iterdir()) == ["plan.json"]


DRIFT_TEXT = """\
kafkaplan drift for environment "test" (cluster fake-cluster)
No drift. The live state matches the specs.
"""


def test_drift_out_is_written_atomically_or_not_at_all(
    make_project: MakeProject,
    cluster: MemoryCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = make_project({"a.yaml": SPEC})
    assert run(project, "apply", "--auto-approve", capsys=capsys)[0] == 0
    folder = tmp_path / "reports"
    folder.mkdir()
    report = folder / "drift.txt"
    assert run(project, "drift", "--out", str(report), capsys=capsys) == (0, DRIFT_TEXT, "")
    assert report.read_text() == DRIFT_TEXT

    # The rename fails (a full disk, a folder made read-only meanwhile): the old report
    # is left whole and no temporary file stays behind.
    def refuse(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied")

    cluster.topics["orders.created.v1"].partitions = 9
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", refuse)
        code, _, err = run(
            project, "drift", "--format", "json", "--out", str(report), capsys=capsys
        )
    assert (code, err) == (1, f"Error: {report}: cannot write the file: Permission denied\n")
    assert report.read_text() == DRIFT_TEXT
    assert sorted(p.name for p in folder.iterdir()) == ["drift.txt"]

    # Writing itself fails halfway: nothing is left either.
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    fresh = folder / "new.txt"
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", no_space)
        code, _, err = run(project, "drift", "--out", str(fresh), capsys=capsys)
    assert (code, err) == (1, f"Error: {fresh}: cannot write the file: No space left on device\n")
    assert sorted(p.name for p in folder.iterdir()) == ["drift.txt"]
    # and the next write works
    assert run(project, "drift", "--out", str(fresh), capsys=capsys)[0] == 2
    assert "~ topic.orders.created.v1" in fresh.read_text()


def test_unlock_shows_the_holder_and_releases(
    make_project: MakeProject, lease_log: MemoryLeaseLog, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    assert run(project, "unlock", capsys=capsys) == (
        0,
        "The apply lease is not held; nothing to do.\n",
        "",
    )
    crashed = Lease(lease_log, ttl=60, owner="alice@ci", clock=lambda: lease_log.now_ms / 1000)
    held = crashed.acquire(wait=0)
    shown = f"{held.describe().capitalize()}.\n"
    assert run(project, "unlock", capsys=capsys) == (
        1,
        shown,
        "Error: refusing to release the lease without confirmation: input is not a terminal "
        "(hint: pass --force if that run is gone)\n",
    )
    assert run(project, "unlock", "--force", capsys=capsys) == (
        0,
        shown + "Released the apply lease.\n",
        "",
    )
    assert not crashed.read().held


def test_secrets_are_masked_in_every_message(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value read as a secret never reaches the terminal, even inside an error message."""
    monkeypatch.setattr(secrets, "_known", {"hunter2-Zq9"})
    project = make_project({"a.yaml": SPEC})
    assert run(project, "plan", "--env", "hunter2-Zq9", capsys=capsys) == (
        1,
        "",
        f"Error: {project}: unknown environment '***' (hint: environments in the project "
        "file: test)\n",
    )


def test_plan_markdown_reports_spec_errors(
    make_project: MakeProject,
    cluster: MemoryCluster,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Specs that do not load still give a pull-request comment: every error at its line."""
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    bad = (
        SPEC.replace("retention.ms", "retention.mss")
        + "  - name: Bad|Name\n    configs:\n      retention.ms: 1|2\n"
    )
    project = make_project({"a.yaml": bad})
    code, out, err = run(project, "plan", "--format", "markdown", capsys=capsys)
    assert code == 1
    # The project's default environment, as the plan's own comment names it.
    assert out.startswith("### kafkaplan plan `test`\n\ncommit `0123456789ab`\n")
    assert "**❌ the specs do not load: 2 error(s)." in out
    assert "| `specs/a.yaml:4` | unknown topic config 'retention.mss' | did you mean" in out
    assert "| `specs/a.yaml:5` |" in out
    for row in [line for line in out.splitlines() if line.startswith("| `specs/")]:
        # Three cells: a pipe in a message or hint does not break the table.
        assert len(re.findall(r"(?<!\\)\|", row)) == 4, row
    assert "Error: 2 errors in the specs." in err
    # The other formats report on stderr only, as before.
    code, out, err = run(project, "plan", capsys=capsys)
    assert (code, out) == (1, "")
    assert "specs/a.yaml:4: unknown topic config" in err


def test_show_renders_a_saved_plan_offline(
    make_project: MakeProject,
    cluster: MemoryCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = make_project({"a.yaml": SPEC})
    planfile = tmp_path / "plan.json"
    assert run(project, "plan", "--out", str(planfile), capsys=capsys)[0] == 0

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("show opened a connection")

    monkeypatch.setattr(commands, "connect", no_network)
    assert run(project, "show", str(planfile), capsys=capsys) == (0, PLAN_TEXT, "")
    code, out, _ = run(project, "show", str(planfile), "--format", "markdown", capsys=capsys)
    assert code == 0
    assert "### kafkaplan plan `test`" in out
    assert "cluster `fake-cluster`" in out
    code, out, _ = run(project, "show", str(planfile), "--format", "json", capsys=capsys)
    assert json.loads(out) == json.loads(planfile.read_text())
    planfile.write_text("not a plan")
    code, _, err = run(project, "show", str(planfile), capsys=capsys)
    assert code == 1
    assert "not a kafkaplan plan file" in err


def test_the_plan_records_its_commit(tmp_path: Path) -> None:
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    assert commands.planned_commit(tmp_path, {"GITHUB_SHA": sha}) == sha
    assert commands.planned_commit(tmp_path, {}) is None  # not a checkout
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    import subprocess

    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert commands.planned_commit(repo, {}) == head
    assert commands.planned_commit(repo, {"GITHUB_SHA": "not a sha"}) == head


GRAPH_SPEC = """\
topics:
  - name: orders.created.v1
    owner: team-orders
  - name: payments.settled.v1
acls:
  - principal: User:orders-svc
    role: producer
    topics: [orders.created.v1]
  - principal: User:billing
    role: consumer
    topics: [orders.created.v1, payments.settled.v1]
    group: billing
"""


def test_graph_draws_the_declared_estate_offline(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("graph opened a connection")

    monkeypatch.setattr(commands, "connect", no_network)
    project = make_project({"a.yaml": GRAPH_SPEC})
    code, out, _ = run(project, "graph", capsys=capsys)
    assert code == 0
    assert out.splitlines() == [
        "flowchart LR",
        "  classDef topic fill:#ffffff,stroke:#57606a,color:#1f2328",
        "  classDef principal fill:#f6f8fa,stroke:#57606a,color:#1f2328",
        '  n0["orders.created.v1<br/>owner: team-orders"]:::topic',
        '  n1["User:orders-svc"]:::principal',
        '  n2["User:billing"]:::principal',
        '  n3["payments.settled.v1"]:::topic',
        "  n1 -->|producer| n0",
        "  n0 -->|consumer| n2",
        "  n3 -->|consumer| n2",
    ]
    code, out, _ = run(project, "graph", "--format", "dot", "--target", "topic.pay*", capsys=capsys)
    assert code == 0
    assert out.startswith("digraph kafkaplan {\n  rankdir=LR;\n")
    assert 'n0 [label="payments.settled.v1", shape=box' in out
    assert "orders.created.v1" not in out
    assert 'n0 -> n1 [label="consumer"];' in out


def test_schema_of_the_project_file(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    from kafkaplan.cli import main

    assert main(["schema", "--project"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["title"] == "kafkaplan project file (kafkaplan.yaml)"
    assert {"environments", "policy", "specs"} <= set(document["properties"])
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "kafkaplan spec file"
    # A project-file error points at the project file's schema.
    project = make_project({}, project="specs: [specs]\nenvironments: {}\nnot_a_key: 1\n")
    code, _, err = run(project, "validate", capsys=capsys)
    assert code == 1
    assert "unknown key 'not_a_key'" in err
    assert "kafkaplan.yaml:2: environments: Value error, the project needs at least one " in err
    assert "`kafkaplan schema --project` prints every key the format knows" in err


def test_an_interrupt_during_apply_never_says_nothing_was_changed(
    make_project: MakeProject,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """click turns a Ctrl-C that reaches it into Abort; in the middle of an apply (here:
    after one topic was created) that must not read "nothing was changed"."""
    from kafkaplan import commands

    cluster = MemoryCluster()

    def interrupted(*args: object, **kwargs: object) -> object:
        cluster.create_topics([NewTopicRequest("a.made.v1", 1, 1)])
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "apply_specs", interrupted)
    project = make_project({"a.yaml": "topics:\n  - name: a.made.v1\n"})
    code, _, err = run(project, "apply", "--auto-approve", capsys=capsys)
    assert "a.made.v1" in cluster.topics
    assert code == 130
    assert "nothing was changed" not in err
    assert "Interrupted. Changes sent before the interrupt may have been made" in err


LATE_SIGNAL = """\
import os, signal, sys
import kafkaplan.cli as cli

class Late:
    \"\"\"Standard output whose flush, as the run ends, sends the process a signal.\"\"\"

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(text)

    def flush(self):
        os.kill(os.getpid(), signal.{signum})
        self.stream.flush()

sys.stdout = Late(sys.stdout)
cli.main = lambda argv=None: 0
cli.run()
"""


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_after_the_run_has_reported_leaves_its_exit_code(signum: str) -> None:
    """Once main has reported, a Ctrl-C or SIGTERM while its output is flushed changes
    nothing: the exit code stays main's, not the signal's."""
    ended = subprocess.run(
        [sys.executable, "-c", LATE_SIGNAL.format(signum=signum)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ended.returncode, ended.stderr) == (0, "")


UNFLUSHED = """\
import sys, threading
import kafkaplan.cli as cli

def main(argv=None):
    sys.stdout.write("Plan: 1 to add")  # no newline: still in the pipe's buffer
    sys.stderr.write("Warning: one")
    # A read nobody waits for any more (not a daemon: the interpreter's exit would wait).
    threading.Thread(target=threading.Event().wait).start()
    return {code}

cli.main = main
cli.run()
"""
# Standard output to a pipe is written when its buffer is flushed, unless told otherwise.
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_the_run_ends_with_its_output_flushed_and_its_exit_code() -> None:
    """The process ends without the interpreter's teardown, but only after what it wrote
    is out; a thread still waiting does not hold it up."""
    ended = subprocess.run(
        [sys.executable, "-c", UNFLUSHED.format(code=2)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=BUFFERED,
    )
    assert (ended.returncode, ended.stdout, ended.stderr) == (2, "Plan: 1 to add", "Warning: one")


def test_a_reader_that_closed_the_pipe_does_not_change_the_exit_code() -> None:
    """A reader that stopped reading (`| head -1`) before the last of the output was
    flushed: what can no longer be written is dropped, and the exit code stays the run's
    (the interpreter's own exit would turn it into 120)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the run writes
    try:
        ended = subprocess.run(
            [sys.executable, "-c", UNFLUSHED.format(code=0)],
            check=False,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=BUFFERED,
        )
    finally:
        os.close(write_end)
    assert (ended.returncode, ended.stderr) == (0, "Warning: one")
