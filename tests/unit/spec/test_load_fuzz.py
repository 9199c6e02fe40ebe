"""Property-based fuzzing of the loader: whatever a spec file holds, loading it either
succeeds or raises SpecError whose every diagnostic names a file (never another exception)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkaplan.errors import Diagnostic, SpecError
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from kafkaplan.spec.topic_configs import TOPIC_CONFIGS

PROJECT = """\
specs: [specs]
environments:
  t:
    kafka: {bootstrap_servers: "127.0.0.1:1"}
    defaults: {replication_factor: 1}
    variables: {rf: 1, name: orders}
"""

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["7d", "1GiB", "-1", "${rf}", "${nope}", "$${x}", "compact,delete", ""])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=4)
    ),
    max_leaves=25,
)
topic = st.fixed_dictionaries(
    {"name": st.text(max_size=40) | st.sampled_from(["orders.created.v1", "a.b.v1"])},
    optional={
        "partitions": values,
        "replication_factor": values,
        "configs": st.dictionaries(
            st.sampled_from(sorted(TOPIC_CONFIGS)) | st.text(max_size=20), values, max_size=5
        ),
        "description": values,
        "owner": values,
        "extra": values,
    },
)
spec_documents = st.fixed_dictionaries({"topics": st.lists(topic, max_size=4)}) | values


def check(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "kafkaplan.yaml").write_text(PROJECT)
        (root / "specs").mkdir()
        (root / "specs" / "fuzz.yaml").write_bytes(raw)
        problems: list[Diagnostic | None] = []
        try:
            load_desired(load_project(root / "kafkaplan.yaml"), None)
        except SpecError as exc:
            problems = [*exc.diagnostics] or [None]
        for diagnostic in problems:
            assert diagnostic is not None
            assert diagnostic.file, diagnostic
            assert diagnostic.message


def dump(document: Any) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode()


@FUZZ
@given(spec_documents)
def test_generated_documents(document: Any) -> None:
    check(dump(document))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(spec_documents, st.data())
def test_mutated_documents(document: Any, data: st.DataObject) -> None:
    """Valid-looking YAML with bytes flipped, cut or inserted."""
    raw = bytearray(dump(document))
    for _ in range(data.draw(st.integers(0, 4))):
        if not raw:
            break
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at:]
        else:
            raw[at:at] = data.draw(
                st.sampled_from([b"\t", b"&a ", b"*a", b"!!python/x ", b"[", b": ", b"\n- "])
            )
    check(bytes(raw))
