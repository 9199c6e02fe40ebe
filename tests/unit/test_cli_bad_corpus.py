"""Hostile and broken spec files (tests/corpus/bad), each through `kafkaplan validate` in a
subprocess with a memory and a CPU-time limit: a clear `file:line: message`, exit 1, no
traceback, bounded work and memory. The expected message of each is in EXPECTED.tsv.

The bounds are resource limits of the child process (the kernel ends a run that exceeds
them), not measurements of wall-clock time, so a loaded machine cannot make them flaky."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "bad"
MEMORY_LIMIT = 768 * 1024 * 1024  # address space of each validate run
CPU_LIMIT = 20  # CPU seconds of each validate run; typical runs use < 2
BOMB_CPU_LIMIT = 5  # CPU seconds for a file built to expand or nest without end
HANG_GUARD = 300.0  # wall-clock seconds before a run that never ends is killed

PROJECT = """\
specs: [specs]
environments:
  t:
    kafka: {bootstrap_servers: "127.0.0.1:1"}
    defaults: {replication_factor: 1}
"""


def expected() -> dict[str, tuple[int, str]]:
    table = {}
    for line in (CORPUS / "EXPECTED.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, number, message = line.split("\t")
        table[name] = (int(number), message)
    return table


def generate(folder: Path) -> None:
    """The inputs too large to keep in git."""
    (folder / "GENERATED-huge.yaml").write_text("topics: []\n" + "#" * 9_000_000 + "\n")
    # Just under the size limit, with far too many values: refused early all the same.
    items = "".join(f"  - {i}\n" for i in range(750_000))
    (folder / "GENERATED-just-under-limit.yaml").write_text("topics:\n" + items)


def limits(cpu_seconds: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    return apply


def validate(
    project: Path, spec: Path, cpu_seconds: int = CPU_LIMIT
) -> subprocess.CompletedProcess[str]:
    """A run that exceeds its CPU limit is killed by SIGXCPU (a negative return code)."""
    return subprocess.run(
        [sys.executable, "-m", "kafkaplan", "--project", str(project), "validate", str(spec)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        preexec_fn=limits(cpu_seconds),
        cwd=project.parent,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )


def test_every_bad_file_is_in_the_table() -> None:
    files = {p.name for p in CORPUS.glob("*.yaml")}
    listed = {name for name in expected() if not name.startswith("GENERATED-")}
    assert files == listed


def test_bad_corpus_through_the_cli(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(CORPUS, specs)
    generate(specs)
    project = tmp_path / "kafkaplan.yaml"
    project.write_text(PROJECT)
    table = expected()
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(
            zip(
                table,
                pool.map(lambda name: validate(project, specs / name), table),
                strict=True,
            )
        )
    problems = []
    for name, result in runs.items():
        line, message = table[name]
        where = f"specs/{name}:{line}: "
        errors = result.stderr.splitlines()
        if result.returncode != 1:
            problems.append(f"{name}: exit {result.returncode}: {result.stderr[-500:]}")
        elif "Traceback" in result.stderr or "Internal error" in result.stderr:
            problems.append(f"{name}: {result.stderr[-500:]}")
        elif not any(e.startswith(where) and message in e for e in errors):
            problems.append(f"{name}: expected {where}...{message}, got {errors}")
    assert not problems, "\n".join(problems)
    assert len(runs) >= 30


@pytest.mark.parametrize("name", ["alias_bomb.yaml", "deep_nesting.yaml"])
def test_bombs_fail_fast(tmp_path: Path, name: str) -> None:
    (tmp_path / "specs").mkdir()
    shutil.copy(CORPUS / name, tmp_path / "specs" / name)
    (tmp_path / "kafkaplan.yaml").write_text(PROJECT)
    result = validate(tmp_path / "kafkaplan.yaml", tmp_path / "specs" / name, BOMB_CPU_LIMIT)
    assert result.returncode == 1, result.stderr[-500:]
    assert f"specs/{name}:" in result.stderr
