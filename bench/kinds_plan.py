"""What client quotas and SCRAM users cost a no-op plan of a large estate (a benchmark, not
a test).

Builds the estate of ``bench/scale.py`` (N topics with configs, 2 ACL bindings each, N/10
subjects), applies U SCRAM users and Q user quotas with ``kafkaplan apply`` itself, then
times no-op plans of the specs without and with those users and quotas declared,
interleaved, each in its own process (wall time, CPU time and peak RSS as ``bench/scale.py``
measures them), and prints the medians. Everything it made is deleted at the end, also
after a failure.

    eval "$(scripts/stack env)"
    .venv/bin/python -m bench.kinds_plan [--topics 10000] [--users 100] [--quotas 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from bench import scale
from kafkaplan.commands import connect, load_context
from kafkaplan.live.cluster import ScramChange
from kafkaplan.spec.quotas import QuotaEntity

PASSWORD_ENV = "KAFKAPLAN_BENCH_USER_PASSWORD"
MECHANISM = "SCRAM-SHA-512"


def user_name(prefix: str, index: int) -> str:
    return f"{prefix}-user{index:04d}"


def kinds_spec(prefix: str, users: int, quotas: int) -> str:
    lines = ["users:"]
    for i in range(users):
        lines += [
            f"  - name: {user_name(prefix, i)}",
            f"    mechanism: {MECHANISM}",
            "    iterations: 8192",
            f"    password_env: {PASSWORD_ENV}",
        ]
    lines.append("quotas:")
    for i in range(quotas):
        lines += [f"  - user: {user_name(prefix, i)}", "    producer_byte_rate: 10MiB/s"]
    return "\n".join(lines) + "\n"


def cleanup(project: Path, prefix: str, users: int, quotas: int) -> None:
    """Remove the users' credentials and the quotas (the estate is ``Estate.destroy``'s)."""
    context = load_context(project / "kafkaplan.yaml", None, specs=False)
    cluster = connect(context, read_only=False)
    try:
        failed: list[object] = [
            error
            for error in cluster.alter_user_scram_credentials(
                {user_name(prefix, i): ScramChange(deletions=(MECHANISM,)) for i in range(users)}
            ).values()
            if error is not None and "RESOURCE_NOT_FOUND" not in str(error.code)
        ]
        failed += [
            error
            for error in cluster.alter_quotas(
                {
                    QuotaEntity.of(user=user_name(prefix, i)): {"producer_byte_rate": None}
                    for i in range(quotas)
                }
            ).values()
            if error is not None
        ]
        if failed:
            raise RuntimeError(f"users and quotas not all removed: {failed[:3]}")
    finally:
        cluster.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=10000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--quotas", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args(argv)
    estate = scale.Estate(prefix="k" + uuid.uuid4().hex[:7])
    os.environ[PASSWORD_ENV] = uuid.uuid4().hex
    subjects = options.topics // 10
    with tempfile.TemporaryDirectory(prefix="kafkaplan-kinds-") as folder:
        project = Path(folder)
        kinds = project / "specs" / "kinds.yaml"
        try:
            started = time.perf_counter()
            estate.grow(options.topics, subjects)
            scale.write_project(project, estate.prefix, options.topics, 0, 0, subjects=subjects)
            kinds.write_text(kinds_spec(estate.prefix, options.users, options.quotas))
            scale.measure(
                scale.kafkaplan(project, "apply", "--auto-approve"), cwd=project, expect=[0]
            )
            print(
                f"estate of {options.topics} topics, {options.users} users and "
                f"{options.quotas} quotas ready in {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
            samples: dict[str, list[scale.Sample]] = {"without": [], "with": []}
            plan = scale.kafkaplan(project, "plan", "--detailed-exitcode")
            for run in range(options.runs):
                print(f"  run {run + 1}/{options.runs}", file=sys.stderr, flush=True)
                kinds.unlink()
                samples["without"].append(scale.measure(plan, cwd=project, expect=[0]))
                kinds.write_text(kinds_spec(estate.prefix, options.users, options.quotas))
                samples["with"].append(scale.measure(plan, cwd=project, expect=[0]))
        finally:
            try:
                cleanup(project, estate.prefix, options.users, options.quotas)
            finally:
                estate.destroy()
    without = statistics.median(s.seconds for s in samples["without"])
    print(f"| no-op plan, {options.topics:,} topics | wall | CPU | peak RSS |")
    print("|---|---:|---:|---:|")
    for name, label in (
        ("without", "without users and quotas"),
        ("with", f"with {options.users} users and {options.quotas} quotas declared"),
    ):
        runs = samples[name]
        wall = statistics.median(s.seconds for s in runs)
        print(
            f"| {label} | {wall:.2f} s ({min(s.seconds for s in runs):.2f}-"
            f"{max(s.seconds for s in runs):.2f}) | "
            f"{statistics.median(s.cpu_seconds for s in runs):.2f} s | "
            f"{max(s.peak_mb for s in runs):.0f} MB |"
        )
    with_ = statistics.median(s.seconds for s in samples["with"])
    print(f"\nwith / without: {with_ / without:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
