"""How long `kafkaplan plan` takes with many ACL bindings (a benchmark, not a test).

Creates N bindings (default 10,000) on the broker for one throwaway principal under a unique
prefix (batched create_acls), writes specs declaring exactly those bindings (compact raw
entries) and a project owning that principal, times `plan` in-process (median of the runs),
prints the figures and deletes the bindings again (exact filters, batched).

    eval "$(scripts/stack env)"
    .venv/bin/python -m bench.acl_plan [--bindings 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from bench.scale import exact
from kafkaplan.commands import connect, load_context, make_plan

CHUNK = 5_000  # a KRaft controller refuses one operation writing over 10,000 records
NAMES_PER_ENTRY = 100
OPERATIONS = (AclOperation.READ, AclOperation.DESCRIBE)

PROJECT = """\
specs: [specs]
default_environment: bench
environments:
  bench:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: ${{env:KAFKAPLAN_SASL_USERNAME}}
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
      timeout: 60s
acls:
  ownership:
    - team: bench
      principals: ["{principal}"]
      resource_prefixes: ["{prefix}"]
max_destroy: 0
"""


def admin_client() -> AdminClient:
    return AdminClient(
        {
            "bootstrap.servers": os.environ["KAFKAPLAN_BOOTSTRAP_SERVERS"],
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": os.environ["KAFKAPLAN_SASL_USERNAME"],
            "sasl.password": os.environ["KAFKAPLAN_SASL_PASSWORD"],
        }
    )


def topic_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}t{i:06d}.events.v1" for i in range(count)]


def bindings(principal: str, names: list[str]) -> list[AclBinding]:
    return [
        AclBinding(
            ResourceType.TOPIC,
            name,
            ResourcePatternType.LITERAL,
            principal,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for name in names
        for operation in OPERATIONS
    ]


def run_batched(call: Any, items: list[Any]) -> None:
    for start in range(0, len(items), CHUNK):
        for future in call(items[start : start + CHUNK], request_timeout=60).values():
            future.result()


def write_project(root: Path, principal: str, prefix: str, names: list[str]) -> Path:
    (root / "kafkaplan.yaml").write_text(PROJECT.format(principal=principal, prefix=prefix))
    specs = root / "specs"
    specs.mkdir()
    lines = ["acls:"]
    for start in range(0, len(names), NAMES_PER_ENTRY):
        lines.append(f'  - principal: "{principal}"')
        lines.append("    resource_type: topic")
        lines.append("    operations: [READ, DESCRIBE]")
        lines.append("    names:")
        lines.extend(f"      - {name}" for name in names[start : start + NAMES_PER_ENTRY])
    (specs / "bench.yaml").write_text("\n".join(lines) + "\n")
    return root / "kafkaplan.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description="Time `kafkaplan plan` with many ACLs.")
    parser.add_argument("--bindings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    principal = f"User:{prefix}kafkaplan-bench"
    names = topic_names(prefix, args.bindings // len(OPERATIONS))
    created = bindings(principal, names)
    admin = admin_client()
    started = time.perf_counter()
    run_batched(admin.create_acls, created)
    print(f"created {len(created)} bindings in {time.perf_counter() - started:.1f}s")
    try:
        with tempfile.TemporaryDirectory() as folder:
            project = write_project(Path(folder), principal, prefix, names)
            timings = []
            plan = None
            for _ in range(args.runs):
                started = time.perf_counter()
                context = load_context(project, None)
                cluster = connect(context, read_only=True)
                plan = make_plan(context, cluster)
                timings.append(time.perf_counter() - started)
                cluster.close()
            assert plan is not None
            managed = sum(a.startswith("acl.") for a in plan.resource_fingerprints)
            print(
                f"plan: {managed} managed bindings, {len(plan.changes)} changes, "
                f"{len(plan.errors)} errors, {len(plan.unmanaged)} unmanaged"
            )
            print(
                f"plan time over {args.runs} runs: median {statistics.median(timings):.2f}s "
                f"(min {min(timings):.2f}s, max {max(timings):.2f}s)"
            )
    finally:
        started = time.perf_counter()
        run_batched(admin.delete_acls, [exact(b) for b in created])
        print(f"deleted them again in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
