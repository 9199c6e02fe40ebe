"""How long a no-op `kafkaplan plan` takes with many Schema Registry subjects (a benchmark,
not a test), and the same for another kafkaplan checkout, to compare registry clients.

Registers N subjects (default 1,000, each its own small Avro schema) under a unique prefix,
writes specs declaring exactly those subjects and a project owning the prefix, then makes
the plan `kafkaplan plan` makes (load, connect, read, compare; it must find nothing to
change) ``--runs`` times in separate processes, for this checkout and for each
``--compare DIR`` (a folder holding another version's ``kafkaplan`` package, e.g.
``git archive main kafkaplan | tar -x -C DIR``), the runs of the variants interleaved.
Prints the median and the spread (min-max) of each variant's process wall time and of the
plan's own time measured inside the process (apart from the interpreter's start and
imports, which dominate on a busy machine), and deletes the subjects again (also after a
failure).

    eval "$(scripts/stack env)"
    .venv/bin/python -m bench.registry_plan [--subjects 1000] [--runs 3] [--compare DIR]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 8

PROJECT = """\
specs: [specs]
default_environment: bench
ignore_topics: ['.*']
schemas:
  owned_subjects: ['{prefix}.']
environments:
  bench:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: ${{env:KAFKAPLAN_SASL_USERNAME}}
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
    schema_registry:
      url: ${{env:KAFKAPLAN_SCHEMA_REGISTRY_URL}}
"""


def registry_url() -> str:
    return os.environ["KAFKAPLAN_SCHEMA_REGISTRY_URL"].rstrip("/")


def http(method: str, path: str, body: Any = None) -> Any:
    """One registry request; a dropped connection is tried again (every request here is
    idempotent: registering a schema a subject has returns its id)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{registry_url()}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    for attempt in range(3):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
            return json.loads(text) if text else None
        except ConnectionError:
            if attempt == 2:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def subject_name(prefix: str, index: int) -> str:
    return f"{prefix}.s{index:05d}"


def schema(index: int) -> dict[str, Any]:
    return {
        "type": "record",
        "name": f"Event{index}",
        "namespace": "bench",
        "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}],
    }


def quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def register(prefix: str, count: int) -> None:
    def one(index: int) -> None:
        body = {"schema": json.dumps(schema(index))}
        http("POST", f"/subjects/{quote(subject_name(prefix, index))}/versions", body)

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, range(count)))


def delete(prefix: str, count: int) -> None:
    def one(index: int) -> None:
        subject = quote(subject_name(prefix, index))
        for suffix in ("", "?permanent=true"):
            with contextlib.suppress(urllib.error.HTTPError):  # e.g. already deleted
                http("DELETE", f"/subjects/{subject}{suffix}")

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, range(count)))


def write_project(folder: Path, prefix: str, count: int) -> Path:
    (folder / "specs" / "schemas").mkdir(parents=True)
    entries = []
    for index in range(count):
        name = f"e{index:05d}.avsc"
        (folder / "specs" / "schemas" / name).write_text(json.dumps(schema(index)))
        entries.append(f"  - name: {subject_name(prefix, index)}\n    file: schemas/{name}\n")
    (folder / "specs" / "subjects.yaml").write_text("subjects:\n" + "".join(entries))
    project = folder / "kafkaplan.yaml"
    project.write_text(PROJECT.format(prefix=prefix))
    return project


# Run in the measured process: the plan as `kafkaplan plan` makes it (load, connect, read,
# compare), timed inside the process as well, apart from the interpreter's start and imports.
PLAN_SCRIPT = """
import json, sys, time
from pathlib import Path
from kafkaplan.commands import connect, connect_registry, load_context, make_plan
started = time.perf_counter()
context = load_context(Path(sys.argv[1]), None)
cluster = connect(context, read_only=True)
registry = connect_registry(context, read_only=True)
plan = make_plan(context, cluster, registry)
took = time.perf_counter() - started
print(json.dumps({"seconds": took, "changes": plan.has_changes, "errors": len(plan.errors)}))
"""


def timed_plan(project: Path, package: Path | None) -> tuple[float, float]:
    """One no-op plan in its own process: (the process's wall time, the plan's own time).
    ``package``: a folder whose ``kafkaplan`` is used instead of this checkout's."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(package or ROOT)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PLAN_SCRIPT, str(project)],
        cwd=project.parent,  # not this checkout: PYTHONPATH decides which kafkaplan runs
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"plan exited {result.returncode}:\n{result.stdout}{result.stderr}")
    answer = json.loads(result.stdout.splitlines()[-1])
    if answer["changes"] or answer["errors"]:
        raise SystemExit(f"the plan is not a no-op: {answer}")
    return took, float(answer["seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder holding another kafkaplan package to time as well",
    )
    args = parser.parse_args(argv)
    prefix = "bench" + uuid.uuid4().hex[:8]
    variants: dict[str, Path | None] = {"this checkout": None}
    variants.update({str(folder): folder.resolve() for folder in args.compare})
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="kafkaplan-bench-") as temporary:
        project = write_project(Path(temporary), prefix, args.subjects)
        started = time.perf_counter()
        register(prefix, args.subjects)
        print(
            f"registered {args.subjects} subjects under {prefix}. in "
            f"{time.perf_counter() - started:.1f}s"
        )
        try:
            for package in variants.values():
                timed_plan(project, package)  # warm-up: caches, the registry's JIT
            for run in range(args.runs):
                for name, package in variants.items():
                    wall, planned = timed_plan(project, package)
                    times[name].append((wall, planned))
                    print(
                        f"run {run + 1}: {name}: process {wall:.2f}s, plan {planned:.2f}s",
                        flush=True,
                    )
        finally:
            delete(prefix, args.subjects)
    print(f"\nno-op plan, {args.subjects} subjects, {args.runs} runs each:")
    for name, runs in times.items():
        for label, values in (("process", [w for w, _ in runs]), ("plan", [p for _, p in runs])):
            print(
                f"  {name:<32} {label:<8} median {statistics.median(values):6.2f}s  "
                f"(min {min(values):.2f}s, max {max(values):.2f}s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
