"""Disaster-recovery parity against two real clusters: the DR environment expects the
mirrored topics (named by the replication policy) and the failover principals' ACLs, and
drift reports what differs. The mirroring itself is simulated: the test creates on the
second cluster what MirrorMaker would have."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from tests.integration.conftest import PrivateStack, Project, eventually

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]

DR = """\
  dr:
    mirror_of: it
    replication_policy: {{type: default, source_alias: {alias}}}
    failover_principals: ['User:{prefix}-app']
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_DR_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: ${{env:KAFKAPLAN_DR_SASL_USERNAME}}
      sasl_password_env: KAFKAPLAN_DR_SASL_PASSWORD
      timeout: 20s
    defaults: {{partitions: 2, replication_factor: 1}}
"""


def test_drift_of_the_dr_cluster_reports_what_the_mirror_lacks_or_changed(
    make_project: MakeProject, private_stack: PrivateStack
) -> None:
    project = make_project()
    config = project.root / "kafkaplan.yaml"
    text = config.read_text()
    at = text.index("lease:")
    config.write_text(
        text[:at] + DR.format(alias=project.prefix, prefix=project.prefix) + text[at:]
    )
    project.env = {
        "KAFKAPLAN_DR_BOOTSTRAP_SERVERS": private_stack.env["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        "KAFKAPLAN_DR_SASL_USERNAME": private_stack.env["KAFKAPLAN_SASL_USERNAME"],
        "KAFKAPLAN_DR_SASL_PASSWORD": private_stack.env["KAFKAPLAN_SASL_PASSWORD"],
    }
    same, changed, missing = (project.name(n) for n in ("same", "changed", "missing"))
    app, other = f"User:{project.prefix}-app", f"User:{project.prefix}-other"
    project.specs(
        f"""\
        topics:
          - name: {same}
            configs: {{retention.ms: 1d}}
          - name: {changed}
            configs: {{retention.ms: 2d}}
          - name: {missing}
        acls:
          - principal: {app}
            resource_type: topic
            names: [{same}]
            operations: [READ]
          - principal: {other}
            resource_type: topic
            names: [{same}]
            operations: [READ]
        """
    )

    # What MirrorMaker 2 (default policy) would have made, with one topic missing and one
    # config changed on the DR cluster.
    mirrored = {t: f"{project.prefix}.{t}" for t in (same, changed, missing)}
    admin = private_stack.admin()
    futures = admin.create_topics(
        [
            NewTopic(mirrored[same], 2, 1, config={"retention.ms": "86400000"}),
            NewTopic(mirrored[changed], 2, 1, config={"retention.ms": "3600000"}),
        ]
    )
    for future in futures.values():
        future.result()
    binding = AclBinding(
        ResourceType.TOPIC,
        mirrored[same],
        ResourcePatternType.LITERAL,
        app,
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    for future in admin.create_acls([binding]).values():
        future.result()
    wanted = AclBindingFilter(
        ResourceType.TOPIC,
        mirrored[same],
        ResourcePatternType.LITERAL,
        app,
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )

    def visible() -> None:  # ACLs reach the authorizer through the metadata log
        assert admin.describe_acls(wanted).result()

    eventually(visible)

    drift = project.run("drift", "--env", "dr", "--format", "json")
    assert drift.code == 2, drift.err
    report = json.loads(drift.out)
    found = {(item["address"], item["kind"]) for item in report["items"]}
    assert (f"topic.{mirrored[missing]}", "missing") in found
    assert (f"topic.{mirrored[changed]}", "changed") in found
    assert not any(mirrored[same] in address and kind != "unmanaged" for address, kind in found), (
        found
    )
    assert not any(other in address for address, _ in found), "only failover principals"
    [change] = [i for i in report["items"] if i["address"] == f"topic.{mirrored[changed]}"]
    assert "retention.ms" in json.dumps(change)
    for future in admin.delete_topics(list(mirrored.values())[:2]).values():
        future.result()
    for future in admin.delete_acls([wanted]).values():
        future.result()
