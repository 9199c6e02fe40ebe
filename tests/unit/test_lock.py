"""The lock files (make lock) pin, with hashes, a version of every dependency that
pyproject.toml's ranges allow."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: Path) -> dict[str, str]:
    """name -> version, after checking that every pin carries at least one hash."""
    found: dict[str, str] = {}
    entries = re.split(r"\n(?=\S)", lock.read_text())
    for entry in entries:
        match = PIN.match(entry)
        if match is None:
            assert entry.startswith("#") or not entry.strip(), entry
            continue
        assert "--hash=sha256:" in entry, f"{lock.name}: {match.group(1)} has no hash"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def project() -> dict[str, list[str]]:
    table = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {"": table["dependencies"], **table["optional-dependencies"]}


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", [""]), ("requirements-dev.lock", ["", "dev"])],
)
def test_the_lock_pins_every_dependency_within_its_range(lock: str, groups: list[str]) -> None:
    pinned = pins(REPO / lock)
    for group in groups:
        for line in project()[group]:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{lock} does not pin {name}: run `make lock`"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"{lock} pins {name}=={pinned[name]}, outside {requirement.specifier}: "
                "run `make lock`"
            )
            for extra in requirement.extras:
                assert extra, name


def test_the_runtime_lock_holds_no_development_tools() -> None:
    runtime = pins(REPO / "requirements.lock")
    for line in project()["dev"]:
        assert canonicalize_name(Requirement(line).name) not in runtime
