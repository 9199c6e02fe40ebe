"""The commands as library functions: they return data and tell or ask through callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kafkaplan import commands
from kafkaplan.apply.runner import ApplyReport, Outcome
from kafkaplan.errors import PlanRefused
from kafkaplan.live.lease import Lease
from kafkaplan.plan.model import Plan
from tests.conftest import MakeProject
from tests.fakes import MemoryCluster, MemoryLeaseLog

SPEC = "topics:\n  - name: orders.created.v1\n  - name: orders.updated.v1\n"


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    fake = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    return fake


@pytest.fixture
def lease_log(cluster: MemoryCluster) -> MemoryLeaseLog:
    """The apply lease of the in-memory cluster (what `apply` and `unlock` take)."""
    return cluster.lease


def recording_hooks(seen: list[str], *, answer: bool | None) -> commands.ApplyHooks:
    @contextmanager
    def progress() -> Iterator[None]:
        seen.append("progress")
        yield None
        seen.append("progress closed")

    def confirm(env_name: str) -> bool:
        seen.append(f"confirm {env_name}")
        assert answer is not None
        return answer

    def show_plan(plan: Plan) -> None:
        seen.append(f"plan {len(plan.changes)}")

    def on_outcome(outcome: Outcome) -> None:
        seen.append(f"outcome {outcome.address}")

    def show_report(report: ApplyReport) -> None:
        seen.append(f"report {report.summary()}")

    return commands.ApplyHooks(
        show_plan=show_plan,
        confirm=None if answer is None else confirm,
        progress=progress,
        on_outcome=on_outcome,
        show_report=show_report,
    )


def test_apply_tells_and_asks_through_its_hooks_in_order(
    make_project: MakeProject,
    cluster: MemoryCluster,
    lease_log: MemoryLeaseLog,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"a.yaml": SPEC})
    seen: list[str] = []
    applied = commands.apply_specs(project, None, hooks=recording_hooks(seen, answer=True))
    assert seen == [
        "plan 2",
        "confirm test",
        "progress",
        "outcome topic.orders.created.v1",
        "outcome topic.orders.updated.v1",
        "progress closed",
        "report 2 of 2 changes applied",
    ]
    assert applied.report is not None
    assert applied.report.ok
    assert sorted(cluster.topics) == ["orders.created.v1", "orders.updated.v1"]
    assert capsys.readouterr() == ("", ""), "the library prints nothing"
    assert not Lease(lease_log, ttl=60, owner="x").read().held, "the lease was given back"

    # Nothing left to do: the plan is shown, nothing is asked.
    seen.clear()
    applied = commands.apply_specs(project, None, hooks=recording_hooks(seen, answer=True))
    assert (seen, applied.report) == (["plan 0"], None)


def test_apply_declined_changes_nothing_and_gives_the_lease_back(
    make_project: MakeProject, cluster: MemoryCluster, lease_log: MemoryLeaseLog
) -> None:
    project = make_project({"a.yaml": SPEC})
    seen: list[str] = []
    with pytest.raises(PlanRefused, match="apply cancelled; nothing was changed"):
        commands.apply_specs(project, None, hooks=recording_hooks(seen, answer=False))
    assert seen == ["plan 2", "confirm test"]
    assert cluster.topics == {}
    assert not Lease(lease_log, ttl=60, owner="x").read().held


def test_a_saved_plan_is_applied_without_a_question(
    make_project: MakeProject, cluster: MemoryCluster, tmp_path: Path
) -> None:
    project = make_project({"a.yaml": SPEC})
    planfile = tmp_path / "plan.json"
    planfile.write_text(commands.plan_specs(project, None).model_dump_json())
    seen: list[str] = []
    hooks = recording_hooks(seen, answer=None)
    hooks.confirm = lambda env_name: pytest.fail("a saved plan was reviewed already")
    applied = commands.apply_specs(project, None, planfile, hooks=hooks)
    assert applied.report is not None
    assert applied.report.summary() == "2 of 2 changes applied"
    assert "confirm test" not in seen
