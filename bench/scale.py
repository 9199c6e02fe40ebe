"""How kafkaplan scales: plan, apply (and drift, import where the CLI has them) on estates of
thousands of topics, ACL bindings and registry subjects, against a real stack.

    eval "$(scripts/stack env)"   # any stack: the shared one at small sizes, your own for big runs
    .venv/bin/python bench/scale.py --sizes 1000,5000,10000,50000 --runs 3

For each size N it builds (incrementally, smallest size first) an estate of N topics with
configs (1 partition each, created with batched create_topics), 2 ACL bindings per topic
(batched create_acls) and N/10 registry subjects (registered concurrently over HTTP),
writes the matching specs, then measures, ``--runs`` times each, in separate processes:

- ``plan`` with nothing to change (no-op), and with ~1% of the topics changed;
- ``apply`` creating 1,000 more topics (deleted again after each run);
- ``drift`` and ``import``, if this kafkaplan has those commands;
- the floor: the same reads done directly with confluent-kafka in the fewest batched calls
  (one metadata request, describe-configs for all topics in requests of 1,000 sent at
  once, one describe-acls call) plus the registry reads (the subject list and each
  subject's latest version), concurrently. ``floor(all)`` reads everything the specs
  declare and is what the ratio compares with; ``floor(topics)`` only the topics, for
  reference.

Each measurement is the wall time, the CPU time (user + system) and the peak RSS
(``wait4``'s rusage) of the process, with the 1-minute load average when it started (on a
shared machine wall times are only comparable at a similar load; CPU times less so). Each
process starts once the machine is quiet (under 15% of its CPU busy for a second, waiting
at most 90 s): the broker and the registry run on the same cores, and after an estate is
built or an apply's topics are deleted they keep working in the background for a while. The
table, in the README's shape, shows medians and the spread (min-max) of the wall times,
each command's ratio to the floor (and import's to the no-op plan); the JSON (every run)
goes to bench/results/. 10,000 topics fit a broker with a 3 GiB heap
(``KAFKAPLAN_STACK_KAFKA_HEAP=3g``). A broker keeps files open per partition: where a
process may open at most 20,000 files (``ulimit -n``), one broker failed with "Too many open
files" at about 37,000 topics (sooner while the files of deleted topics are still open), so
50,000 topics need several brokers (``scripts/stack up --brokers 4``, 3 GiB each, and
``KAFKAPLAN_STACK_CONTROLLER_HEAP=2g`` for the controller); their specs are written in files
of 5,000 topics. Everything the benchmark creates is named with a unique prefix and deleted
at the end, also after a failure (``--keep`` leaves it, and ``--prefix`` measures it again).
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
APPLY_TOPICS = 1000
BATCH = 1000  # resources per admin request when building the estate
PRINCIPAL = "User:bench-app"
# confluent-kafka's filters take None for "any" (its type hints say str).
ANY: Any = None
# How long the benchmark waits for the metadata to show what it created or deleted: a
# loaded broker takes longer with every thousand topics.
SETTLE_SECONDS_BASE = 300
SETTLE_SECONDS_PER_1000_TOPICS = 60
# Topics per DescribeConfigs request of the floor: one request for 10,000 topics makes a
# broker with a 512 MiB heap run out of memory, and is slower than a few in flight at once.
FLOOR_DESCRIBE_CHUNK = 1000
ACL_DELETE_BATCH = 100  # exact-match filters per DeleteAcls request (see delete_bindings)
# Topics per spec file (with their bindings).
SPEC_FILE_TOPICS = 5000
# Before each measured process the benchmark waits (at most QUIET_MAX_WAIT_S) until the
# machine is quiet: less than QUIET_BUSY_FRACTION of its CPU time busy over QUIET_WINDOW_S.
# The broker and the registry share the machine's cores, and after an estate is built or
# an apply's topics are deleted they go on working (deleting logs, writing snapshots) for
# a while: work that would be charged to whatever is measured next.
QUIET_BUSY_FRACTION = 0.15
QUIET_WINDOW_S = 1.0
QUIET_MAX_WAIT_S = 90.0


# ---------------------------------------------------------------------------------------
# Connection settings (the stack's `scripts/stack env`)
# ---------------------------------------------------------------------------------------


def client_config() -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": os.environ["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        "security.protocol": os.environ.get("KAFKAPLAN_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
    }
    if config["security.protocol"].startswith("SASL"):
        config["sasl.mechanism"] = os.environ.get("KAFKAPLAN_SASL_MECHANISM", "SCRAM-SHA-512")
        config["sasl.username"] = os.environ.get("KAFKAPLAN_SASL_USERNAME", "admin")
        config["sasl.password"] = os.environ["KAFKAPLAN_SASL_PASSWORD"]
    return config


def registry_url() -> str:
    return os.environ["KAFKAPLAN_SCHEMA_REGISTRY_URL"].rstrip("/")


def http(method: str, url: str, body: Any = None) -> Any:
    """One registry request; a dropped connection is retried (the benchmark's requests are
    idempotent: registering an existing schema returns its id)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    for attempt in range(3):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
            return json.loads(text) if text else None
        except ConnectionError:  # e.g. RemoteDisconnected
            if attempt == 2:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------
# The estate
# ---------------------------------------------------------------------------------------


def list_subjects(prefix: str) -> list[str]:
    """The registry's subjects starting with ``prefix``, page by page: Apicurio's
    ``GET /subjects`` answers at most 1,000 unless asked for more (``offset``/``limit``)."""
    found: set[str] = set()
    offset = 0
    while True:
        query = urllib.parse.urlencode({"subjectPrefix": prefix, "offset": offset, "limit": 1000})
        page = {str(s) for s in http("GET", f"{registry_url()}/subjects?{query}")}
        new = {s for s in page if s.startswith(prefix)} - found
        found |= new
        if len(page) < 1000 or not new:
            return sorted(found)
        offset += len(page)


def settle_seconds(topics: int) -> int:
    return SETTLE_SECONDS_BASE + SETTLE_SECONDS_PER_1000_TOPICS * topics // 1000


def topic_name(prefix: str, index: int) -> str:
    return f"{prefix}.t{index:05d}.v1"


def subject_name(prefix: str, index: int) -> str:
    return f"{prefix}.t{index:05d}.v1-value"


def topic_configs(index: int) -> dict[str, str]:
    return {"retention.ms": str((1 + index % 7) * 86_400_000), "cleanup.policy": "delete"}


def schema(index: int) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": f"Event{index}",
            "namespace": "bench",
            "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}],
        }
    )


def chunked(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def exact(binding: Any) -> Any:
    """The filter that matches ``binding`` (a confluent-kafka AclBinding) alone."""
    from confluent_kafka.admin import AclBindingFilter

    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


@dataclass
class Estate:
    prefix: str
    topics: int = 0
    subjects: int = 0
    extra_topics: list[str] = field(default_factory=list)

    def admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient(client_config())

    def grow(self, topics: int, subjects: int) -> None:
        from confluent_kafka.admin import (
            AclBinding,
            AclOperation,
            AclPermissionType,
            NewTopic,
            ResourcePatternType,
            ResourceType,
        )

        admin = self.admin()
        new = [
            NewTopic(topic_name(self.prefix, i), 1, 1, config=topic_configs(i))
            for i in range(self.topics, topics)
        ]
        for batch in chunked(new, BATCH):
            for future in admin.create_topics(list(batch), operation_timeout=120).values():
                future.result()
        bindings = [
            AclBinding(
                ResourceType.TOPIC,
                topic_name(self.prefix, i),
                ResourcePatternType.LITERAL,
                PRINCIPAL,
                "*",
                operation,
                AclPermissionType.ALLOW,
            )
            for i in range(self.topics, topics)
            for operation in (AclOperation.READ, AclOperation.WRITE)
        ]
        for batch in chunked(bindings, BATCH):
            for future in admin.create_acls(list(batch), request_timeout=120).values():
                future.result()
        self.topics = topics
        # Created topics and bindings reach the broker's metadata image (which answers
        # Metadata and DescribeAcls) a little after the controller committed them; under
        # the load of thousands of changes, seconds later. Measure only then.
        wanted = {topic_name(self.prefix, i) for i in range(topics)}
        deadline = time.monotonic() + settle_seconds(topics)
        if bindings:
            # A broker applies the metadata log in order: wait (cheaply) for the last binding
            # created before reading everything, which at 100,000 bindings loads the brokers.
            self.await_binding(admin, bindings[-1], deadline)
        while True:
            shown = len(wanted & set(admin.list_topics(timeout=60).topics))
            bound = sum(b.name in wanted for b in self.bindings(admin))
            if shown == topics and bound == 2 * topics:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"after {settle_seconds(topics)}s the metadata shows {shown} of {topics} "
                    f"topics and {bound} of {2 * topics} bindings"
                )
            time.sleep(1)

        def register(index: int) -> None:
            http(
                "POST",
                f"{registry_url()}/subjects/{subject_name(self.prefix, index)}/versions",
                {"schema": schema(index), "schemaType": "AVRO"},
            )

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(register, range(self.subjects, subjects)))
        self.subjects = subjects

    def await_binding(self, admin: Any, binding: Any, deadline: float) -> None:
        """Until the broker answering shows ``binding`` (asked with an exact filter)."""
        while not admin.describe_acls(exact(binding), request_timeout=60).result():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker does not show {binding} yet")
            time.sleep(1)

    def delete_topics(self, names: Sequence[str]) -> None:
        admin = self.admin()
        for batch in chunked(list(names), BATCH):
            for future in admin.delete_topics(list(batch), operation_timeout=120).values():
                try:
                    future.result()
                except Exception as exc:  # already gone: fine
                    if "UNKNOWN_TOPIC" not in str(exc):
                        raise
        # Deleted topics leave the metadata a little later: the next measurement starts then.
        doomed = set(names)
        deadline = time.monotonic() + settle_seconds(len(doomed))
        while doomed & set(admin.list_topics(timeout=60).topics):
            if time.monotonic() > deadline:
                raise RuntimeError("deleted topics still show up in the metadata")
            time.sleep(0.5)

    def bindings(self, admin: Any) -> list[Any]:
        """The bench principal's bindings on topics under the prefix."""
        from confluent_kafka.admin import (
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        acl_filter = AclBindingFilter(
            ResourceType.TOPIC,
            ANY,
            ResourcePatternType.LITERAL,
            PRINCIPAL,
            ANY,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        found = admin.describe_acls(acl_filter, request_timeout=120).result()
        return [b for b in found if b.name.startswith(self.prefix)]

    def delete_bindings(self, names: set[str] | None = None) -> None:
        """Delete the bench principal's bindings on ``names`` (all under the prefix if
        None), and wait until the broker no longer reports them."""
        admin = self.admin()
        deadline = time.monotonic() + settle_seconds(self.topics)
        while doomed := [b for b in self.bindings(admin) if names is None or b.name in names]:
            if time.monotonic() > deadline:
                raise RuntimeError("deleted bindings are still reported")
            # A controller compares every delete filter with every binding: 1,000 filters
            # against 100,000 bindings took longer than librdkafka's 60 s request timeout.
            for batch in chunked(doomed, ACL_DELETE_BATCH):
                filters = [exact(b) for b in batch]
                for future in admin.delete_acls(filters, request_timeout=120).values():
                    future.result()
            time.sleep(0.5)

    def destroy(self) -> None:
        """Delete every topic, binding and subject under the prefix."""
        admin = self.admin()
        names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(self.prefix)]
        self.delete_topics(names)
        self.delete_bindings()
        subjects = list_subjects(self.prefix)

        def forget(subject: str) -> None:
            for suffix in ("", "?permanent=true"):
                with contextlib.suppress(urllib.error.HTTPError):
                    http("DELETE", f"{registry_url()}/subjects/{subject}{suffix}")

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(forget, subjects))


def spec_coverage() -> list[str]:
    """Which resource types this kafkaplan's spec format can declare."""
    from kafkaplan.spec.models import SpecFile

    fields = SpecFile.model_fields
    return [kind for kind in ("topics", "acls", "subjects") if kind in fields]


def write_project(
    root: Path,
    prefix: str,
    topics: int,
    changed: int,
    extra: int,
    subjects: int = 0,
    acls: bool = True,
) -> None:
    """The project and specs matching the estate; ``changed`` topics get another retention,
    ``extra`` more topics are declared (to be created, with their bindings). Where the spec
    format has them, the estate's ACL bindings (unless ``acls`` is false: a project of the
    topics alone) and subjects are declared too."""
    covered = spec_coverage()
    (root / "specs" / "schemas").mkdir(parents=True, exist_ok=True)
    registry = (
        "    schema_registry:\n      url: ${env:KAFKAPLAN_SCHEMA_REGISTRY_URL}\n"
        if "subjects" in covered
        else ""
    )
    (root / "kafkaplan.yaml").write_text(
        "specs: [specs]\n"
        "default_environment: bench\n"
        "environments:\n"
        "  bench:\n"
        "    kafka:\n"
        "      bootstrap_servers: ${env:KAFKAPLAN_BOOTSTRAP_SERVERS}\n"
        "      security_protocol: SASL_PLAINTEXT\n"
        "      sasl_mechanism: SCRAM-SHA-512\n"
        "      sasl_username: ${env:KAFKAPLAN_SASL_USERNAME}\n"
        "      sasl_password_env: KAFKAPLAN_SASL_PASSWORD\n"
        "      timeout: 120s\n"
        f"{registry}"
        "    defaults: {partitions: 1, replication_factor: 1}\n"
    )
    step = max(1, topics // changed) if changed else 0
    for old in (root / "specs").glob("topics*.yaml"):
        old.unlink()
    new_topics = [f"{prefix}.new{j:05d}.v1" for j in range(extra)]
    # One file per SPEC_FILE_TOPICS topics with their bindings, as a large estate is kept (a
    # spec document holds at most 200,000 values: kafkaplan.spec.source.MAX_NODES).
    names = [topic_name(prefix, i) for i in range(topics)]
    files = [
        (start, names[start : start + SPEC_FILE_TOPICS])
        for start in range(0, topics, SPEC_FILE_TOPICS)
    ] or [(0, [])]
    for number, (start, chunk) in enumerate(files):
        last = number == len(files) - 1
        lines = ["topics:"]
        for i in range(start, start + len(chunk)):
            configs = topic_configs(i)
            if step and i % step == 0 and changed:
                configs = {**configs, "retention.ms": str(int(configs["retention.ms"]) + 3_600_000)}
            lines.append(f"  - name: {names[i]}")
            if "subjects" in covered and i < subjects:
                schema_file = root / "specs" / "schemas" / f"e{i:05d}.avsc"
                if not schema_file.exists():
                    schema_file.write_text(schema(i))
                lines.append(f"    value_schema: schemas/e{i:05d}.avsc")
            lines.append("    configs:")
            lines.extend(f"      {k}: '{v}'" for k, v in configs.items())
        if last:
            for name in new_topics:
                lines.append(f"  - name: {name}")
                lines.append("    configs: {retention.ms: 1d}")
        if acls and "acls" in covered:
            # The bench application reads and writes every topic: compact entries of 50 names.
            lines.append("acls:")
            for group in chunked([*chunk, *(new_topics if last else [])], 50):
                lines.append(f"  - principal: {PRINCIPAL}")
                lines.append("    resource_type: topic")
                lines.append("    operations: [READ, WRITE]")
                lines.append("    names: [" + ", ".join(group) + "]")
        file = "topics.yaml" if len(files) == 1 else f"topics-{number:02d}.yaml"
        (root / "specs" / file).write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------
# Measuring a process
# ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    peak_mb: float
    code: int
    cpu_seconds: float = 0.0
    load: float = 0.0  # 1-minute load average when the process started
    quiet_wait: float = 0.0  # seconds waited for a quiet machine before it started
    busy: float = 0.0  # the machine's busy fraction (of all cores) just before it started


def _cpu_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, all of it and the idle part (``/proc/stat``)."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    return sum(ticks), ticks[3] + ticks[4]  # idle and iowait


def wait_for_quiet() -> tuple[float, float]:
    """Wait until the machine is quiet (see QUIET_BUSY_FRACTION), at most QUIET_MAX_WAIT_S:
    the seconds waited and the busy fraction of the last window."""
    start = time.monotonic()
    while True:
        total, idle = _cpu_ticks()
        time.sleep(QUIET_WINDOW_S)
        total_after, idle_after = _cpu_ticks()
        busy = 1 - (idle_after - idle) / max(1, total_after - total)
        waited = time.monotonic() - start
        if busy < QUIET_BUSY_FRACTION or waited >= QUIET_MAX_WAIT_S:
            return waited, busy


# The measured process is started, and waited for, by a small launcher (a fresh interpreter
# without site imports) rather than by the benchmark: a process's peak RSS (ru_maxrss)
# starts at what its parent held when it was started (exec records the high-water mark of
# the memory it replaces: the parent's, shared by a vfork child and copied by a fork), and
# the benchmark holds the estate, so every process it started directly was reported at
# least as large as the benchmark itself. The launcher writes the process's wall time,
# status and rusage to the file named by its first argument.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as report:
    json.dump({"seconds": seconds, "status": status, "maxrss_kb": usage.ru_maxrss,
               "cpu_seconds": usage.ru_utime + usage.ru_stime}, report)
"""


def measure(
    command: Sequence[str], *, cwd: Path, expect: Iterable[int], output: Path | None = None
) -> Sample:
    """Wall time and peak RSS of one process (its own rusage, from wait4, in LAUNCHER),
    started once the machine is quiet; its standard output, then its standard error, go to
    ``output`` if given (to check what it said)."""
    quiet_wait, busy = wait_for_quiet()
    load = os.getloadavg()[0]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as scratch,
    ):
        report = Path(scratch) / "rusage.json"
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(report), *command]
        subprocess.run(launcher, cwd=cwd, stdout=out, stderr=err, check=False)
        out.seek(0)
        err.seek(0)
        said, complaint = out.read(), err.read()
        if output is not None:
            output.write_bytes(said + complaint)
        if not report.exists():  # the launcher failed (e.g. no such program)
            raise RuntimeError(f"{' '.join(command)} did not run:\n{complaint.decode()[-3000:]}")
        measured = json.loads(report.read_text())
        code = os.waitstatus_to_exitcode(measured["status"])
        if code not in set(expect):
            raise RuntimeError(
                f"{' '.join(command)} exited {code}:\n"
                f"{complaint.decode()[-3000:]}\n{said.decode()[-3000:]}"
            )
    return Sample(
        measured["seconds"],
        measured["maxrss_kb"] / 1024,
        code,
        cpu_seconds=measured["cpu_seconds"],
        load=load,
        quiet_wait=quiet_wait,
        busy=busy,
    )


def kafkaplan(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kafkaplan", "--project", str(project / "kafkaplan.yaml"), *args]


def cli_commands() -> set[str]:
    from kafkaplan.cli import cli

    return set(cli.commands)


# ---------------------------------------------------------------------------------------
# The floor: the same reads with confluent-kafka, fewest batched calls
# ---------------------------------------------------------------------------------------


def floor(prefix: str, scope: str) -> dict[str, float]:
    """Run in a child process (``bench/scale.py floor PREFIX SCOPE``) so that, like
    kafkaplan, it pays for interpreter start-up and imports."""
    start = time.perf_counter()
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ConfigResource,
        ResourcePatternType,
        ResourceType,
    )

    timings: dict[str, float] = {}
    admin = AdminClient(client_config())
    registry: concurrent.futures.Future[Any] | None = None
    pool = concurrent.futures.ThreadPoolExecutor(16)

    def read_registry() -> int:
        subjects = list_subjects(prefix)
        latest = list(
            pool.map(
                lambda s: http("GET", f"{registry_url()}/subjects/{s}/versions/latest"), subjects
            )
        )
        return len(latest)

    if scope == "all":
        registry = pool.submit(read_registry)
    t = time.perf_counter()
    metadata = admin.list_topics(timeout=60)
    names = [n for n in metadata.topics if n.startswith(f"{prefix}.t")]
    timings["metadata"] = time.perf_counter() - t
    acls = None
    if scope == "all":
        acls = admin.describe_acls(
            AclBindingFilter(
                ResourceType.ANY,
                ANY,
                ResourcePatternType.ANY,
                ANY,
                ANY,
                AclOperation.ANY,
                AclPermissionType.ANY,
            ),
            request_timeout=60,
        )
    t = time.perf_counter()
    futures: dict[Any, Any] = {}
    for batch in chunked(names, FLOOR_DESCRIBE_CHUNK):  # all sent before any is awaited
        futures.update(
            admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, n) for n in batch], request_timeout=120
            )
        )
    configs = {resource.name: future.result() for resource, future in futures.items()}
    timings["describe_configs"] = time.perf_counter() - t
    assert len(configs) == len(names)
    if acls is not None:
        t = time.perf_counter()
        timings["acl_bindings"] = len(acls.result())
        timings["describe_acls_wait"] = time.perf_counter() - t
    if registry is not None:
        t = time.perf_counter()
        timings["subjects"] = registry.result()
        timings["registry_wait"] = time.perf_counter() - t
    pool.shutdown()
    timings["total_in_process"] = time.perf_counter() - start
    return timings


# ---------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    seconds = [s.seconds for s in samples]
    peaks = [s.peak_mb for s in samples]
    return {
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
        "cpu_median_s": round(statistics.median(s.cpu_seconds for s in samples), 3),
        "peak_mb_median": round(statistics.median(peaks), 1),
        "peak_mb_max": round(max(peaks), 1),
        "load_min": round(min(s.load for s in samples), 2),
        "load_max": round(max(s.load for s in samples), 2),
        "runs": [
            {
                "seconds": round(s.seconds, 3),
                "cpu_seconds": round(s.cpu_seconds, 3),
                "peak_mb": round(s.peak_mb, 1),
                "load": round(s.load, 2),
                "quiet_wait_s": round(s.quiet_wait, 1),
                "busy_before": round(s.busy, 2),
            }
            for s in samples
        ],
    }


def run_size(
    estate: Estate, size: int, runs: int, work: Path, commands: set[str], notes: list[str]
) -> dict[str, Any]:
    project = work / f"size-{size}"
    changed = max(1, size // 100)
    results: dict[str, Any] = {
        "topics": size,
        "acl_bindings": 2 * size,
        "subjects": estate.subjects,
    }
    timed: dict[str, list[Sample]] = {}

    def record(name: str, sample: Sample) -> None:
        timed.setdefault(name, []).append(sample)

    floor_cmd = [sys.executable, str(Path(__file__).resolve()), "floor", estate.prefix]
    for run in range(runs):
        print(f"  size {size}: run {run + 1}/{runs}", file=sys.stderr, flush=True)
        record("floor(topics)", measure([*floor_cmd, "topics"], cwd=ROOT, expect=[0]))
        record("floor(all)", measure([*floor_cmd, "all"], cwd=ROOT, expect=[0]))
        write_project(project, estate.prefix, size, changed=0, extra=0, subjects=estate.subjects)
        record(
            "plan no-op",
            measure(kafkaplan(project, "plan", "--detailed-exitcode"), cwd=project, expect=[0]),
        )
        write_project(
            project, estate.prefix, size, changed=changed, extra=0, subjects=estate.subjects
        )
        record(
            "plan 1% changed",
            measure(kafkaplan(project, "plan", "--detailed-exitcode"), cwd=project, expect=[2]),
        )
        write_project(
            project, estate.prefix, size, changed=0, extra=APPLY_TOPICS, subjects=estate.subjects
        )
        try:
            record(
                f"apply +{APPLY_TOPICS:,} topics and bindings",
                measure(kafkaplan(project, "apply", "--auto-approve"), cwd=project, expect=[0]),
            )
        finally:
            created = [f"{estate.prefix}.new{j:05d}.v1" for j in range(APPLY_TOPICS)]
            estate.delete_topics(created)
            estate.delete_bindings(set(created))
        write_project(project, estate.prefix, size, changed=0, extra=0, subjects=estate.subjects)
        if "drift" in commands:
            record("drift", measure(kafkaplan(project, "drift"), cwd=project, expect=[0, 2]))
        if "import" in commands:
            out = project / "imported"
            record(
                "import",
                measure(
                    kafkaplan(
                        project, "import", "--out", str(out), "--prefix", estate.prefix, "--force"
                    ),
                    cwd=project,
                    expect=[0],
                ),
            )
    for name, samples in timed.items():
        results[name] = summarize(samples)
    floor_s = results["floor(all)"]["median_s"]
    noop = results["plan no-op"]["median_s"]
    results["ratio no-op plan / floor(all)"] = round(noop / floor_s, 2)
    for name in ("drift", "import"):
        if name in results:
            results[f"ratio {name} / floor(all)"] = round(results[name]["median_s"] / floor_s, 2)
    if "import" in results:
        results["ratio import / no-op plan"] = round(results["import"]["median_s"] / noop, 2)
    all_samples = [s for samples in timed.values() for s in samples]
    results["load"] = [
        round(min(s.load for s in all_samples), 2),
        round(max(s.load for s in all_samples), 2),
    ]
    results["quiet_wait_s"] = round(sum(s.quiet_wait for s in all_samples), 1)
    results["busy_before_max"] = round(max(s.busy for s in all_samples), 2)
    return results


# The README's rows (docs: README "Benchmark"): measurement -> its label there, and which
# ratio follows the figures.
ROWS = (
    ("floor(all)", "floor (topics, configs, ACLs, subjects)", None),
    ("plan no-op", "no-op `plan`", "ratio no-op plan / floor(all)"),
    ("plan 1% changed", "`plan`, 1% changed", None),
    (
        f"apply +{APPLY_TOPICS:,} topics and bindings",
        "`apply` creating 1,000 topics and 2,000 bindings",
        None,
    ),
    ("drift", "`drift`", "ratio drift / floor(all)"),
    ("import", "`import`", "ratio import / floor(all)"),
    ("floor(topics)", "floor (topics and configs only)", None),
)


def cell(value: dict[str, Any], ratio: float | None, versus: str = "floor") -> str:
    text = (
        f"{value['median_s']:.2f} s ({value['min_s']:.2f}-{value['max_s']:.2f}), "
        f"{value['cpu_median_s']:.2f} s CPU, {value['peak_mb_max']:.0f} MB"
    )
    return text + (f", {ratio:.2f}x {versus}" if ratio is not None else "")


def table(results: Sequence[dict[str, Any]]) -> str:
    """The README's benchmark table: one column per size, one row per command (median wall
    time, its range, median CPU time, peak RSS, ratio to the floor), then the load."""
    header = "| | " + " | ".join(f"{r['topics']:,} topics" for r in results) + " |"
    lines = [header, "|---|" + "---:|" * len(results)]
    for key, label, ratio in ROWS:
        if not any(key in r for r in results):
            continue
        cells = []
        for result in results:
            value = result.get(key)
            text = cell(value, result.get(ratio) if ratio else None) if value else "-"
            if key == "import" and value and "ratio import / no-op plan" in result:
                text += f", {result['ratio import / no-op plan']:.2f}x plan"
            cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(
        "| load average (1 min) during the runs | "
        + " | ".join(f"{r['load'][0]:.1f}-{r['load'][1]:.1f}" for r in results)
        + " |"
    )
    lines.append(
        "| waited for a quiet machine (CPU busy before each process) | "
        + " | ".join(
            f"{r.get('quiet_wait_s', 0):.0f} s (at most {100 * r.get('busy_before_max', 0):.0f}%)"
            for r in results
        )
        + " |"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["floor"]:
        print(json.dumps(floor(args[1], args[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1000,5000,10000,50000", help="estate sizes (topics, at most 99,999)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subjects-per-topic", type=float, default=0.1)
    parser.add_argument("--keep", action="store_true", help="do not delete the estate")
    parser.add_argument(
        "--prefix", help="measure the estate an earlier --keep run left under this prefix"
    )
    options = parser.parse_args(args)
    sizes = sorted(int(s) for s in options.sizes.split(","))
    if sizes[-1] > 99_999:
        parser.error("at most 99,999 topics (their names have five digits)")
    for variable in (
        "KAFKAPLAN_BOOTSTRAP_SERVERS",
        "KAFKAPLAN_SASL_PASSWORD",
        "KAFKAPLAN_SCHEMA_REGISTRY_URL",
    ):
        if variable not in os.environ:
            print(f'{variable} is not set: eval "$(scripts/stack env)" first', file=sys.stderr)
            return 2
    commands = cli_commands()
    covered = spec_coverage()
    uncovered = [k for k in ("acls", "subjects") if k not in covered]
    notes: list[str] = []
    if uncovered:
        notes.append(
            f"kafkaplan's spec format in this version declares: {', '.join(covered)}; the "
            f"estate's {', '.join(uncovered)} exist on the cluster/registry and are read by "
            "floor(all) only"
        )
    notes += [
        f"`{c}`: not a command of this kafkaplan, skipped"
        for c in ("drift", "import")
        if c not in commands
    ]
    if options.prefix:
        # Kept by an earlier run (--keep): its estate of the smallest size is there.
        estate = Estate(
            prefix=options.prefix,
            topics=sizes[0],
            subjects=int(sizes[0] * options.subjects_per_topic),
        )
    else:
        estate = Estate(prefix="b" + uuid.uuid4().hex[:7])
    results: list[dict[str, Any]] = []
    started = time.time()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scale-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}.json"

    def save() -> None:
        """Written after every size, so that a failure at a larger one keeps the others."""
        document = {
            "sizes": sizes,
            "runs": options.runs,
            "machine": {"cpus": os.cpu_count()},
            "seconds": round(time.time() - started, 1),
            "notes": notes,
            "results": results,
        }
        out.write_text(json.dumps(document, indent=2) + "\n")

    try:
        with tempfile.TemporaryDirectory(prefix="kafkaplan-bench-") as work:
            for size in sizes:
                t = time.perf_counter()
                estate.grow(size, int(size * options.subjects_per_topic))
                print(
                    f"estate {estate.prefix} of {size} topics, {2 * size} bindings, "
                    f"{estate.subjects} subjects ready in {time.perf_counter() - t:.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(run_size(estate, size, options.runs, Path(work), commands, notes))
                save()
                print(table(results[-1:]), file=sys.stderr, flush=True)
    finally:
        if results:
            print(table(results))
            for note in notes:
                print(f"- {note}")
            print(f"results: {out.relative_to(ROOT)} (whole run {time.time() - started:.0f} s)")
        if not options.keep:
            estate.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
