"""kafkaplan's no-op ``plan`` side by side with its peers on one estate: ``topicctl apply
--dry-run`` (github.com/segmentio/topicctl) and ``terraform plan`` with the Mongey Kafka
provider (github.com/Mongey/terraform-provider-kafka). A benchmark, run only when asked.

    eval "$(scripts/stack env)"   # your own stack, a broker with a 3 GiB heap (README "Benchmark")
    .venv/bin/python bench/peers.py --sizes 1000,5000 --runs 3 \
        [--tools kafkaplan,topicctl,terraform]

What it needs: a running stack (``scripts/stack up``; its bootstrap address must be on
loopback), the ``go`` command (1.26.8 or newer: Terraform's go.mod asks for it; with an older
one, ``GOTOOLCHAIN=go1.26.8`` has the go command fetch that toolchain from the module proxy)
and the Go module proxy. Nothing else from the network: the peers are built from their
modules' source at the pinned versions below into ``.bench-tools/`` (not committed, with its
own module and build caches) the first time, which took about 4.5 minutes on 2 cores with
empty caches (Terraform 3.2 of them); the binaries are reused after that. Terraform runs
without ``terraform init``: a CLI configuration (``TF_CLI_CONFIG_FILE``) points
``Mongey/kafka`` at the built provider with ``dev_overrides``; Terraform's nested modules
(its ``replace`` directives to ``./internal/...``, left out of the module's zip) are
downloaded at the pseudo-version of the release's commit.

For each size N (smallest first, the estate grown incrementally) it builds N topics with
configs and 2 ACL bindings per topic (READ and WRITE for User:bench-app), with no registry
subjects (the peers do not manage Schema Registry subjects), and writes what describes
exactly that estate for each tool, in a temporary directory:

- kafkaplan: the project of ``bench/scale.py`` (topics with their configs and the bindings),
  and the same without the bindings (topics only);
- topicctl: a cluster config (SASL/SCRAM-SHA-512 with the stack's user, the password passed
  in ``TOPICCTL_SASL_PASSWORD``, never written) and one topic file per topic (partitions,
  replication factor, the same configs under ``settings``), plus one ACL file with the
  bindings, checked by ``topicctl create acls --dry-run``: topicctl's ``apply`` covers
  topics only, and ``create acls`` reports which declared bindings exist (it does not look
  for undeclared ones);
- Terraform: one ``kafka_topic`` per topic and one ``kafka_acl`` per binding (provider
  configured with SASL scram-sha512, the password in ``KAFKA_SASL_PASSWORD``); the state is
  brought in with ``import {}`` blocks: a plan that must hold only imports (checked in its
  JSON) is applied, then the import blocks are removed.

Then ``--runs`` times, interleaved (each tool once per round, in turn), each tool's no-op
check runs as its own process through ``bench/scale.py``'s ``measure`` (wall time, CPU time
and peak RSS from ``wait4``, started on a quiet machine), and every run must really be a
no-op: kafkaplan and Terraform with ``-detailed-exitcode`` exiting 0 and saying so, topicctl
(whose exit code does not tell) reporting every topic applied with no difference and every
binding found. It prints a Markdown table (median wall time with the range, CPU time, peak
RSS, ratio to the kafkaplan run that reads the same resources) and writes every run to
``bench/results/peers-<timestamp>.json``. Everything it created is deleted at the end, also
after a failure (``--keep`` leaves the estate and the work directory, ``--prefix`` measures
a kept estate again).

How long: at 1,000 and 5,000 topics with 3 runs, about 8.5 minutes besides the first build,
most of it Terraform's: importing the 12,000 resources added at 5,000 topics took 3.7
minutes, and each of its plans there about 34 s (topicctl's about 22 s). Peak RSS is that
of the largest process of the tool's tree (``wait4`` reports the maximum over the process
and the children it waited for: for Terraform, itself or its provider plugin), while CPU
time is the sum over them.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/peers.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale import (
    PRINCIPAL,
    RESULTS,
    ROOT,
    Estate,
    Sample,
    measure,
    spec_coverage,
    summarize,
    topic_configs,
    topic_name,
    write_project,
)
from bench.scale import kafkaplan as kafkaplan_command

TOOLS = ROOT / ".bench-tools"
TOOL_NAMES = ("kafkaplan", "topicctl", "terraform")


@dataclass(frozen=True)
class GoTool:
    """A Go program built from its module's source at a pinned version."""

    module: str
    version: str
    package: str  # the main package, relative to the module's root
    binary: str
    ldflags: str = "-s -w"

    @property
    def directory(self) -> Path:
        return TOOLS / "bin" / f"{self.binary}@{self.version}"

    @property
    def path(self) -> Path:
        return self.directory / self.binary


# The pinned versions (the newest releases the Go module proxy served when this was written).
TOPICCTL = GoTool(
    "github.com/segmentio/topicctl",
    "v1.21.0",
    "./cmd/topicctl",
    "topicctl",
    "-s -w -X main.Version=v1.21.0",
)
TERRAFORM = GoTool(
    "github.com/hashicorp/terraform",
    "v1.16.4",
    ".",
    "terraform",
    # As its release builds (.github/scripts/get_product_version.sh): no "-dev" suffix.
    "-s -w -X github.com/hashicorp/terraform/version.dev=no",
)
KAFKA_PROVIDER = GoTool(
    "github.com/Mongey/terraform-provider-kafka", "v0.13.1", ".", "terraform-provider-kafka"
)
PEERS: dict[str, tuple[GoTool, ...]] = {
    "topicctl": (TOPICCTL,),
    "terraform": (TERRAFORM, KAFKA_PROVIDER),
}


# ---------------------------------------------------------------------------------------
# Building the peers
# ---------------------------------------------------------------------------------------


def go_env() -> dict[str, str]:
    """The go command's environment: caches under .bench-tools, static binaries as the
    projects' releases are."""
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(TOOLS / "gomodcache"),
        GOPATH=str(TOOLS / "gopath"),
        GOCACHE=str(TOOLS / "gocache"),
        GOFLAGS="-mod=mod -buildvcs=false",
        CGO_ENABLED="0",
    )
    return env


def run_checked(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    expect: Sequence[int] = (0,),
) -> str:
    """Run a helper command (not a measured one), its standard output; an exit code not in
    ``expect`` raises with the end of what it said."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode not in expect:
        raise RuntimeError(
            f"{Path(command[0]).name} {' '.join(command[1:])} exited {result.returncode}:\n"
            f"{result.stderr[-3000:]}\n{result.stdout[-3000:]}"
        )
    return result.stdout


def go(args: Sequence[str], cwd: Path | None = None) -> str:
    return run_checked(["go", *args], cwd=cwd, env=go_env())


def download(module: str, version: str) -> dict[str, Any]:
    """``go mod download -json`` of one exact version: its directory in the module cache,
    with the commit (Origin) and time the proxy recorded."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    info: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    if result.returncode != 0 or "Error" in info or "Dir" not in info:
        raise RuntimeError(
            f"go mod download {module}@{version}: {info.get('Error') or result.stderr[-2000:]}"
        )
    recorded = json.loads(Path(info["Info"]).read_text())
    info.setdefault("Origin", recorded.get("Origin", {}))
    info["Time"] = recorded["Time"]
    return info


def copy_writable(source: Path, target: Path) -> None:
    """Copy a directory out of the read-only module cache, writable (the build may add to
    go.sum)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def local_replacements(go_mod: str) -> list[tuple[str, str]]:
    """``replace`` directives of a go.mod that point inside the module (``=> ./dir``), as
    (module path, directory)."""
    found = []
    inside_block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("replace ("):
            inside_block = True
            continue
        if inside_block and line == ")":
            inside_block = False
            continue
        if "=>" not in line or not (inside_block or line.startswith("replace ")):
            continue
        left, right = (part.split() for part in line.removeprefix("replace ").split("=>", 1))
        if left and right and right[0].startswith("./"):
            found.append((left[0], right[0]))
    return found


def pseudo_version(info: dict[str, Any]) -> str:
    """The pseudo-version of the commit a release was tagged on (for its nested modules,
    which have no tags of their own)."""
    commit = info.get("Origin", {}).get("Hash")
    if not commit:
        raise RuntimeError(f"the proxy recorded no commit for {info['Path']}@{info['Version']}")
    when = datetime.strptime(info["Time"], "%Y-%m-%dT%H:%M:%SZ")
    return f"v0.0.0-{when:%Y%m%d%H%M%S}-{commit[:12]}"


def build(tool: GoTool) -> dict[str, Any]:
    """Build ``tool`` unless it is there already; what was built, with which Go."""
    stamp = tool.directory / "build.json"
    if tool.path.exists() and stamp.exists():
        built: dict[str, Any] = json.loads(stamp.read_text())
        return built
    print(f"building {tool.module}@{tool.version} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    info = download(tool.module, tool.version)
    source = TOOLS / "src" / f"{tool.binary}@{tool.version}"
    copy_writable(Path(info["Dir"]), source)
    nested = []
    for module, directory in local_replacements((source / "go.mod").read_text()):
        if (source / directory / "go.mod").exists():
            continue
        # A module's zip leaves out its subdirectories that are modules of their own.
        version = pseudo_version(info)
        copy_writable(Path(download(module, version)["Dir"]), source / directory)
        nested.append(f"{module}@{version}")
    go_version = go(["version"], cwd=source).strip()
    tool.directory.mkdir(parents=True, exist_ok=True)
    partial = tool.directory / f".{tool.binary}.partial"
    go(
        ["build", "-trimpath", "-ldflags", tool.ldflags, "-o", str(partial), tool.package],
        cwd=source,
    )
    partial.rename(tool.path)
    built = {
        "module": tool.module,
        "version": tool.version,
        "commit": info.get("Origin", {}).get("Hash"),
        "sum": info.get("Sum"),
        "nested_modules": nested,
        "go": go_version,
        "ldflags": tool.ldflags,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    stamp.write_text(json.dumps(built, indent=2) + "\n")
    print(f"  built in {built['build_seconds']} s", file=sys.stderr, flush=True)
    return built


def kafkaplan_version() -> str:
    """kafkaplan's version and commit, and a digest of its uncommitted changes if any (to
    tell whether the code measured changed during a run)."""
    from importlib.metadata import version

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown commit"
    changes = git("diff", "HEAD", "--", "kafkaplan")
    if changes:
        commit += f", uncommitted changes {hashlib.sha256(changes.encode()).hexdigest()[:8]}"
    return f"kafkaplan {version('kafkaplan')} ({commit})"


# ---------------------------------------------------------------------------------------
# What each tool is given: the estate, described in its own format
# ---------------------------------------------------------------------------------------


def bootstrap_servers() -> list[str]:
    """The stack's bootstrap addresses, each on loopback (nothing else is a target here)."""
    servers = [s.strip() for s in os.environ["KAFKAPLAN_BOOTSTRAP_SERVERS"].split(",")]
    for server in servers:
        host = server.rsplit(":", 1)[0].strip("[]")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise SystemExit(f"{server} is not a loopback address: point this at a local stack")
    return servers


def sasl_username() -> str:
    return os.environ.get("KAFKAPLAN_SASL_USERNAME", "admin")


# The operations of the two bindings per topic (Estate.grow: READ and WRITE), as the peers
# spell them.
OPERATIONS = ("Read", "Write")


def write_topicctl(root: Path, prefix: str, topics: int) -> None:
    """topicctl's layout: ``cluster.yaml`` beside ``topics/`` (one file per topic) and
    ``acls/`` (the bindings)."""
    (root / "topics").mkdir(parents=True, exist_ok=True)
    (root / "acls").mkdir(exist_ok=True)
    addresses = "".join(f"    - {server}\n" for server in bootstrap_servers())
    (root / "cluster.yaml").write_text(
        "meta:\n"
        "  name: bench\n"
        "  environment: bench\n"
        "  region: local\n"
        "spec:\n"
        "  bootstrapAddrs:\n"
        f"{addresses}"
        "  sasl:\n"
        "    enabled: true\n"
        "    mechanism: SCRAM-SHA-512\n"
        f"    username: {sasl_username()}\n"
        "    # the password: TOPICCTL_SASL_PASSWORD\n"
    )
    acls = ["meta:", "  name: bench-app", "  cluster: bench", "  environment: bench"]
    acls += ["  region: local", "spec:", "  acls:"]
    for i in range(topics):
        name = topic_name(prefix, i)
        settings = "".join(f"    {k}: '{v}'\n" for k, v in topic_configs(i).items())
        (root / "topics" / f"{name}.yaml").write_text(
            "meta:\n"
            f"  name: {name}\n"
            "  cluster: bench\n"
            "  environment: bench\n"
            "  region: local\n"
            "spec:\n"
            "  partitions: 1\n"
            "  replicationFactor: 1\n"
            "  placement:\n"
            "    strategy: any\n"
            "  settings:\n"
            f"{settings}"
        )
        acls += [
            "    - resource:",
            "        type: topic",
            f"        name: {name}",
            "        patternType: literal",
            f"        principal: '{PRINCIPAL}'",
            "        host: '*'",
            "        permission: allow",
            f"      operations: [{', '.join(OPERATIONS)}]",
        ]
    (root / "acls" / "bench-app.yaml").write_text("\n".join(acls) + "\n")


def acl_import_id(name: str, operation: str) -> str:
    # The provider's import ID: principal|host|operation|permission|type|name|pattern type
    return f"{PRINCIPAL}|*|{operation}|Allow|Topic|{name}|Literal"


def write_terraform(root: Path, prefix: str, topics: int, imported: int) -> None:
    """The configuration of the estate, and import blocks for what the state lacks (the
    topics from index ``imported`` on, with their bindings)."""
    root.mkdir(parents=True, exist_ok=True)
    servers = ", ".join(f'"{server}"' for server in bootstrap_servers())
    (root / "main.tf").write_text(
        "terraform {\n"
        "  required_providers {\n"
        "    kafka = {\n"
        '      source = "Mongey/kafka"\n'
        "    }\n"
        "  }\n"
        "}\n\n"
        "# The password: KAFKA_SASL_PASSWORD.\n"
        'provider "kafka" {\n'
        f"  bootstrap_servers = [{servers}]\n"
        "  tls_enabled       = false\n"
        '  sasl_mechanism    = "scram-sha512"\n'
        f'  sasl_username     = "{sasl_username()}"\n'
        "}\n"
    )
    resources: list[str] = []
    imports: list[str] = []
    for i in range(topics):
        name = topic_name(prefix, i)
        configs = "".join(f'    "{k}" = "{v}"\n' for k, v in topic_configs(i).items())
        resources.append(
            f'resource "kafka_topic" "t{i:05d}" {{\n'
            f'  name               = "{name}"\n'
            "  partitions         = 1\n"
            "  replication_factor = 1\n"
            "  config = {\n"
            f"{configs}"
            "  }\n"
            "}\n"
        )
        if i >= imported:
            imports.append(f'import {{\n  to = kafka_topic.t{i:05d}\n  id = "{name}"\n}}\n')
        for operation in OPERATIONS:
            address = f"t{i:05d}_{operation.lower()}"
            resources.append(
                f'resource "kafka_acl" "{address}" {{\n'
                f'  resource_name       = "{name}"\n'
                '  resource_type       = "Topic"\n'
                f'  acl_principal       = "{PRINCIPAL}"\n'
                '  acl_host            = "*"\n'
                f'  acl_operation       = "{operation}"\n'
                '  acl_permission_type = "Allow"\n'
                "}\n"
            )
            if i >= imported:
                imports.append(
                    f"import {{\n  to = kafka_acl.{address}\n"
                    f'  id = "{acl_import_id(name, operation)}"\n}}\n'
                )
    (root / "estate.tf").write_text("\n".join(resources))
    (root / "imports.tf").write_text("\n".join(imports))


def terraform_cli_config(work: Path) -> Path:
    """A CLI configuration that takes the built provider for Mongey/kafka (no ``init``)."""
    path = work / "terraform.rc"
    path.write_text(
        "provider_installation {\n"
        "  dev_overrides {\n"
        f'    "Mongey/kafka" = "{KAFKA_PROVIDER.directory}"\n'
        "  }\n"
        "  direct {}\n"
        "}\n"
    )
    return path


def terraform_run(root: Path, *args: str, expect: Sequence[int] = (0,)) -> str:
    return run_checked([str(TERRAFORM.path), *args], cwd=root, expect=expect)


def terraform_import(root: Path, expected: int) -> float:
    """Bring ``expected`` resources into the state without changing anything: a plan that
    holds imports only (checked in its JSON), applied; then the import blocks go."""
    started = time.perf_counter()
    if expected:
        plan = "import.tfplan"
        terraform_run(
            root,
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            f"-out={plan}",
            expect=(0, 2),
        )
        changes = json.loads(terraform_run(root, "show", "-json", plan)).get("resource_changes", [])
        # What the state holds already shows up as no-op changes without "importing".
        other = [c["address"] for c in changes if c["change"]["actions"] != ["no-op"]]
        imports = sum("importing" in c["change"] for c in changes)
        if other or imports != expected:
            raise RuntimeError(
                f"the import plan holds {imports} imports ({expected} wanted) and other "
                f"changes to {len(other)} resources: {other[:5]}"
            )
        terraform_run(root, "apply", "-input=false", "-no-color", plan)
        (root / plan).unlink()
    (root / "imports.tf").unlink()
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------
# The measured commands
# ---------------------------------------------------------------------------------------


@dataclass
class Check:
    """One tool's no-op check: how it runs, what it covers, how its no-op is confirmed."""

    key: str
    tool: str  # which of TOOL_NAMES it belongs to
    label: str
    covers: str
    command: list[str]
    cwd: Path
    expect: tuple[int, ...]
    confirm: Callable[[str], str | None]  # the output -> None if a no-op, else what is wrong
    versus: str | None = None  # the kafkaplan check that reads the same resources
    samples: list[Sample] = field(default_factory=list)


def says(*needed: str, never: Sequence[str] = ()) -> Callable[[str], str | None]:
    def confirm(output: str) -> str | None:
        for text in needed:
            if text not in output:
                return f"no {text!r} in the output"
        for pattern in never:
            if found := re.search(pattern, output):
                return f"the output has {found.group(0)!r}"
        return None

    return confirm


def topicctl_applied(topics: int) -> Callable[[str], str | None]:
    """Every topic applied, none with a difference (topicctl exits 0 either way)."""
    differs = says(
        never=(
            r"Found \d+ key\(s\) with different values",
            r"Would create topic",
            r"Skipping update because dryRun is set to true",
            r"level=error",
        )
    )

    def confirm(output: str) -> str | None:
        done = output.count("Apply completed successfully!")
        if done != topics:
            return f"{done} of {topics} topics applied"
        return differs(output)

    return confirm


def checks(
    tools: Sequence[str], work: Path, prefix: str, size: int, covers_acls: bool
) -> list[Check]:
    everything = "topics, configs" + (", ACL bindings" if covers_acls else "")
    noop = says("No changes.")
    found: list[Check] = []
    if "kafkaplan" in tools:
        full = work / "kafkaplan"
        write_project(full, prefix, size, changed=0, extra=0, subjects=0)
        found.append(
            Check(
                "kafkaplan",
                "kafkaplan",
                "`kafkaplan plan`",
                everything,
                kafkaplan_command(full, "plan", "--detailed-exitcode"),
                full,
                (0,),
                noop,
                "kafkaplan",
            )
        )
        if "topicctl" in tools and covers_acls:
            topics_only = work / "kafkaplan-topics"
            write_project(topics_only, prefix, size, changed=0, extra=0, subjects=0, acls=False)
            found.append(
                Check(
                    "kafkaplan-topics",
                    "kafkaplan",
                    "`kafkaplan plan`, a project of the topics only",
                    "topics, configs",
                    kafkaplan_command(topics_only, "plan", "--detailed-exitcode"),
                    topics_only,
                    (0,),
                    noop,
                    "kafkaplan-topics",
                )
            )
    if "topicctl" in tools:
        root = work / "topicctl"
        write_topicctl(root, prefix, size)
        binary = str(TOPICCTL.path)
        found.append(
            Check(
                "topicctl-apply",
                "topicctl",
                "`topicctl apply --dry-run`",
                "topics, configs",
                # topicctl expands the pattern itself (no argument list of N paths).
                [binary, "apply", "--dry-run", "topics/*.yaml"],
                root,
                (0,),
                topicctl_applied(size),
                "kafkaplan-topics" if covers_acls else "kafkaplan",
            )
        )
        found.append(
            Check(
                "topicctl-acls",
                "topicctl",
                "`topicctl create acls --dry-run`",
                "ACL bindings (the declared ones exist)",
                [
                    binary,
                    "create",
                    "acls",
                    "--dry-run",
                    "--cluster-config",
                    "cluster.yaml",
                    "acls/*.yaml",
                ],
                root,
                (0,),
                says(
                    f"Found {2 * size} existing ACLs",
                    "No ACLs to create",
                    never=("Would create ACLs", "level=error"),
                ),
            )
        )
    if "terraform" in tools:
        root = work / "terraform"
        found.append(
            Check(
                "terraform",
                "terraform",
                "`terraform plan`",
                "topics, configs, ACL bindings",
                [str(TERRAFORM.path), "plan", "-input=false", "-no-color", "-detailed-exitcode"],
                root,
                (0,),
                noop,
                "kafkaplan",
            )
        )
    return found


def combined(first: Sequence[Sample], second: Sequence[Sample]) -> list[Sample]:
    """Two processes run one after the other, as one: times added, the larger peak."""
    return [
        Sample(
            a.seconds + b.seconds,
            max(a.peak_mb, b.peak_mb),
            a.code or b.code,
            cpu_seconds=a.cpu_seconds + b.cpu_seconds,
            load=max(a.load, b.load),
            quiet_wait=a.quiet_wait + b.quiet_wait,
            busy=max(a.busy, b.busy),
        )
        for a, b in zip(first, second, strict=True)
    ]


def run_size(
    tools: Sequence[str], work: Path, estate: Estate, size: int, runs: int, state: dict[str, int]
) -> dict[str, Any]:
    covers_acls = "acls" in spec_coverage()
    result: dict[str, Any] = {"topics": size, "acl_bindings": 2 * size, "subjects": 0}
    if "terraform" in tools:
        root = work / "terraform"
        write_terraform(root, estate.prefix, size, state.get("terraform", 0))
        new = (size - state.get("terraform", 0)) * (1 + len(OPERATIONS))  # topic, bindings
        seconds = terraform_import(root, new)
        state["terraform"] = size
        result["terraform_import"] = {"resources": new, "seconds": round(seconds, 1)}
        print(
            f"  terraform: {new} resources imported in {seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    planned = checks(tools, work, estate.prefix, size, covers_acls)
    outputs = work / "outputs"
    outputs.mkdir(exist_ok=True)
    for run in range(runs):
        for check in planned:  # interleaved: each tool once per round
            output = outputs / f"{size}-{check.key}-{run}.txt"
            sample = measure(check.command, cwd=check.cwd, expect=check.expect, output=output)
            wrong = check.confirm(output.read_text(errors="replace"))
            if wrong:
                raise RuntimeError(f"{check.label} at {size} topics was no no-op: {wrong}")
            check.samples.append(sample)
            print(
                f"  size {size} run {run + 1}/{runs}: {check.key} {sample.seconds:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    rows: list[dict[str, Any]] = []
    by_key = {check.key: check for check in planned}
    for check in planned:
        rows.append(
            {
                "key": check.key,
                "tool": check.tool,
                "label": check.label,
                "covers": check.covers,
                "command": [Path(check.command[0]).name, *check.command[1:]],
                "versus": check.versus,
                **summarize(check.samples),
            }
        )
    if "topicctl-apply" in by_key and "topicctl-acls" in by_key:
        both = combined(by_key["topicctl-apply"].samples, by_key["topicctl-acls"].samples)
        rows.insert(
            [row["key"] for row in rows].index("topicctl-acls") + 1,
            {
                "key": "topicctl",
                "tool": "topicctl",
                "label": "both (`apply` + `create acls`, added up)",
                "covers": "topics, configs, ACL bindings (the declared ones exist)",
                "command": None,
                "versus": "kafkaplan",
                **summarize(both),
            },
        )
    medians = {row["key"]: row["median_s"] for row in rows}
    for row in rows:
        versus = row["versus"]
        row["ratio"] = round(row["median_s"] / medians[versus], 2) if versus in medians else None
    result["rows"] = rows
    return result


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def table(results: Sequence[dict[str, Any]], versions: dict[str, str]) -> str:
    """One row per size and check: the tool's version, what it ran and read, the median
    wall time (min-max) of the runs, median CPU time, the largest peak RSS, and the ratio to
    the kafkaplan run that reads the same resources."""
    lines = [
        "| topics | tool | command | reads | wall, median (min-max) | CPU, median | peak RSS "
        "| ratio |",
        "|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for result in results:
        for row in result["rows"]:
            versus = "kafkaplan" if row["versus"] == "kafkaplan" else "kafkaplan (topics only)"
            ratio = f"{row['ratio']:.2f}x {versus}" if row["ratio"] is not None else "-"
            version = versions.get(row["tool"], row["tool"])
            lines.append(
                f"| {result['topics']:,} | {version} | {row['label']} | {row['covers']} | "
                f"{row['median_s']:.2f} s ({row['min_s']:.2f}-{row['max_s']:.2f}) | "
                f"{row['cpu_median_s']:.2f} s | {row['peak_mb_max']:.0f} MB | {ratio} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000", help="estate sizes (topics)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--tools", default=",".join(TOOL_NAMES), help="which of kafkaplan,topicctl,terraform"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the estate and the work directory"
    )
    parser.add_argument(
        "--prefix", help="measure the estate an earlier --keep run left under this prefix"
    )
    options = parser.parse_args(argv)
    sizes = sorted(int(s) for s in options.sizes.split(","))
    tools = [t.strip() for t in options.tools.split(",") if t.strip()]
    if unknown := set(tools) - set(TOOL_NAMES):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    if sizes[-1] > 99_999:
        parser.error("at most 99,999 topics (their names have five digits)")
    for variable in (
        "KAFKAPLAN_BOOTSTRAP_SERVERS",
        "KAFKAPLAN_SASL_PASSWORD",
        "KAFKAPLAN_SCHEMA_REGISTRY_URL",  # the estate's clean-up looks for subjects too
    ):
        if variable not in os.environ:
            print(f'{variable} is not set: eval "$(scripts/stack env)" first', file=sys.stderr)
            return 2
    bootstrap_servers()  # loopback only

    started = time.time()
    built: dict[str, dict[str, Any]] = {}
    for name in tools:
        for tool in PEERS.get(name, ()):
            built[tool.binary] = build(tool)
    versions: dict[str, str] = {}
    if "kafkaplan" in tools:
        versions["kafkaplan"] = kafkaplan_version()
    if "topicctl" in tools:
        versions["topicctl"] = f"topicctl {TOPICCTL.version}"
    if "terraform" in tools:
        versions["terraform"] = (
            f"Terraform {TERRAFORM.version}, Mongey/kafka {KAFKA_PROVIDER.version}"
        )
    print("versions:", file=sys.stderr)
    for name, description in versions.items():
        print(f"  {name}: {description}", file=sys.stderr)
    for info in built.values():
        print(
            f"  {info['module']}@{info['version']} "
            + (f"(commit {info['commit'][:12]})" if info["commit"] else f"({info['sum']})")
            + f", built with {info['go']}",
            file=sys.stderr,
        )

    work = Path(tempfile.mkdtemp(prefix="kafkaplan-peers-"))
    # Secrets reach the tools through their environment only; Terraform takes the built
    # provider through its own CLI configuration (whatever TF_CLI_CONFIG_FILE was).
    os.environ["TOPICCTL_SASL_PASSWORD"] = os.environ["KAFKAPLAN_SASL_PASSWORD"]
    os.environ["KAFKA_SASL_PASSWORD"] = os.environ["KAFKAPLAN_SASL_PASSWORD"]
    os.environ["TF_CLI_CONFIG_FILE"] = str(terraform_cli_config(work))
    os.environ.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    for variable in ("TF_LOG", "TF_DATA_DIR", "TF_CLI_ARGS", "TF_CLI_ARGS_plan"):
        os.environ.pop(variable, None)

    notes = [
        "subjects: none; the peers do not manage Schema Registry subjects, so the kafkaplan "
        "projects declare none and kafkaplan does not read the registry",
        "topicctl apply covers topics only; its bindings are checked by `topicctl create acls "
        "--dry-run`, which asks for each declared binding (one DescribeAcls request each) and "
        "does not look for undeclared ones; the `both` row adds the two processes up",
        "each tool runs with its own defaults (Terraform: -parallelism=10, refresh on)",
        "peak RSS: the largest process of the tool's tree (for Terraform: itself or the "
        "provider plugin); CPU: summed over the tree",
    ]
    if "acls" not in spec_coverage():
        notes.append("this kafkaplan's specs cannot declare ACLs: its plan reads topics only")
    if options.prefix:
        estate = Estate(prefix=options.prefix, topics=sizes[0])
    else:
        estate = Estate(prefix="p" + uuid.uuid4().hex[:7])
    results: list[dict[str, Any]] = []
    state: dict[str, int] = {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"peers-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}.json"

    def save() -> None:
        if "kafkaplan" in versions and (now := kafkaplan_version()) != versions["kafkaplan"]:
            changed = f"kafkaplan's checkout changed during the run: now {now}"
            if changed not in notes:
                notes.append(changed)
        document = {
            "sizes": sizes,
            "runs": options.runs,
            "tools": tools,
            "versions": versions,
            "builds": built,
            "machine": {
                "cpus": os.cpu_count(),
                "kafka": os.environ.get("KAFKAPLAN_STACK_KAFKA_VERSION"),
                "brokers": os.environ.get("KAFKAPLAN_STACK_BROKERS"),
            },
            "prefix": estate.prefix,
            "seconds": round(time.time() - started, 1),
            "notes": notes,
            "results": results,
        }
        out.write_text(json.dumps(document, indent=2) + "\n")

    try:
        for size in sizes:
            t = time.perf_counter()
            estate.grow(size, 0)
            print(
                f"estate {estate.prefix} of {size} topics and {2 * size} bindings ready in "
                f"{time.perf_counter() - t:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            results.append(run_size(tools, work, estate, size, options.runs, state))
            save()
            print(table(results[-1:], versions), file=sys.stderr, flush=True)
    finally:
        if results:
            print(table(results, versions))
            for note in notes:
                print(f"- {note}")
            print(f"results: {out.relative_to(ROOT)} (whole run {time.time() - started:.0f} s)")
        if options.keep:
            print(f"kept: the estate {estate.prefix}, the work directory {work}", file=sys.stderr)
        else:
            estate.destroy()
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
