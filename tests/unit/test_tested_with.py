"""The README's "Tested with" table says what `make test` really runs: one row per
combination of scripts/run-matrix, with the versions scripts/stack starts."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REGISTRIES = {
    "apicurio": "Apicurio Registry {APICURIO_VERSION}",
    "axonops": "AxonOps Schema Registry {AXONOPS_VERSION}",
}


def stack_versions() -> dict[str, str]:
    text = (REPO / "scripts" / "stack").read_text()
    return dict(re.findall(r"^([A-Z_]+_VERSION)=(\S+)$", text, flags=re.M))


def combinations() -> list[tuple[str, str, str, str]]:
    """(name, Kafka version, registry kind, pytest selection) of each combination."""
    text = (REPO / "scripts" / "run-matrix").read_text()
    block = re.search(r"^COMBINATIONS=\((.*?)^\)", text, flags=re.S | re.M)
    assert block is not None, "scripts/run-matrix has no COMBINATIONS"
    rows = []
    for line in re.findall(r'"([^"]+)"', block.group(1)):
        name, version, registry, *expression = line.split()
        selection = f"-m {' '.join(expression)}" if expression else ""
        rows.append((name, version, registry.removesuffix("+auth"), selection))
    return rows


def table() -> list[list[str]]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Tested with", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| Kafka")
    ]


def test_every_combination_has_its_row_and_no_row_is_untested() -> None:
    versions = stack_versions()
    expected = []
    for _, kafka, registry, selection in combinations():
        registry_name = REGISTRIES[registry].format(**versions)
        tests = f"`{selection}`" if selection else "the whole suite"
        expected.append((kafka, registry_name, tests))
    rows = [(re.sub(r" \(.*\)$", "", r[0]), r[1], r[2]) for r in table()]
    assert rows == expected


def test_the_default_row_is_the_stacks_default() -> None:
    versions = stack_versions()
    [default] = [r for r in table() if "default" in r[0]]
    assert default[0].startswith(versions["DEFAULT_KAFKA_VERSION"])
    assert "the whole suite" in default[2]
