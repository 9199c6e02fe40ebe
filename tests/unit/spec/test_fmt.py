"""`kafkaplan fmt`: one canonical form, comments kept, the same meaning."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkaplan import commands
from kafkaplan.cli import main
from kafkaplan.errors import KafkaplanError, SpecError
from kafkaplan.plan.compare import compare_plans
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.model import Plan
from kafkaplan.spec.fmt import format_spec
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.fakes import MemoryCluster

PROJECT = """\
specs: [specs]
environments:
  t:
    kafka: {bootstrap_servers: "127.0.0.1:1"}
    defaults: {partitions: 3, replication_factor: 1}
    variables: {rf: 1}
"""

MESSY = """\
# Orders topics.
topics:
  # The first one.
  - partitions: 6 # six
    configs:
      segment.bytes: 1073741824
      retention.ms: "604800000"   # one week
      cleanup.policy: 'delete'
    name: "orders.created.v1"
    owner: "yes"

  # Rebuilt nightly.
  - description: '010'
    name: orders.updated.v1
    replication_factor: ${rf}
    configs:
      min.compaction.lag.ms: null
# Who reads them.
acls:
  - role: consumer
    principal: User:billing
    topics: [orders.created.v1]
    group: billing
"""

CANONICAL = """\
# Orders topics.
topics:
  # The first one.
  - name: orders.created.v1
    owner: 'yes'
    partitions: 6 # six
    configs:
      cleanup.policy: delete
      retention.ms: 7d            # one week
      segment.bytes: 1GiB

  # Rebuilt nightly.
  - name: orders.updated.v1
    description: '010'
    replication_factor: ${rf}
    configs:
      min.compaction.lag.ms: null
# Who reads them.
acls:
  - principal: User:billing
    role: consumer
    topics: [orders.created.v1]
    group: billing
"""


def test_blank_lines_after_a_flow_value_that_moves_do_not_stop_fmt() -> None:
    # Found by the property test: ruamel.yaml put the blank line after `configs: {...}` in
    # the wrong place once the key moved; the file is formatted without its blank lines.
    text = (
        "topics:\n\n- configs: {cleanup.policy: delete}\n\n  name: orders.created.v1\n\n"
        "  partitions: 1\n\n  replication_factor: 1\n- {name: payments.created.v1}\n"
    )
    assert format_spec(text) == (
        "topics:\n"
        "  - name: orders.created.v1\n"
        "    partitions: 1\n"
        "    replication_factor: 1\n"
        "    configs: {cleanup.policy: delete}\n"
        "  - {name: payments.created.v1}\n"
    )


def test_a_messy_spec_gets_its_canonical_form_with_every_comment() -> None:
    assert format_spec(MESSY) == CANONICAL
    assert format_spec(CANONICAL) == CANONICAL


def test_a_topic_class_comes_right_after_the_name_under_its_spec_key() -> None:
    text = "topics:\n  - partitions: 3\n    class: state\n    name: customers.v1\n"
    assert format_spec(text) == (
        "topics:\n  - name: customers.v1\n    class: state\n    partitions: 3\n"
    )


def test_the_example_specs_are_in_canonical_form() -> None:
    examples = sorted((Path(__file__).parents[3] / "specs").rglob("*.yaml"))
    assert examples
    for path in examples:
        text = path.read_text(encoding="utf-8")
        assert format_spec(text, str(path)) in (None, text), f"{path} is not canonical"


def test_what_is_not_a_spec_file_is_left_alone_and_broken_yaml_is_a_diagnostic() -> None:
    assert format_spec("on:\n  push: {}\njobs: {}\n") is None
    with pytest.raises(SpecError) as raised:
        format_spec("topics:\n  - name: [a\n", "specs/bad.yaml")
    [problem] = raised.value.diagnostics
    assert problem.file == "specs/bad.yaml"
    assert problem.line is not None
    assert "not valid YAML" in problem.message


def project_with(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kafkaplan.yaml").write_text(PROJECT)
    for name, text in files.items():
        path = root / "specs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "kafkaplan.yaml"


def plan_of(project_file: Path) -> Plan:
    project = load_project(project_file)
    _, _, desired = load_desired(project, "t")
    cluster = MemoryCluster(brokers=1)
    from kafkaplan.live.read import read_live

    return compute_plan(desired, read_live(cluster, desired, None))


def test_fmt_check_lists_what_would_change_and_fmt_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_with(tmp_path, {"a.yaml": MESSY, "b.yaml": CANONICAL.replace("orders", "x")})
    before = plan_of(project)
    args = ["--project", str(project), "fmt"]
    assert main([*args, "--check"]) == 1
    out, err = capsys.readouterr()
    assert out == f"would reformat {tmp_path / 'specs' / 'a.yaml'}\n"
    assert "1 file(s) would be reformatted, 1 already formatted." in err
    assert (tmp_path / "specs" / "a.yaml").read_text() == MESSY, "--check changes nothing"

    assert main(args) == 0
    assert capsys.readouterr().out == f"reformatted {tmp_path / 'specs' / 'a.yaml'}\n"
    assert (tmp_path / "specs" / "a.yaml").read_text() == CANONICAL
    assert not compare_plans(before, plan_of(project)), "the same plan after formatting"
    assert main([*args, "--check"]) == 0


def test_paths_replace_the_project_specs_and_need_no_project_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.yaml").write_text(MESSY)
    (tmp_path / "workflow.yml").write_text("on: push\njobs: {}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["fmt", "--check", "."]) == 1
    out, err = capsys.readouterr()
    assert out == "would reformat t.yaml\n"
    assert "not a spec file, left alone: workflow.yml" in err
    assert main(["fmt", "missing.yaml"]) == 1
    assert "no such file or folder: missing.yaml" in capsys.readouterr().err


def test_a_broken_file_stops_fmt_before_it_writes_anything(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"a.yaml": MESSY, "z.yaml": "topics: [\n"})
    with pytest.raises(SpecError):
        commands.format_specs(project, write=lambda path, text: pytest.fail("wrote"))
    assert (tmp_path / "specs" / "a.yaml").read_text() == MESSY


def test_a_file_that_is_not_utf8_is_a_located_problem_not_a_crash(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"a.yaml": MESSY})
    (tmp_path / "specs" / "b.yaml").write_bytes(b"topics:\n  - name: a.b.v1\n    x: \xff\n")
    with pytest.raises(SpecError) as info:
        commands.format_specs(project, write=lambda path, text: pytest.fail("wrote"))
    [problem] = info.value.diagnostics
    assert (problem.file, problem.line) == (str(tmp_path / "specs" / "b.yaml"), 3)
    assert problem.message == "file is not valid UTF-8"


# --- properties -------------------------------------------------------------------------

durations = st.integers(min_value=1, max_value=30 * 86_400_000) | st.sampled_from(
    ["7d", "12h", "90m", "1w", "30d", "3600000", "1.5h", "2d", -1]
)
sizes = st.integers(min_value=1024, max_value=2**34) | st.sampled_from(["1GiB", "512MiB", "100"])
CONFIGS: dict[str, Any] = {
    "retention.ms": durations,
    "segment.ms": durations,
    "segment.bytes": sizes,
    "cleanup.policy": st.sampled_from(["delete", "compact", "compact,delete", "Delete"]),
    "min.insync.replicas": st.sampled_from([1, "1", "${rf}"]),
    "compression.type": st.sampled_from(["lz4", "zstd", "producer"]),
    "unclean.leader.election.enable": st.sampled_from([True, False, "true", "yes", "off"]),
    "max.message.bytes": st.integers(min_value=1024, max_value=10**7),
}
texts = st.sampled_from(
    ["yes", "on", "010", "1.5", "null", "~", "a: b", "#x", "it's", 'say "hi"', "plain", "0x1F"]
) | st.text(alphabet="abc :#'\"-", max_size=12)


@st.composite
def topic(draw: st.DrawFn, name: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        fields["partitions"] = draw(st.integers(min_value=1, max_value=12))
    if draw(st.booleans()):
        fields["replication_factor"] = draw(st.sampled_from([1, "${rf}"]))
    keys = draw(st.lists(st.sampled_from(sorted(CONFIGS)), unique=True, max_size=5))
    if keys:
        fields["configs"] = {key: draw(CONFIGS[key]) for key in keys}
    if draw(st.booleans()):
        fields["description"] = draw(texts)
    if draw(st.booleans()):
        fields["owner"] = draw(texts)
    order = draw(st.permutations(list(fields)))
    return {key: fields[key] for key in order}


@st.composite
def spec_text(draw: st.DrawFn) -> str:
    names = draw(
        st.lists(
            st.sampled_from(["orders", "payments", "users", "audit"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    document = {"topics": [draw(topic(f"{n}.created.v1")) for n in names]}
    flow = draw(st.sampled_from([False, None]))
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=flow, width=4096)
    lines = text.splitlines()
    out: list[str] = []
    for number, line in enumerate(lines):
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            indent = len(line) - len(line.lstrip())
            out.append(" " * indent + f"# c{number}")
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            out.append("")
        eol = draw(st.integers(min_value=0, max_value=4)) == 0 and "'" not in line
        out.append(line + (f"  # e{number}" if eol and '"' not in line else ""))
    return "\n".join(out) + "\n"


PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(text=spec_text())
def test_fmt_is_idempotent_keeps_comments_and_plans_the_same(tmp_path: Path, text: str) -> None:
    refused: KafkaplanError | None = None
    try:
        formatted = format_spec(text)
    except KafkaplanError as exc:
        refused = exc
    if refused is not None:
        # The one refusal: ruamel.yaml drops some comments after flow-style items.
        assert "formatting would lose the comment" in refused.message
        assert "{" in text
        return
    assert formatted is not None
    assert format_spec(formatted) == formatted, "fmt twice = fmt once"
    comments = sorted(re.findall(r"# [ce]\d+", text))
    assert sorted(re.findall(r"# [ce]\d+", formatted)) == comments
    root = tmp_path / str(abs(hash(text)))
    original = meaning(project_with(root / "a", {"s.yaml": text}))
    again = meaning(project_with(root / "b", {"s.yaml": formatted}))
    if isinstance(original, Plan) and isinstance(again, Plan):
        assert not compare_plans(original, again), compare_plans(original, again).lines()
        assert [e.message for e in original.errors] == [e.message for e in again.errors]
    else:
        assert original == again, "the same spec errors"


def meaning(project_file: Path) -> Plan | list[str]:
    """The plan of the specs, or their problems (without lines: those move)."""
    try:
        return plan_of(project_file)
    except SpecError as exc:
        return sorted(d.message for d in exc.diagnostics)
