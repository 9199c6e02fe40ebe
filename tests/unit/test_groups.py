"""Group configs end to end over the in-memory cluster: spec, plan (with the broker's
version), apply and settle, drift, import round trip; and the removed topic configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaplan import commands
from kafkaplan.errors import SpecError
from kafkaplan.kinds import ResourceKind
from kafkaplan.live.features import BrokerFeatures, release_of
from kafkaplan.plan.model import AlterGroupConfigs
from kafkaplan.render import render
from tests.conftest import MakeProject
from tests.fakes import FEATURES_3_9, FEATURES_4_1, FEATURES_4_4, FakeTopic, MemoryCluster

GROUPS = """\
groups:
  - id: billing
    configs:
      consumer.session.timeout.ms: 50s
      consumer.heartbeat.interval.ms: 6000
"""


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    fake = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    return fake


def plan_errors(project: Path) -> list[str]:
    return [f"{e.address}: {e.message}" for e in commands.plan_specs(project, None).errors]


# -- spec -------------------------------------------------------------------------------------


def test_group_values_are_normalized_and_bad_ones_have_their_line(
    make_project: MakeProject,
) -> None:
    project = make_project({"groups.yaml": GROUPS})
    group = commands.load_context(project, None).require_desired().groups["billing"]
    assert dict(group.configs) == {
        "consumer.heartbeat.interval.ms": "6000",
        "consumer.session.timeout.ms": "50000",
    }
    bad = make_project(
        {
            "groups.yaml": """\
            groups:
              - id: billing
                configs:
                  consumer.session.timout.ms: 50s
                  consumer.heartbeat.interval.ms: soon
              - id: billing
            """
        }
    )
    with pytest.raises(SpecError) as info:
        commands.load_context(bad, None)
    lines = [(d.line, d.message, d.hint) for d in info.value.diagnostics]
    assert (
        4,
        "unknown group config 'consumer.session.timout.ms'",
        ("did you mean 'consumer.session.timeout.ms'?"),
    ) in lines
    assert any(line == 5 and "consumer.heartbeat.interval.ms" in m for line, m, _ in lines)
    assert any(line == 6 and "declared twice" in m for line, m, _ in lines)


def test_an_unknown_key_in_a_group_entry_is_a_shape_error(make_project: MakeProject) -> None:
    project = make_project({"groups.yaml": "groups:\n  - id: billing\n    config: {}\n"})
    with pytest.raises(SpecError) as info:
        commands.load_context(project, None)
    assert [d.line for d in info.value.diagnostics] == [3]


# -- plan, apply, settle --------------------------------------------------------------------


def test_plan_sets_only_declared_keys_dry_runs_them_and_apply_converges(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    cluster.group_configs["billing"] = {"consumer.session.timeout.ms": "60000"}
    cluster.group_configs["other"] = {"consumer.session.timeout.ms": "60000"}
    project = make_project({"groups.yaml": GROUPS})

    plan = commands.plan_specs(project, None)

    assert plan.errors == []
    (change,) = plan.changes
    assert (change.kind, change.address, change.source) == (
        ResourceKind.GROUP,
        "group.billing",
        "specs/groups.yaml:2",
    )
    assert change.operation == AlterGroupConfigs(
        configs={"consumer.heartbeat.interval.ms": "6000", "consumer.session.timeout.ms": "50000"}
    )
    # Read in one request; dry-run in one validate-only request.
    assert cluster.calls.count("describe_group_configs:1") == 1
    assert "alter_group_configs:1:True" in cluster.calls
    text = render(plan, "text")
    assert "~ configs.consumer.session.timeout.ms     60000 (1m) -> 50000 (50s)" in text
    assert "(broker default) -> 6000 (6s)" in text
    assert "group.billing" in render(plan, "markdown")
    assert '"alter-group-configs"' in render(plan, "json")

    applied = commands.apply_specs(project, None, hooks=commands.ApplyHooks())

    assert applied.report is not None
    assert [(o.address, o.status.value) for o in applied.report.outcomes] == [
        ("group.billing", "done")
    ]
    assert cluster.group_configs["billing"] == {
        "consumer.heartbeat.interval.ms": "6000",
        "consumer.session.timeout.ms": "50000",
    }
    assert cluster.group_configs["other"] == {"consumer.session.timeout.ms": "60000"}
    # settle read the group back after the apply.
    assert cluster.calls[-1] == "describe_group_configs:1"
    assert commands.plan_specs(project, None).changes == []


def test_null_removes_the_groups_own_value(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    cluster.group_configs["billing"] = {"consumer.session.timeout.ms": "60000"}
    project = make_project(
        {
            "groups.yaml": "groups:\n  - id: billing\n    configs:\n      consumer.session.timeout.ms: null\n"
        }
    )
    (change,) = commands.plan_specs(project, None).changes
    assert change.operation == AlterGroupConfigs(configs={"consumer.session.timeout.ms": None})
    commands.apply_specs(project, None, hooks=commands.ApplyHooks())
    assert "billing" not in cluster.group_configs


def test_a_value_the_broker_refuses_fails_the_plan_not_the_apply(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    project = make_project(
        {
            "groups.yaml": "groups:\n  - id: billing\n    configs:\n      consumer.session.timeout.ms: 10s\n"
        }
    )
    assert plan_errors(project) == [
        "group.billing: the broker would refuse this group config update: "
        "consumer.session.timeout.ms must be greater than or equal to "
        "group.consumer.min.session.timeout.ms"
    ]


def test_group_configs_on_a_3_9_cluster_are_a_plan_error_naming_the_version(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    cluster.features = FEATURES_3_9
    cluster.group_defaults = {}
    project = make_project({"groups.yaml": GROUPS})
    assert plan_errors(project) == [
        "group.billing: group configs need Kafka 4.0 or newer; the broker at fake:9092 runs "
        "Kafka 3.9"
    ]
    assert not any(call.startswith("alter_group_configs") for call in cluster.calls)


def test_share_and_streams_configs_follow_the_clusters_features(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    project = make_project(
        {
            "groups.yaml": """\
            groups:
              - id: shares
                configs:
                  share.record.lock.duration.ms: 1m
              - id: app
                configs:
                  streams.num.standby.replicas: 1
            """
        }
    )
    errors = plan_errors(project)
    assert errors == [
        "group.app: streams groups (KIP-1071) need Kafka 4.2 or newer; the broker at "
        "fake:9092 runs Kafka 4.1",
        "group.shares: share groups (KIP-932) are not enabled on the cluster: share.version "
        "is not finalized (the broker at fake:9092 runs Kafka 4.1)",
    ]
    cluster.features = FEATURES_4_4
    assert plan_errors(project) == []


def test_a_key_the_broker_does_not_list_is_a_plan_error(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    project = make_project(
        {
            "groups.yaml": "groups:\n  - id: app\n    configs:\n      consumer.assignment.interval.ms: 1s\n"
        }
    )
    (error,) = commands.plan_specs(project, None).errors
    assert error.message == (
        "group config 'consumer.assignment.interval.ms' is not known to the cluster: the "
        "broker at fake:9092 runs Kafka 4.1"
    )
    assert error.source == "specs/groups.yaml:4"


def test_features_are_read_only_when_the_plan_depends_on_them(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    project = make_project({"topics.yaml": "topics:\n  - name: orders.created.v1\n"})
    commands.plan_specs(project, None)
    assert "describe_features" not in cluster.calls


# -- drift and import -----------------------------------------------------------------------


def test_drift_reports_a_group_changed_by_hand(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    project = make_project({"groups.yaml": GROUPS})
    commands.apply_specs(project, None, hooks=commands.ApplyHooks())
    cluster.group_configs["billing"]["consumer.session.timeout.ms"] = "55000"

    report = commands.report_drift(project, None)

    (item,) = report.items
    assert (item.kind.value, item.address) == ("changed", "group.billing")
    assert [(f.path, f.before, f.after) for f in item.fields] == [
        ("configs.consumer.session.timeout.ms", "55000", "50000")
    ]


def test_import_writes_groups_that_plan_back_to_no_changes(
    make_project: MakeProject, cluster: MemoryCluster, tmp_path: Path
) -> None:
    cluster.group_configs["billing"] = {
        "consumer.session.timeout.ms": "50000",
        "consumer.heartbeat.interval.ms": "6000",
    }
    project = make_project({})
    imported = commands.import_live(project, None, tmp_path / "specs" / "imported")
    assert imported.result.counts["groups"] == 1
    assert imported.result.files["groups.yaml"].endswith(
        "groups:\n  - id: billing\n    configs:\n      consumer.heartbeat.interval.ms: 6s\n"
        "      consumer.session.timeout.ms: 50s\n"
    )
    assert commands.plan_specs(project, None).changes == []


def test_import_on_a_3_9_cluster_leaves_groups_out_with_a_note(
    make_project: MakeProject, cluster: MemoryCluster, tmp_path: Path
) -> None:
    cluster.features = FEATURES_3_9
    cluster.group_defaults = {}
    cluster.group_configs["billing"] = {"consumer.session.timeout.ms": "50000"}
    imported = commands.import_live(make_project({}), None, tmp_path / "out")
    assert "groups.yaml" not in imported.result.files
    assert any(note.startswith("groups not imported") for note in imported.result.notes)


# -- topic configs removed in Kafka 4.0 -------------------------------------------------------

REMOVED = """\
topics:
  - name: orders.created.v1
    configs:
      retention.ms: 1d
      message.downconversion.enable: false
"""


def test_a_topic_config_removed_in_4_0_is_a_plan_error_on_a_4_x_broker(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    cluster.topics["orders.created.v1"] = FakeTopic(partitions=1, replication_factor=1)
    project = make_project({"topics.yaml": REMOVED})
    (error,) = commands.plan_specs(project, None).errors
    assert error.address == "topic.orders.created.v1"
    assert error.source == "specs/topics.yaml:5"
    assert error.message == (
        "topic config 'message.downconversion.enable' was removed in Kafka 4.0 (brokers no "
        "longer down-convert records); the broker at fake:9092 runs Kafka 4.1"
    )


def test_the_same_config_plans_normally_on_a_3_9_broker(
    make_project: MakeProject, cluster: MemoryCluster
) -> None:
    cluster.features = FEATURES_3_9
    project = make_project({"topics.yaml": REMOVED})
    plan = commands.plan_specs(project, None)
    assert plan.errors == []
    (change,) = plan.changes
    assert change.after is not None
    assert change.after["configs"]["message.downconversion.enable"] == "false"


@pytest.mark.parametrize(
    ("level", "release"),
    [
        (7, (3, 3)),
        (21, (3, 9)),
        (22, (3, 9)),
        (25, (4, 0)),
        (27, (4, 1)),
        (33, (4, 4)),
        (40, (4, 4)),
    ],
)
def test_the_release_follows_from_the_highest_supported_metadata_version(
    level: int, release: tuple[int, int]
) -> None:
    assert release_of(level) == release
    assert BrokerFeatures("b", supported={"metadata.version": (1, level)}).release == release


def test_a_broker_without_metadata_version_has_no_known_release() -> None:
    assert release_of(None) is None
    assert release_of(6) is None
    assert FEATURES_4_1.at_least((4, 0))
    assert not FEATURES_3_9.at_least((4, 0))
