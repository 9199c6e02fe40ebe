"""Loading specs: every problem reported at once, each with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaplan.errors import SpecError
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.conftest import PROJECT, MakeProject, run_cli

REPO = Path(__file__).resolve().parents[3]


def problems(project_file: Path, env: str | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_desired(load_project(project_file), env)
    return [str(d) for d in info.value.diagnostics]


def test_example_specs_are_valid() -> None:
    _, _, desired = load_desired(load_project(REPO / "kafkaplan.yaml"), "local")
    topic = desired.topics["orders.created.v1"]
    assert topic.partitions == 6
    assert topic.replication_factor == 1
    assert topic.configs["retention.ms"] == "604800000"
    assert topic.source.file == "specs/orders/topics.yaml"
    assert topic.source.line == 4


def test_values_are_normalized_and_defaults_applied(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: orders.created.v1
                configs:
                  retention.ms: 12h
                  cleanup.policy: [delete, compact]
                  unclean.leader.election.enable: "false"
                  retention.bytes: null
            """
        }
    )
    _, _, desired = load_desired(load_project(project), None)
    topic = desired.topics["orders.created.v1"]
    assert (topic.partitions, topic.replication_factor) == (3, 1)
    assert dict(topic.configs) == {
        "retention.ms": "43200000",
        "cleanup.policy": "compact,delete",
        "unclean.leader.election.enable": "false",
        "retention.bytes": None,
    }


def test_every_problem_is_reported_with_its_line(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: orders.created.v1
                partitions: three
              - name: orders.updated.v1
                configs:
                  retention.mss: 7d
                  cleanup.policy: forever
              - name: orders.created.v1
                colour: blue
            """,
        }
    )
    found = problems(project)
    assert "specs/a.yaml:3: topics.0.partitions: Input should be a valid integer" in found[0]
    assert any(
        p.startswith("specs/a.yaml:6: unknown topic config 'retention.mss'")
        and "did you mean 'retention.ms'" in p
        for p in found
    )
    assert any(p.startswith("specs/a.yaml:7: cleanup.policy takes compact, delete") for p in found)
    assert any(p.startswith("specs/a.yaml:9: unknown key 'colour'") for p in found)
    # The third topic's unknown key does not hide that its name is taken.
    assert any(
        p.startswith("specs/a.yaml:8: topic 'orders.created.v1' is declared twice") for p in found
    )
    assert len(found) == 5


def test_a_boolean_is_not_a_count(make_project: MakeProject) -> None:
    """YAML reads `yes` as true, which pydantic alone would take for 1."""
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: orders.created.v1
                partitions: yes
                replication_factor: true
            """,
        }
    )
    assert problems(project) == [
        "specs/a.yaml:3: topics.0.partitions: Value error, expected a number, got a boolean",
        "specs/a.yaml:4: topics.0.replication_factor: Value error, expected a number, got a "
        "boolean",
    ]


def test_names_duplicates_and_collisions(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: orders.created.v1
              - name: "bad name!"
              - name: orders_created.v1
            """,
            "b.yaml": """\
            topics:
              - name: orders.created.v1
              - name: x.y.v1
                partitions: 2
              - name: __consumer_offsets
            """,
        }
    )
    found = problems(project)
    assert any("specs/a.yaml:3: topic name has characters Kafka does not allow" in p for p in found)
    assert any(
        "specs/a.yaml:4: topics 'orders.created.v1' and 'orders_created.v1' differ only by" in p
        for p in found
    )
    assert any(
        p.startswith("specs/b.yaml:2: topic 'orders.created.v1' is declared twice")
        and "first declared at specs/a.yaml:2" in p
        for p in found
    )
    assert any("specs/b.yaml:5: '__consumer_offsets' is an internal topic name" in p for p in found)


def test_over_long_topic_name(make_project: MakeProject) -> None:
    name = "a." + "b" * 250 + ".v1"
    project = make_project({"a.yaml": f"topics:\n  - name: {name}\n"})
    assert any("Kafka allows 249" in p for p in problems(project))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("topics:\n  - name: a.b.v1\n\tpartitions: 3\n", "specs/a.yaml:3: invalid YAML"),
        ("topics: [\n", "specs/a.yaml:2: invalid YAML"),
        ("topics:\n  - name: a.b.v1\n    name: a.c.v1\n", "specs/a.yaml:3: duplicate key 'name'"),
        ("", "specs/a.yaml:1: spec file is empty"),
        ("- a\n- b\n", "specs/a.yaml:1: a spec file must be a mapping"),
        ("topics: {}\n---\ntopics: {}\n", "specs/a.yaml:3: a spec file holds one YAML document"),
        (
            "topics:\n  - name: a.b.v1\n    partitions: ${nope}\n",
            "specs/a.yaml:3: unknown variable 'nope'",
        ),
    ],
)
def test_malformed_files(make_project: MakeProject, text: str, expected: str) -> None:
    project = make_project({"a.yaml": text})
    found = problems(project)
    assert found[0].startswith(expected), found


def test_tabs_get_a_hint(make_project: MakeProject) -> None:
    project = make_project({"a.yaml": "topics:\n\t- name: a.b.v1\n"})
    assert "tabs" in problems(project)[0]


def test_non_utf8_and_binary(make_project: MakeProject, tmp_path: Path) -> None:
    project = make_project({})
    (tmp_path / "specs" / "latin1.yaml").write_bytes(b"topics:\n  - name: caf\xe9.x.v1\n")
    (tmp_path / "specs" / "blob.yaml").write_bytes(b"\x00\x01\x02")
    found = problems(project)
    assert any(p.startswith("specs/latin1.yaml:2: file is not valid UTF-8") for p in found)
    assert any(p.startswith("specs/blob.yaml:1: file contains NUL bytes") for p in found)


def test_alias_bomb_is_bounded(make_project: MakeProject) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    lines.append("topics: []")
    project = make_project({"bomb.yaml": "\n".join(lines) + "\n"})
    assert problems(project)[0].startswith("specs/bomb.yaml:1: YAML anchors and aliases are not")


def test_anchors_and_merge_keys_point_at_topic_classes(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": "base: &base\n  partitions: 3\ntopics:\n  - name: a.b.v1\n    <<: *base\n",
            "b.yaml": "topics:\n  - name: a.c.v1\n    <<: {partitions: 3}\n",
        }
    )
    found = problems(project)
    assert found[0].startswith("specs/a.yaml:1: YAML anchors and aliases are not supported")
    assert found[1].startswith("specs/b.yaml:3: YAML merge keys (`<<`) are not supported")
    assert all("topic classes" in line for line in found)


def test_variables_keep_their_type(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": "topics:\n  - name: a.b.v1\n    replication_factor: ${rf}\n    description: rf=${rf}\n"
        }
    )
    _, _, desired = load_desired(load_project(project), None)
    assert desired.topics["a.b.v1"].replication_factor == 1


def test_policies(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: Orders
              - name: a.b.v1
                configs:
                  retention.ms: 60d
              - name: a.c.v1
                configs:
                  retention.ms: -1
                  cleanup.policy: compact
              - name: a.d.v1
                configs:
                  min.insync.replicas: 2
            """
        }
    )
    found = problems(project)
    assert any(
        "specs/a.yaml:2: topic 'Orders' does not follow the naming convention" in p for p in found
    )
    assert any(
        "specs/a.yaml:5: topic 'a.b.v1' keeps data for 60d; the policy allows at most 30d" in p
        for p in found
    )
    assert not any("a.c.v1" in p for p in found), (
        "compact-only topics are exempt from max retention"
    )
    assert any(
        "specs/a.yaml:12: topic 'a.d.v1' has min.insync.replicas 2 but only 1 replicas" in p
        for p in found
    )


def test_environment_policy_overrides(make_project: MakeProject) -> None:
    project = make_project(
        {"a.yaml": "topics:\n  - name: a.b.v1\n    replication_factor: 1\n"},
        project="""\
        environments:
          prod:
            kafka: {bootstrap_servers: "x:9092"}
            policy: {min_replication_factor: 3, min_insync_replicas: 2}
        """,
    )
    found = problems(project)
    assert any("replication factor 1; this environment requires at least 3" in p for p in found)
    assert any("must declare min.insync.replicas (at least 2" in p for p in found)


def test_literal_secrets_are_refused(make_project: MakeProject) -> None:
    project = make_project(
        {},
        project="""\
        environments:
          prod:
            kafka:
              bootstrap_servers: "x:9092"
              sasl_password: hunter2
        """,
    )
    with pytest.raises(SpecError) as info:
        load_project(project)
    text = str(info.value.diagnostics[0])
    assert "kafkaplan.yaml:5: unknown key 'sasl_password'" in text
    assert "sasl_password_env" in text
    assert "hunter2" not in text


SECRET_VARIABLE_PROJECT = """\
specs: [specs]
default_environment: test
environments:
  test:
    kafka:
      bootstrap_servers: "x:9092"
      security_protocol: SASL_SSL
      sasl_mechanism: PLAIN
      sasl_username: ci
      sasl_password_env: CI_KAFKA_PASSWORD
    variables:
      team: ${env:TEAM_NAME}
      owner: "User:${env:CI_KAFKA_PASSWORD}"
  prod:
    kafka:
      bootstrap_servers: "${env:PROD_OAUTH_SECRET:-x:9092}"
      security_protocol: SASL_SSL
      sasl_mechanism: OAUTHBEARER
      oauth_token_endpoint_url: https://idp.example/token
      oauth_client_id: kafkaplan
      oauth_client_secret_env: PROD_OAUTH_SECRET
    schema_registry:
      url: https://registry.example
      username: ci
      password_env: PROD_REGISTRY_PASSWORD
    variables:
      owner: ${env:PROD_REGISTRY_PASSWORD}
"""


def test_a_variable_read_from_a_secret_is_refused_at_load_time(
    make_project: MakeProject,
) -> None:
    project = make_project(
        {"a.yaml": "acls:\n  - principal: ${owner}\n    role: consumer\n    topics: [a.b.v1]\n"},
        project=SECRET_VARIABLE_PROJECT,
    )
    secrets = {
        "CI_KAFKA_PASSWORD": "ci-pass-1234",
        "PROD_OAUTH_SECRET": "oauth-5678",
        "PROD_REGISTRY_PASSWORD": "reg-9012",
    }
    with pytest.raises(SpecError) as info:
        load_project(project, {**secrets, "TEAM_NAME": "orders"})
    found = [str(d) for d in info.value.diagnostics]
    assert found == [
        f"{project}:13: environments.test.variables.owner: ${{env:CI_KAFKA_PASSWORD}} reads a "
        "secret (CI_KAFKA_PASSWORD is named as one by "
        "environments.test.kafka.sasl_password_env); a secret must never reach a spec, a plan "
        "or a log (hint: secrets are read only through the *_env keys of a connection; give "
        "this value its own, non-secret environment variable)",
        f"{project}:16: environments.prod.kafka.bootstrap_servers: ${{env:PROD_OAUTH_SECRET}} "
        "reads a secret (PROD_OAUTH_SECRET is named as one by "
        "environments.prod.kafka.oauth_client_secret_env); a secret must never reach a spec, "
        "a plan or a log (hint: secrets are read only through the *_env keys of a connection; "
        "give this value its own, non-secret environment variable)",
        f"{project}:27: environments.prod.variables.owner: ${{env:PROD_REGISTRY_PASSWORD}} "
        "reads a secret (PROD_REGISTRY_PASSWORD is named as one by "
        "environments.prod.schema_registry.password_env); a secret must never reach a spec, "
        "a plan or a log (hint: secrets are read only through the *_env keys of a connection; "
        "give this value its own, non-secret environment variable)",
    ]
    assert not any(value in text for value in secrets.values() for text in found)


def test_validate_masks_the_secret_of_every_environment(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value equal to a secret the project names (here prod's, which validate never
    reads to connect) is masked in every message, as the second line of defence."""
    from tests.conftest import run_cli

    project = make_project(
        {"a.yaml": "topics:\n  - name: a.b.v1\n    configs: {retention.ms: pw-of-prod-42}\n"},
        project="""\
        specs: [specs]
        default_environment: test
        environments:
          test:
            kafka:
              bootstrap_servers: "x:9092"
          prod:
            kafka:
              bootstrap_servers: "y:9092"
            schema_registry:
              url: https://registry.example
              username: ci
              password_env: PROD_REGISTRY_PASSWORD
        """,
    )
    monkeypatch.setenv("PROD_REGISTRY_PASSWORD", "pw-of-prod-42")
    code, out, err = run_cli(project, "validate", capsys=capsys)
    assert code == 1
    assert "pw-of-prod-42" not in out + err
    assert "specs/a.yaml:3: retention.ms: '***' is not a duration" in out + err, out + err


@pytest.mark.parametrize("escape", ["\\U00110000", "\\UFFFFFFFF"])
def test_an_escape_beyond_unicode_is_a_yaml_problem(escape: str) -> None:
    from kafkaplan.spec.source import YamlProblem, parse_yaml

    with pytest.raises(YamlProblem) as caught:
        parse_yaml(f'topics:\n  - name: "{escape}"\n', "specs/a.yaml")
    assert str(caught.value).startswith("specs/a.yaml:1: invalid YAML: ")
    assert "U0010FFFF" in str(caught.value)


def test_a_custom_naming_pattern_without_description_quotes_the_pattern(
    make_project: MakeProject,
) -> None:
    spec = {"a.yaml": "topics:\n  - name: orders.created.v1\n"}
    custom = PROJECT.replace("policy:\n", "policy:\n  naming:\n    pattern: '^team-[a-z]+$'\n")
    [found] = problems(make_project(spec, project=custom))
    assert found == (
        "specs/a.yaml:2: topic 'orders.created.v1' does not follow the naming convention "
        "(names must match ^team-[a-z]+$) (hint: rename it, or list it under "
        "policy.naming.exceptions)"
    )
    described = custom.replace("'^team-[a-z]+$'\n", "'^team-[a-z]+$'\n    description: team-NAME\n")
    [found] = problems(make_project(spec, project=described))
    assert "does not follow the naming convention team-NAME (hint:" in found
    [found] = problems(make_project({"a.yaml": "topics:\n  - name: Orders\n"}))
    assert "naming convention entity.event_type.version (e.g. orders.created.v1)" in found


def test_one_run_reports_every_kind_of_problem_in_every_file(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    """A topic's shape errors do not hide its configs' errors, an unknown variable does not
    hide the rest of its file, and per-file, cross-file and policy checks all run: every
    problem in one run, with file:line, sorted."""
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: orders.created.v1
                replicas: 3
                partitions: six
                configs:
                  retention.msec: 1000
                  retention.ms: 60d
                  cleanup.policy: delet
              - name: Bad_Name
            """,
            "b.yaml": """\
            topics:
              - name: ship.sent.v1
                partitions: ${nope}
              - name: ship.lost.v1
                configs:
                  min.insync.replicas: two
            acls:
              - principal: alice
                role: producer
                topics: [ship.lost.v1]
            subjects:
              - name: ship.lost.v1-value
                file: lost.avsc
            """,
            "lost.avsc": '{"type": "record", "name": "Lost", "fields": '
            '[{"name": "at", "type": "long", "default": "x"}]}',
        }
    )
    code, _, err = run_cli(project, "validate", capsys=capsys)
    assert code == 1
    lines = err.splitlines()
    expected = [
        ("specs/a.yaml:3:", "unknown key 'replicas'"),
        ("specs/a.yaml:4:", "topics.0.partitions: Input should be a valid integer"),
        ("specs/a.yaml:6:", "unknown topic config 'retention.msec'"),
        ("specs/a.yaml:7:", "keeps data for 60d; the policy allows at most 30d"),
        ("specs/a.yaml:8:", "cleanup.policy takes compact, delete, got 'delet'"),
        ("specs/a.yaml:9:", "topic 'Bad_Name' does not follow the naming convention"),
        ("specs/b.yaml:3:", "unknown variable 'nope'"),
        ("specs/b.yaml:6:", "min.insync.replicas takes a whole number, got 'two'"),
        ("specs/b.yaml:8:", "malformed principal 'alice'"),
        ("specs/lost.avsc:1:", "Default value <x> must match schema type: long"),
    ]
    problems_shown = [line for line in lines if line.startswith("specs/")]
    assert len(problems_shown) == len(expected), err
    for line, (where, what) in zip(problems_shown, expected, strict=True):
        assert line.startswith(where), f"{line!r} is not at {where}\n{err}"
        assert what in line, f"{line!r} does not say {what!r}\n{err}"
    assert f"Error: {len(expected)} errors in the specs." in err
