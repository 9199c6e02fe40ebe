"""`plan` of several environments: read at the same time, combined into one plan set."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from kafkaplan import commands
from kafkaplan.cli import main
from tests.conftest import MakeProject
from tests.fakes import MemoryCluster

PROJECT = """\
specs: [specs]
environments:
{envs}
"""
ENV = """\
  {name}:
    kafka: {{bootstrap_servers: "127.0.0.1:1"}}
    defaults: {{partitions: 1, replication_factor: 1}}
    variables: {{prefix: {name}}}
"""
SPEC = "topics:\n  - name: ${prefix}.orders.v1\n"


def fleet(make_project: MakeProject, names: list[str]) -> Path:
    envs = "".join(ENV.format(name=name) for name in names)
    return make_project({"a.yaml": SPEC}, project=PROJECT.format(envs=envs))


class BarrierCluster(MemoryCluster):
    """Describes only once every environment's read has started: sequential reads would
    wait for each other and break the barrier."""

    barrier: threading.Barrier | None = None

    def describe(self) -> Any:
        assert self.barrier is not None
        self.barrier.wait(timeout=30)
        return super().describe()


def test_the_environments_are_read_at_the_same_time(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["a", "b", "c", "d", "e"]
    project = fleet(make_project, names)
    barrier = threading.Barrier(len(names))
    clusters: dict[str, BarrierCluster] = {}

    def connect(context: commands.Context, read_only: bool) -> BarrierCluster:
        cluster = BarrierCluster(brokers=1)
        cluster.barrier = barrier
        clusters[context.env_name] = cluster
        return cluster

    monkeypatch.setattr(commands, "connect", connect)
    plans = commands.plan_environments(project, [])
    assert [p.environment for p in plans.plans] == names
    assert [[c.address for c in p.changes] for p in plans.plans] == [
        [f"topic.{name}.orders.v1"] for name in names
    ]
    assert not barrier.broken
    assert sorted(clusters) == names


def test_exit_codes_combine_and_errors_stay_with_their_environment(
    make_project: MakeProject,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = fleet(make_project, ["a", "b"])
    live = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: live)
    args = ["--project", str(project), "--no-color", "plan"]
    assert main([*args, "--env", "a", "--env", "b"]) == 0
    assert main([*args, "--all-envs", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "  a  1 to create, 0 to update, 0 to delete\n" in out

    (project.parent / "specs" / "b.yaml").write_text(
        "topics:\n  - name: ${prefix}.x.v1\n    partitions: 0\n"
    )
    assert main([*args, "--all-envs", "--detailed-exitcode"]) == 1
    out = capsys.readouterr().out
    assert "  a  1 error(s)\n  b  1 error(s)\n" in out

    assert main([*args, "--all-envs", "--out", "x.json"]) == 2
    assert "--out saves one environment's plan" in capsys.readouterr().err
    assert main([*args, "--env", "a", "--env", "nope"]) == 1
    assert "unknown environment 'nope'" in capsys.readouterr().err
