"""`apply --expect`: a fresh plan is compared with the reviewed one, change by change."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaplan import commands
from kafkaplan.cli import main
from kafkaplan.errors import PlanMismatch, PlanRefused
from kafkaplan.plan.compare import compare_plans
from kafkaplan.plan.model import Plan
from tests.conftest import MakeProject
from tests.fakes import MemoryCluster

SPEC = "topics:\n  - name: orders.created.v1\n    configs: {retention.ms: 1d}\n"
TWO = SPEC + "  - name: orders.updated.v1\n"


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    fake = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    return fake


def plan_of(project: Path) -> Plan:
    return commands.plan_specs(project, None)


def test_the_same_changes_planned_later_do_not_differ(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    project = make_project({"a.yaml": SPEC})
    reviewed = plan_of(project)
    later = reviewed.model_copy(
        update={
            "created_at": "2031-01-01T00:00:00+00:00",
            "kafkaplan_version": "9.9.9",
            "live_fingerprint": "other",
            "resource_fingerprints": {},
            "changes": [
                c.model_copy(update={"source": "elsewhere.yaml:9"}) for c in reviewed.changes
            ],
        }
    )
    assert not compare_plans(reviewed, later)
    assert compare_plans(reviewed, later).lines() == []


def test_added_removed_and_changed_changes_are_listed_by_address_with_their_fields(
    make_project: MakeProject, cluster: MemoryCluster, tmp_path: Path
) -> None:
    reviewed = plan_of(make_project({"a.yaml": TWO}))
    other = "topics:\n  - name: orders.created.v1\n    configs: {retention.ms: 2d}\n"
    other += "  - name: orders.shipped.v1\n"
    fresh = plan_of(make_project({"a.yaml": other}))
    difference = compare_plans(reviewed, fresh)
    assert difference.summary() == "1 added, 1 removed, 1 changed"
    assert difference.lines() == [
        "~ topic.orders.created.v1 changed (create):",
        '    configs.retention.ms: reviewed "86400000", now "172800000"',
        "+ topic.orders.shipped.v1 added (create): not in the reviewed plan",
        "- topic.orders.updated.v1 removed (create): in the reviewed plan, not planned now",
    ]


def test_a_changed_update_names_each_attribute_with_both_transitions_and_the_new_risk(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    project = make_project({"a.yaml": SPEC})
    commands.apply_specs(project, None, hooks=commands.ApplyHooks())
    reviewed = plan_of(make_project({"a.yaml": SPEC.replace("1d", "2d")}))
    grown = SPEC.replace("1d", "3d") + "    partitions: 4\n"
    difference = compare_plans(reviewed, plan_of(make_project({"a.yaml": grown})))
    assert difference.lines() == [
        "~ topic.orders.created.v1 changed (update):",
        '    configs.retention.ms: reviewed "86400000" -> "172800000", '
        'now "86400000" -> "259200000"',
        "    partitions: reviewed unchanged, now 3 -> 4",
        "    risks: reviewed none, now ordering",
    ]
    [changed] = difference.changes
    assert {d.path for d in changed.fields} >= {  # every differing leaf is still compared
        "after.partitions",
        "operation.partitions",
        "fields[partitions].after",
    }


def test_another_cluster_differs_even_with_the_same_changes(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    reviewed = plan_of(make_project({"a.yaml": SPEC}))
    elsewhere = reviewed.model_copy(update={"cluster_id": "another-cluster"})
    assert compare_plans(reviewed, elsewhere).lines() == [
        f'cluster_id: reviewed "{reviewed.cluster_id}", now "another-cluster"'
    ]


def test_a_mismatch_applies_nothing_and_a_match_applies_without_a_question(
    make_project: MakeProject, cluster: MemoryCluster, tmp_path: Path
) -> None:
    project = make_project({"a.yaml": SPEC})
    reviewed = tmp_path / "reviewed.json"
    reviewed.write_text(plan_of(project).model_dump_json())
    make_project({"a.yaml": TWO})
    hooks = commands.ApplyHooks(confirm=lambda env: pytest.fail("a reviewed plan is approved"))
    with pytest.raises(PlanMismatch) as refused:
        commands.apply_specs(project, None, expect=reviewed, hooks=hooks)
    assert refused.value.details == [
        "+ topic.orders.updated.v1 added (create): not in the reviewed plan"
    ]
    assert cluster.topics == {}

    make_project({"a.yaml": SPEC})
    applied = commands.apply_specs(project, None, expect=reviewed, hooks=hooks)
    assert applied.report is not None
    assert applied.report.ok
    assert sorted(cluster.topics) == ["orders.created.v1"]


def test_an_out_of_band_change_makes_the_plan_differ(
    make_project: MakeProject, cluster: MemoryCluster, tmp_path: Path
) -> None:
    project = make_project({"a.yaml": SPEC})
    commands.apply_specs(project, None, hooks=commands.ApplyHooks())
    make_project({"a.yaml": SPEC.replace("1d", "7d")})
    reviewed = tmp_path / "reviewed.json"
    reviewed.write_text(plan_of(project).model_dump_json())
    cluster.alter_topic_configs({"orders.created.v1": {"retention.ms": "3600000"}})
    with pytest.raises(PlanMismatch) as refused:
        commands.apply_specs(project, None, expect=reviewed)
    assert refused.value.details == [
        "~ topic.orders.created.v1 changed (update):",
        '    configs.retention.ms: reviewed "86400000" -> "604800000", '
        'now "3600000" -> "604800000"',
    ]
    assert cluster.topics["orders.created.v1"].overrides["retention.ms"] == "3600000"


def test_a_reviewed_plan_for_another_environment_or_with_errors_is_refused_first(
    make_project: MakeProject, cluster: MemoryCluster, tmp_path: Path
) -> None:
    project = make_project({"a.yaml": SPEC})
    reviewed = tmp_path / "reviewed.json"
    reviewed.write_text(
        plan_of(project).model_copy(update={"environment": "prod"}).model_dump_json()
    )
    with pytest.raises(PlanRefused, match="made for environment 'prod', not 'test'"):
        commands.apply_specs(project, "test", expect=reviewed)
    assert cluster.topics == {}


def test_the_cli_lists_the_differences_and_refuses_a_plan_file_with_expect(
    make_project: MakeProject,
    cluster: MemoryCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"a.yaml": SPEC})
    reviewed = tmp_path / "reviewed.json"
    reviewed.write_text(plan_of(project).model_dump_json())
    make_project({"a.yaml": TWO})
    assert main(["--project", str(project), "--no-color", "apply", "--expect", str(reviewed)]) == 1
    err = capsys.readouterr().err
    assert "differs from the reviewed plan (1 added); nothing was applied" in err
    assert "\n  + topic.orders.updated.v1 added (create): not in the reviewed plan\n" in err
    code = main(["--project", str(project), "apply", str(reviewed), "--expect", str(reviewed)])
    assert code == 2
    assert "pass one or the other" in capsys.readouterr().err
