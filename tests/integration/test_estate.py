"""Topic classes, dead-letter topics and deletion protection against the real broker: the
companion topic and its ACLs give real clients the access they need, import collapses them
back, and a protected topic survives a plan that would delete it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.conftest import (
    Project,
    all_acls,
    eventually,
    exact,
    partition_count,
    topic_configs,
)
from tests.integration.test_acls import AUTHORIZATION_ERRORS, consume, own, produce

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]

CLASSES = """\
topic_classes:
  event:
    configs:
      retention.ms: 2d
      compression.type: zstd
    dead_letter: true
  state:
    configs:
      cleanup.policy: compact
"""


@pytest.fixture
def acl_cleanup(admin: AdminClient) -> Iterator[list[str]]:
    prefixes: list[str] = []
    yield prefixes
    mine = [acl for acl in all_acls(admin) if acl.name.startswith(tuple(prefixes or ["-"]))]
    if mine:
        for future in admin.delete_acls([exact(a) for a in mine], request_timeout=10).values():
            future.result()


def _append(project: Project, text: str) -> None:
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(text)


def test_classes_and_dead_letter_topics_end_to_end(
    make_project: MakeProject,
    admin: AdminClient,
    stack: dict[str, str],
    acl_cleanup: list[str],
) -> None:
    project = make_project()
    acl_cleanup.append(project.prefix)
    own(project, "User:alice", "User:bob")
    _append(project, CLASSES)
    topic, snapshot = project.name("orders"), project.name("snapshot")
    dlq = f"{topic}.dlq"
    group, drain = f"{project.prefix}billing", f"{project.prefix}drain"
    project.specs(
        f"""\
        topics:
          - name: {topic}
            class: event
            partitions: 2
            dead_letter:
              retention: 3d
              readers:
                - principal: User:alice
                  group: {drain}
          - name: {snapshot}
            class: state
            partitions: 1
        acls:
          - principal: User:bob
            role: consumer
            topics: [{topic}]
            group: {group}
        """
    )
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    # The companion is a topic of its own, named outside the naming pattern, with its
    # values' origins; its bindings are ordinary ACL changes.
    assert f"+ topic.{dlq}" in plan.out
    assert "zstd   (class event)" in plan.out
    assert f"2   (topic {topic})" in plan.out, "the companion's partitions are its topic's"
    assert f"+ acl.User:bob.topic.literal.{dlq}.WRITE.ALLOW.*" in plan.out
    assert f"+ acl.User:alice.topic.literal.{dlq}.READ.ALLOW.*" in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err

    configs = topic_configs(admin, dlq)
    assert configs["retention.ms"][0] == "259200000"
    assert configs["cleanup.policy"][0] == "delete"
    assert partition_count(admin, dlq) == 2
    assert topic_configs(admin, topic)["compression.type"] == ("zstd", "DYNAMIC_TOPIC_CONFIG")
    assert topic_configs(admin, snapshot)["cleanup.policy"] == ("compact", "DYNAMIC_TOPIC_CONFIG")

    # bob, the topic's consumer, may write its poison records to the dead-letter topic and
    # alice, its reader, drains it; bob may not read it.
    eventually(lambda: _equal(produce(stack, "bob", dlq, b"poison-1"), None))
    assert consume(stack, "alice", dlq, drain) == ([b"poison-1"], None)
    assert consume(stack, "bob", dlq, group, timeout=8)[1] in AUTHORIZATION_ERRORS

    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err

    # Import collapses the companion back into the class's dead_letter and recognises the
    # classes; the imported specs plan empty.
    imported = project.root / "imported"
    result = project.run("import", "--out", str(imported), "--prefix", project.prefix)
    assert result.code == 0, result.out + result.err
    text = "".join(p.read_text() for p in sorted(imported.rglob("*.yaml")))
    assert f"name: {dlq}" not in text
    assert "class: event" in text
    assert "class: state" in text
    assert "dead_letter:\n      retention: 3d" in text
    assert f"topics: [{dlq}]" in text, "alice's consumer role stays"
    assert "WRITE" not in text, "bob's WRITE on the dead-letter topic is implied"
    config = (
        (project.root / "kafkaplan.yaml").read_text().replace("specs: [specs]", "specs: [imported]")
    )
    (project.root / "kafkaplan.yaml").write_text(config)
    replanned = project.run("plan", "--detailed-exitcode")
    assert replanned.code == 0, replanned.out + replanned.err


def test_protected_topics_survive_whatever_the_options(
    make_project: MakeProject, admin: AdminClient
) -> None:
    project = make_project()
    keep, gone = project.name("keep"), project.name("gone")
    _append(
        project,
        textwrap.dedent(
            f"""\
            owned_topic_prefixes: [{project.prefix}]
            protect: ['topic.{project.prefix}keep.*']
            """
        ),
    )
    project.specs(
        f"topics:\n  - name: {keep}\n    partitions: 1\n  - name: {gone}\n    partitions: 1\n"
    )
    created = project.run("apply", "--auto-approve")
    assert created.code == 0, created.out + created.err
    assert f"+ topic.{keep}   (specs/main.yaml:2)   [protected: project pattern" in created.out

    project.specs("topics: []\n")
    refused = project.run("apply", "--auto-approve", "--allow-deletes", "--max-destroy", "100")
    assert refused.code == 1, refused.out + refused.err
    output = refused.out + refused.err
    assert f"topic.{keep}: protected from deletion (project pattern " in output
    assert "but this plan deletes it" in output
    listed = admin.list_topics(timeout=10).topics
    assert keep in listed, "a refused plan applies nothing"
    assert gone in listed

    # Declared again with a marker: protected while declared, the other one goes.
    project.specs(f"topics:\n  - name: {keep}\n    partitions: 1\n    protected: true\n")
    deleted = project.run("apply", "--auto-approve", "--allow-deletes")
    assert deleted.code == 0, deleted.out + deleted.err
    eventually(lambda: _equal(gone in admin.list_topics(timeout=10).topics, False))
    assert keep in admin.list_topics(timeout=10).topics


def _equal(value: object, expected: object) -> None:
    assert value == expected
