"""A mirror environment's expected state, derived from its source's specs."""

from __future__ import annotations

import pytest

from kafkaplan.errors import ProjectError
from kafkaplan.spec.acls import ResourceType
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.conftest import MakeProject

PROJECT = """\
specs: [specs]
environments:
  prod:
    kafka: {{bootstrap_servers: "127.0.0.1:1"}}
    defaults: {{partitions: 6, replication_factor: 3}}
    variables: {{retention: 7d}}
  dr:
    mirror_of: {source}
    replication_policy: {policy}
    failover_principals: [User:checkout]
    kafka: {{bootstrap_servers: "127.0.0.1:2"}}
    defaults: {{partitions: 1, replication_factor: 2}}
"""
SPEC = """\
topics:
  - name: orders.created.v1
    configs:
      retention.ms: ${retention}
acls:
  - principal: User:checkout
    role: producer
    topics: [orders.created.v1]
  - principal: User:billing
    role: consumer
    topics: [orders.created.v1]
    group: billing
"""


def dr(make_project: MakeProject, policy: str, source: str = "prod") -> DesiredState:
    project = make_project({"a.yaml": SPEC}, project=PROJECT.format(policy=policy, source=source))
    return load_desired(load_project(project), "dr")[2]


def test_the_default_policy_prefixes_the_source_alias_and_keeps_partitions_and_configs(
    make_project: MakeProject,
) -> None:
    desired = dr(make_project, "{type: default, source_alias: primary}")
    [topic] = desired.topics.values()
    assert topic.name == "primary.orders.created.v1"
    assert topic.partitions == 6, "the source's partitions"
    assert topic.replication_factor == 2, "the mirror's own default"
    assert topic.configs == {"retention.ms": "604800000"}, "the source's variables"
    bindings = desired.acls.bindings
    assert {b.principal for b in bindings} == {"User:checkout"}, "only failover principals"
    assert {b.resource_name for b in bindings if b.resource_type is ResourceType.TOPIC} == {
        "primary.orders.created.v1"
    }
    assert desired.subjects == {}


def test_the_identity_policy_keeps_the_names_and_the_alias_defaults_to_the_source(
    make_project: MakeProject,
) -> None:
    assert list(dr(make_project, "{type: identity}").topics) == ["orders.created.v1"]
    assert list(dr(make_project, "{}").topics) == ["prod.orders.created.v1"]


def test_a_mirror_of_no_environment_is_refused(make_project: MakeProject) -> None:
    with pytest.raises(ProjectError, match="mirrors 'nowhere', which is not an environment"):
        dr(make_project, "{}", source="nowhere")
