"""Drift against changes made by another tool (Kafka's own CLI), and import round trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic

from tests.integration.conftest import (
    Project,
    eventually,
    grant,
    kafka_tool,
    partition_count,
    revoke,
    topic_configs,
)

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.matrix
def test_drift_sees_exactly_the_out_of_band_changes(
    make_project: MakeProject, admin: AdminClient, stack: dict[str, str]
) -> None:
    project = make_project()
    steady, altered, grown, gone = (project.name(n) for n in ("steady", "altered", "grown", "gone"))
    byhand = project.name("byhand")
    project.specs(
        f"""\
        topics:
          - name: {steady}
            configs: {{retention.ms: 7d}}
          - name: {altered}
            configs: {{retention.ms: 7d, cleanup.policy: delete}}
          - name: {grown}
          - name: {gone}
        """
    )
    assert project.run("apply", "--auto-approve").code == 0
    clean = project.run("drift")
    assert clean.code == 0, clean.out
    assert "No drift." in clean.out

    # Out-of-band changes, made with Apache Kafka's own tools.
    kafka_tool(
        stack,
        "kafka-configs",
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        altered,
        "--add-config",
        "retention.ms=3600000",
    )
    kafka_tool(
        stack,
        "kafka-topics",
        "--alter",
        "--topic",
        grown,
        "--partitions",
        "4",
    )
    kafka_tool(stack, "kafka-topics", "--delete", "--topic", gone)
    kafka_tool(
        stack,
        "kafka-topics",
        "--create",
        "--topic",
        byhand,
        "--partitions",
        "1",
        "--replication-factor",
        "1",
    )

    def reports_all() -> dict[str, Any]:
        result = project.run("drift", "--format", "json")
        assert result.code == 2, result.out + result.err
        report = json.loads(result.out)
        mine = [i for i in report["items"] if project.prefix in i["address"]]
        assert [(i["kind"], i["address"]) for i in mine] == [
            ("changed", f"topic.{altered}"),
            ("changed", f"topic.{grown}"),
            ("missing", f"topic.{gone}"),
            ("unmanaged", f"topic.{byhand}"),
        ]
        return dict(report)

    report = eventually(reports_all)
    altered_item = next(i for i in report["items"] if i["address"] == f"topic.{altered}")
    assert altered_item["fields"] == [
        {"path": "configs.retention.ms", "before": "3600000", "after": "604800000"}
    ]
    markdown = project.run("drift", "--format", "markdown", "--fail-on", "changed")
    assert markdown.code == 2
    assert "#### Changed outside git" in markdown.out
    only_unmanaged = project.run("drift", "--fail-on", "unmanaged")
    assert only_unmanaged.code == 2
    assert project.run("drift", "--fail-on", "missing").code == 2

    # plan + apply restore what can be restored; the partition increase cannot be undone
    # and stays a plan error until the spec says 4.
    project.specs(
        f"""\
        topics:
          - name: {steady}
            configs: {{retention.ms: 7d}}
          - name: {altered}
            configs: {{retention.ms: 7d, cleanup.policy: delete}}
          - name: {grown}
            partitions: 4
          - name: {gone}
        """
    )
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out
    assert topic_configs(admin, altered)["retention.ms"][0] == "604800000"
    assert partition_count(admin, gone) == 2
    after = json.loads(project.run("drift", "--format", "json").out)
    assert [
        (i["kind"], i["address"]) for i in after["items"] if project.prefix in i["address"]
    ] == [("unmanaged", f"topic.{byhand}")]


def test_drift_reports_what_it_may_not_read(make_project: MakeProject, admin: AdminClient) -> None:
    project = make_project(username="alice", password_env="KAFKAPLAN_STACK_PASSWORD_ALICE")
    visible, secret = project.name("visible"), project.name("secret")
    for future in admin.create_topics([NewTopic(visible, 1, 1), NewTopic(secret, 1, 1)]).values():
        future.result()
    filters = grant(admin, "User:alice", project.prefix, AclOperation.DESCRIBE)
    filters += grant(admin, "User:alice", visible, AclOperation.DESCRIBE_CONFIGS)
    try:
        project.specs(
            f"topics:\n  - name: {visible}\n    partitions: 1\n  - name: {secret}\n    partitions: 1\n"
        )

        def partly_checked() -> None:
            result = project.run("drift")
            # Nothing drifted in what was checked, but one topic was not: never green.
            assert result.code == 4, result.out + result.err
            assert (
                "No drift in what could be checked, but 1 not checked: the report is incomplete."
                in result.out.splitlines()[1]
            )
            assert f"topic.{secret}: not checked: permission denied" in result.out
            assert "grant DESCRIBE_CONFIGS" in result.out

        eventually(partly_checked)
    finally:
        revoke(admin, filters)


def test_import_round_trip(make_project: MakeProject, admin: AdminClient) -> None:
    project = make_project()
    p = project.prefix
    topics = [
        NewTopic(
            f"{p}orders.created.v1",
            3,
            1,
            config={"retention.ms": "604800000", "compression.type": "zstd"},
        ),
        NewTopic(
            f"{p}orders.snapshot.v1",
            2,
            1,
            config={
                "cleanup.policy": "compact",
                "min.compaction.lag.ms": "3600000",
                "segment.bytes": "268435456",
            },
        ),
        NewTopic(
            f"{p}payments.settled.v1",
            1,
            1,
            config={
                "retention.ms": "2592000000",
                "retention.bytes": "10737418240",
                "max.message.bytes": "2097152",
                "unclean.leader.election.enable": "false",
            },
        ),
        NewTopic(
            f"{p}audit.events.v1",
            1,
            1,
            config={
                "cleanup.policy": "compact,delete",
                "message.timestamp.type": "LogAppendTime",
                "min.cleanable.dirty.ratio": "0.3",
            },
        ),
    ]
    for future in admin.create_topics(topics).values():
        future.result()

    result = project.run("import", "--out", str(project.root / "specs" / "imported"), "--prefix", p)
    assert result.code == 0, result.err
    assert "Imported 4 topics, 0 ACL bindings, 0 subjects into 3 file(s)." in result.out
    text = (project.root / "specs" / "imported" / f"{p}orders.yaml").read_text()
    assert "retention.ms: 7d" in text
    assert "segment.bytes: 256MiB" in text
    assert (
        "retention.bytes: 10GiB"
        in (project.root / "specs" / "imported" / f"{p}payments.yaml").read_text()
    )

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert "No changes." in plan.out
    refused = project.run(
        "import", "--out", str(project.root / "specs" / "imported"), "--prefix", p
    )
    assert refused.code == 1
    assert "refusing to overwrite existing files" in refused.err
