"""resolve_inside: references to files stay inside the project folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kafkaplan.errors import SpecError
from kafkaplan.spec.paths import resolve_inside


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "schemas" / "nested").mkdir(parents=True)
    (project / "schemas" / "order.avsc").write_text("{}")
    (project / "schemas" / "nested" / "item.avsc").write_text("{}")
    (tmp_path / "secret.txt").write_text("do not read")
    os.symlink(tmp_path / "secret.txt", project / "schemas" / "escape.avsc")
    os.symlink(tmp_path, project / "schemas" / "outside")
    os.symlink(project / "schemas" / "order.avsc", project / "schemas" / "alias.avsc")
    os.symlink(project / "schemas" / "loop", project / "schemas" / "loop")
    return project


def refused(root: Path, relative: str) -> str:
    with pytest.raises(SpecError) as info:
        resolve_inside(root, relative, "specs/a.yaml", 7)
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.file, diagnostic.line) == ("specs/a.yaml", 7)
    return str(diagnostic)


def test_files_inside_are_resolved(root: Path) -> None:
    assert resolve_inside(root, "schemas/order.avsc", "f", 1) == root / "schemas" / "order.avsc"
    assert resolve_inside(root, "schemas/nested/../order.avsc", "f", 1).name == "order.avsc"
    # a symlink that stays inside is fine
    assert resolve_inside(root, "schemas/alias.avsc", "f", 1).name == "order.avsc"


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("../secret.txt", "leaves the project folder through '..'"),
        ("schemas/../../secret.txt", "leaves the project folder through '..'"),
        ("schemas/escape.avsc", "leaves the project folder through a symlink"),
        ("schemas/outside/secret.txt", "leaves the project folder through a symlink"),
        ("/etc/passwd", "is absolute"),
        ("~/x", "is absolute"),
        ("", "empty file reference"),
        ("  ", "empty file reference"),
        ("a\x00b", "NUL byte"),
        ("schemas/missing.avsc", "does not exist"),
        ("schemas/nested", "is not a file"),
    ],
)
def test_references_that_leave_or_miss_are_refused(
    root: Path, relative: str, expected: str
) -> None:
    text = refused(root, relative)
    assert text.startswith("specs/a.yaml:7: ")
    assert expected in text
    assert "do not read" not in text


def test_symlink_loops_are_refused(root: Path) -> None:
    text = refused(root, "schemas/loop")
    assert "specs/a.yaml:7:" in text
