"""Fixtures for tests against the real local stack (scripts/stack).

These tests never skip: without the stack they fail, saying how to start it. Each test
works on its own uniquely named resources, so tests run in any order and never see each
other's topics.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ConfigSource,
    ResourcePatternType,
    ResourceType,
)

from kafkaplan.cli import main

pytestmark = pytest.mark.integration

REQUIRED = (
    "KAFKAPLAN_BOOTSTRAP_SERVERS",
    "KAFKAPLAN_SASL_USERNAME",
    "KAFKAPLAN_SASL_PASSWORD",
    "KAFKAPLAN_SCHEMA_REGISTRY_URL",
)

PROJECT = """\
specs: [specs]
default_environment: it
# Other tests' topics share the broker: this project sees only its own prefix.
ignore_topics: ['^(?!{prefix})']
policy:
  naming:
    pattern: '^[a-z][a-z0-9-]*\\.[a-z][a-z0-9_-]*\\.v[0-9]+$'
environments:
  it:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: {username}
      sasl_password_env: {password_env}
      timeout: {timeout}
    schema_registry:
      url: ${{env:KAFKAPLAN_SCHEMA_REGISTRY_URL}}
    defaults:
      partitions: 2
      replication_factor: 1
"""


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        pytest.fail(
            f"the local stack's settings are missing ({', '.join(missing)}): run the suite "
            'with `make test`, or `scripts/stack up && eval "$(scripts/stack env)"` first',
            pytrace=False,
        )
    return dict(os.environ)


def client_config(stack: dict[str, str], user: str = "admin") -> dict[str, Any]:
    password = (
        stack["KAFKAPLAN_SASL_PASSWORD"]
        if user == "admin"
        else stack[f"KAFKAPLAN_STACK_PASSWORD_{user.upper()}"]
    )
    return {
        "bootstrap.servers": stack["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
    }


# The Schema Registries scripts/stack can start (KAFKAPLAN_STACK_REGISTRY): their
# Confluent-compatible APIs differ in places, and tests that pin such a place say what each
# answers.
REGISTRY_KINDS = ("apicurio", "axonops")


@pytest.fixture(scope="session")
def registry_kind(stack: dict[str, str]) -> str:
    kind = stack.get("KAFKAPLAN_STACK_REGISTRY", "")
    if kind not in REGISTRY_KINDS:
        pytest.fail(
            f"KAFKAPLAN_STACK_REGISTRY is {kind!r}, not one of {', '.join(REGISTRY_KINDS)}: "
            'take the settings from `eval "$(scripts/stack env)"`',
            pytrace=False,
        )
    return kind


@pytest.fixture(scope="session")
def admin(stack: dict[str, str]) -> AdminClient:
    """A plain confluent-kafka admin client: the 'other tool' that checks and meddles."""
    return AdminClient(client_config(stack))


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Project:
    """A throwaway kafkaplan project pointed at the stack, with its own topic prefix."""

    root: Path
    prefix: str
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch
    env: dict[str, str] = field(default_factory=dict)

    def name(self, entity: str, version: int = 1) -> str:
        """A unique topic name that follows the naming convention."""
        return f"{self.prefix}{entity}.events.v{version}"

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def specs(self, text: str, file: str = "specs/main.yaml") -> Path:
        return self.write(file, text)

    def run(self, *args: str) -> Result:
        self.capsys.readouterr()
        with self.monkeypatch.context() as patch:
            for key, value in self.env.items():
                patch.setenv(key, value)
            code = main(["--project", str(self.root / "kafkaplan.yaml"), "--no-color", *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


def lease_topic(prefix: str) -> str:
    return f"__kafkaplan_lease.{prefix}"


@pytest.fixture
def make_project(
    stack: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    admin: AdminClient,
) -> Iterator[Callable[..., Project]]:
    prefixes: list[str] = []

    def make(
        username: str = "${env:KAFKAPLAN_SASL_USERNAME}",
        password_env: str = "KAFKAPLAN_SASL_PASSWORD",
        timeout: str = "20s",
        project: str = PROJECT,
    ) -> Project:
        prefix = "t" + uuid.uuid4().hex[:10]
        prefixes.append(prefix)
        root = tmp_path / prefix
        root.mkdir()
        (root / "specs").mkdir()
        text = project.format(
            username=username, password_env=password_env, timeout=timeout, prefix=prefix
        )
        if "\nlease:" not in text:
            # Each test's own apply lease, so that suites running at once on a shared
            # stack do not wait for each other.
            text += f"lease:\n  topic: {lease_topic(prefix)}\n"
        (root / "kafkaplan.yaml").write_text(text)
        return Project(root, prefix, capsys, monkeypatch)

    yield make
    owned = (*prefixes, *(lease_topic(p) for p in prefixes))
    doomed = [t for t in admin.list_topics(timeout=10).topics if t.startswith(owned)]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result()


T = TypeVar("T")


# Client-side errors that say "the broker did not answer yet" (it is restarting, electing
# its controller, or the machine is busy), not "the broker answered no".
TRANSIENT_KAFKA_ERRORS = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_CONTROLLER,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)


def transient(exc: BaseException) -> bool:
    """Is ``exc`` an error worth polling through: a broker error of TRANSIENT_KAFKA_ERRORS,
    or a registry that did not answer (refused, reset or timed out; an HTTP error status is
    an answer, not transient)?"""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    if isinstance(
        exc, (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)
    ):
        return True
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return isinstance(error, KafkaError) and (
        error.code() in TRANSIENT_KAFKA_ERRORS or error.retriable()
    )


def eventually(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.2) -> T:
    """Poll ``check`` until it stops raising AssertionError (for eventually consistent
    metadata such as ACLs propagating through the metadata log) or a transient error (see
    ``transient``); re-raise at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, KafkaException, OSError, http.client.HTTPException) as exc:
            if not isinstance(exc, AssertionError) and not transient(exc):
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def topic_configs(admin: AdminClient, name: str) -> dict[str, tuple[str, str]]:
    """Live configs of a topic: name -> (value, source name)."""
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)]).values()
    return {k: (v.value, ConfigSource(v.source).name) for k, v in future.result().items()}


def partition_count(admin: AdminClient, name: str) -> int:
    return len(admin.list_topics(name, timeout=10).topics[name].partitions)


LEASE_OPERATIONS = ("CREATE", "DESCRIBE", "READ", "WRITE")


def grant_lease(
    admin: AdminClient, principal: str, prefix: str, operations: tuple[str, ...] = LEASE_OPERATIONS
) -> list[Any]:
    """The documented permissions on a test's lease topic (docs/permissions.md), or the
    given ones; returns the filters that revoke them."""
    args = [
        (
            ResourceType.TOPIC,
            lease_topic(prefix),
            ResourcePatternType.LITERAL,
            principal,
            "*",
            AclOperation[operation],
            AclPermissionType.ALLOW,
        )
        for operation in operations
    ]
    for future in admin.create_acls([AclBinding(*a) for a in args]).values():
        future.result()
    filters = [AclBindingFilter(*a) for a in args]
    await_acls(admin, filters, present=True)
    return filters


# -- The Schema Registry, read and written with plain HTTP ------------------------------------


def call(
    url: str, method: str = "GET", body: Any = None, *, timeout: float = 10
) -> tuple[int, Any]:
    """A plain request to the registry: the 'other tool' that checks what kafkaplan did."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    for attempt in range(3):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw or b"null")
            except ValueError:  # e.g. a 503 page while the registry starts
                return exc.code, raw.decode("utf-8", "replace")
        except ConnectionError:
            # The registry occasionally drops a connection under load; a read is safe to
            # repeat, and a repeated registration of the same schema is answered the same.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


class Registry:
    def __init__(self, url: str):
        self.url = url

    def latest(self, subject: str) -> dict[str, Any]:
        status, body = call(f"{self.url}/subjects/{quote(subject)}/versions/latest")
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    def versions(self, subject: str, deleted: bool = False) -> list[int]:
        query = "?deleted=true" if deleted else ""
        status, body = call(f"{self.url}/subjects/{quote(subject)}/versions{query}")
        return list(body) if status == 200 else []

    def subjects(self, deleted: bool = False) -> list[str]:
        status, body = call(f"{self.url}/subjects{'?deleted=true' if deleted else ''}")
        assert status == 200, body
        # AxonOps answers null, not [], when there are none.
        return list(body or [])

    def level(self, subject: str | None = None) -> str:
        path = "/config" if subject is None else f"/config/{quote(subject)}"
        status, body = call(f"{self.url}{path}")
        assert status == 200, body
        return str(body["compatibilityLevel"])

    def register(self, subject: str, schema: str, schema_type: str = "AVRO") -> None:
        body: dict[str, Any] = {"schema": schema}
        if schema_type != "AVRO":
            body["schemaType"] = schema_type
        status, answer = call(f"{self.url}/subjects/{quote(subject)}/versions", "POST", body)
        assert status == 200, answer

    def purge(self, prefix: str) -> None:
        """Delete (soft, then hard) every subject starting with ``prefix``; subjects that
        others refer to go after their referrers."""
        for _ in range(5):
            doomed = [s for s in self.subjects(deleted=True) if s.startswith(prefix)]
            if not doomed:
                return
            for subject in doomed:
                call(f"{self.url}/subjects/{quote(subject)}", "DELETE")
                call(f"{self.url}/subjects/{quote(subject)}?permanent=true", "DELETE")
            for subject in doomed:  # configs outlive their subjects on some registries
                call(f"{self.url}/config/{quote(subject)}", "DELETE")


# -- A private stack, for tests that stop, kill and restart the broker or the registry ---------

REPO = Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO / "scripts" / "stack"


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(rng: random.Random, taken: set[int]) -> int:
    """A port in the 4xxxx range nothing listens on (and no other port of this stack)."""
    for _ in range(200):
        port = rng.randint(40000, 49999)
        if port not in taken and port_is_free(port):
            taken.add(port)
            return port
    raise RuntimeError("no free port in 40000-49999")


@dataclass(frozen=True)
class Launch:
    """How scripts/stack started a component's process: its command line and folder."""

    command: list[str]
    cwd: Path


# Run by PrivateStack.wait_ready in a child process: exits 0 once the broker answers
# metadata, names its active controller and answers a DescribeConfigs.
_READINESS_PROBE = """
import json, os, sys
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
admin = AdminClient(json.loads(os.environ["KAFKAPLAN_PROBE_CONFIG"]))
admin.list_topics(timeout=2)
cluster = admin.describe_cluster(request_timeout=5).result()
if cluster.controller is None or not cluster.nodes:
    sys.exit("no active controller yet")
broker = ConfigResource(ResourceType.BROKER, str(cluster.nodes[0].id))
for future in admin.describe_configs([broker], request_timeout=5).values():
    future.result()
"""


@dataclass
class PrivateStack:
    """A Kafka broker and registry of our own (scripts/stack in a temporary folder). Its
    registry keeps its subjects in a file (KAFKAPLAN_STACK_REGISTRY_STORAGE=file), so that
    it can be killed and started again without losing them."""

    folder: Path
    env: dict[str, str]  # the stack's settings (`scripts/stack env`) over os.environ

    @property
    def run_dir(self) -> Path:
        return self.folder / "run"

    @property
    def registry_url(self) -> str:
        return self.env["KAFKAPLAN_SCHEMA_REGISTRY_URL"]

    def pid(self, component: str) -> int:
        return int((self.run_dir / f"{component}.pid").read_text().strip())

    def admin(self) -> AdminClient:
        return AdminClient(client_config(self.env))

    def registry(self) -> Registry:
        return Registry(self.registry_url)

    def signal(self, component: str, signum: signal.Signals) -> None:
        """Send ``signum`` to a component ("kafka" or "registry")."""
        os.kill(self.pid(component), signum)

    def kill(self, component: str) -> Launch:
        """SIGKILL a component; returns how it was started, for ``restart``."""
        pid = self.pid(component)
        command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return Launch([part.decode() for part in command], cwd)

    def restart(self, component: str, launch: Launch) -> None:
        """Start a killed component again on the same data, as scripts/stack started it,
        and wait until it answers."""
        logs = self.run_dir / "logs"
        with (
            open(logs / f"{component}.stdout", "ab") as out,
            open(logs / f"{component}.stderr", "ab") as err,
        ):
            process = subprocess.Popen(
                launch.command,
                cwd=launch.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        (self.run_dir / f"{component}.pid").write_text(f"{process.pid}\n")
        if component == "registry":
            self.wait_registry_ready()
        else:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the broker answers metadata, knows its active controller and answers
        a DescribeConfigs (which waits for the controller): after SIGCONT or a restart the
        metadata answers come back before the controller is elected again. Each probe runs
        in a child process: librdkafka (confluent-kafka 2.16) can abort the whole process on
        an admin answer that arrives while the broker recovers."""
        env = {**os.environ, "KAFKAPLAN_PROBE_CONFIG": json.dumps(client_config(self.env))}

        def ready() -> None:
            try:
                probe = subprocess.run(
                    [sys.executable, "-c", _READINESS_PROBE],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise AssertionError("the readiness probe did not finish") from exc
            assert probe.returncode == 0, probe.stderr[-500:]

        eventually(ready, timeout=timeout)

    def wait_registry_ready(self, timeout: float = 120) -> None:
        """Wait until the registry lists subjects and answers its global level (what
        scripts/stack waits for at `up`)."""

        def ready() -> None:
            status, body = call(f"{self.registry_url}/subjects", timeout=5)
            assert status == 200, (status, body)
            status, body = call(f"{self.registry_url}/config", timeout=5)
            assert status == 200, (status, body)
            assert body["compatibilityLevel"] == "BACKWARD", body

        eventually(ready, timeout=timeout, interval=0.5)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[-1][:1] not in ("Z", "X")


def run_stack(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``scripts/stack ARGS`` with ``env`` (its KAFKAPLAN_STACK_* settings choose the stack)."""
    return subprocess.run(
        [str(STACK_SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stack_settings(env: dict[str, str]) -> dict[str, str]:
    """What ``scripts/stack env`` exports for the stack ``env`` chooses."""
    exported = run_stack(env, "env", timeout=30).stdout
    return {
        key: value
        for line in exported.splitlines()
        if line.startswith("export ")
        for key, _, value in [shlex.split(line.removeprefix("export "))[0].partition("=")]
    }


@pytest.fixture(scope="session")
def private_stack() -> Iterator[PrivateStack]:
    """Our own stack on free 4xxxx ports, sharing the downloads of the main one; stopped at
    the end. It fails the tests (never skips them) if it cannot start."""
    shared = Path(os.environ.get("KAFKAPLAN_STACK_DIR") or REPO / ".stack")
    cache = shared / "cache"
    # KAFKAPLAN_PRIVATE_STACK_DIR and _KAFKA_PORT, _CONTROLLER_PORT, _REGISTRY_PORT,
    # _REGISTRY_MANAGEMENT_PORT choose its folder (kept) and ports on a shared machine.
    given = os.environ.get("KAFKAPLAN_PRIVATE_STACK_DIR")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="kafkaplan-stack-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "cache").exists():
        (folder / "cache").symlink_to(cache.resolve())
    rng = random.Random()
    taken: set[int] = set()

    def port(name: str) -> str:
        return os.environ.get(f"KAFKAPLAN_PRIVATE_STACK_{name}") or str(free_port(rng, taken))

    env = {
        **os.environ,
        "KAFKAPLAN_STACK_DIR": str(folder),
        "KAFKAPLAN_STACK_KAFKA_PORT": port("KAFKA_PORT"),
        "KAFKAPLAN_STACK_CONTROLLER_PORT": port("CONTROLLER_PORT"),
        "KAFKAPLAN_STACK_REGISTRY_PORT": port("REGISTRY_PORT"),
        "KAFKAPLAN_STACK_REGISTRY_MANAGEMENT_PORT": port("REGISTRY_MANAGEMENT_PORT"),
        "KAFKAPLAN_STACK_REGISTRY_STORAGE": "file",
    }
    try:
        started = run_stack(env, "up", timeout=300)
        if started.returncode != 0:
            pytest.fail(
                f"the private stack did not start (cache {cache}):\n{started.stderr[-3000:]}",
                pytrace=False,
            )
        yield PrivateStack(folder, {**env, **stack_settings(env)})
    finally:
        run_stack(env, "down", timeout=120)
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


# -- kafkaplan as a subprocess, for tests that interrupt it or what it talks to ----------------

# kafkaplan's own bound on an interrupted apply: every request within its timeout, a few more
# tries with backoff; well above what the fault trials' projects allow, well below forever.
EXIT_BOUND_SECONDS = 60

# One line of apply's report: mark, address, action(s), status.
OUTCOME_LINE = re.compile(r"^  ([✓✗?-]) (\S+) \(([\w+]+)\) (done|failed|unknown|skipped)", re.M)


def kafkaplan_command(root: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kafkaplan",
        "--project",
        str(root / "kafkaplan.yaml"),
        "--no-color",
        *args,
    ]


def run_kafkaplan(stack: PrivateStack, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kafkaplan_command(root, *args),
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wait_for_exit(process: subprocess.Popen[str]) -> tuple[str, str, float]:
    """kafkaplan's output and how long it took to end; fails the test if it did not end
    within EXIT_BOUND_SECONDS."""
    started = time.monotonic()
    try:
        out, err = process.communicate(timeout=EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"kafkaplan did not end within {EXIT_BOUND_SECONDS}s:\n{out}\n{err}")
    return out, err, time.monotonic() - started


def reported_outcomes(out: str) -> dict[str, str]:
    """What apply reported for each address: done, failed, unknown or skipped."""
    return {address: status for _, address, _, status in OUTCOME_LINE.findall(out)}


def assert_done_in_effect(reported: dict[str, str], truth: dict[str, bool], out: str) -> None:
    """Every change reported ``done`` is in effect (``truth``: key -> in effect)."""
    for key, status in reported.items():
        if status == "done":
            assert truth[key], f"{key} reported done but not in effect\n{out}"


def assert_not_done_not_in_effect(
    reported: dict[str, str], truth: dict[str, bool], out: str
) -> None:
    """No change reported ``failed`` or ``skipped`` is in effect (``unknown`` may be)."""
    for key, status in reported.items():
        if status in ("failed", "skipped"):
            assert not truth[key], f"{key} reported {status} but in effect\n{out}"


# -- ACLs and Kafka's own tools, for tests that act as "another client" -----------------


def all_acls(admin: AdminClient) -> list[Any]:
    """Every binding on the cluster, read with plain confluent-kafka."""
    anything: Any = None
    return list(
        admin.describe_acls(
            AclBindingFilter(
                ResourceType.ANY,
                anything,
                ResourcePatternType.ANY,
                anything,
                anything,
                AclOperation.ANY,
                AclPermissionType.ANY,
            ),
            request_timeout=10,
        ).result()
    )


def exact(acl: AclBinding) -> AclBindingFilter:
    """A filter matching exactly this one binding."""
    return AclBindingFilter(
        acl.restype,
        acl.name,
        acl.resource_pattern_type,
        acl.principal,
        acl.host,
        acl.operation,
        acl.permission_type,
    )


def grant(
    admin: AdminClient,
    principal: str,
    prefix: str,
    *operations: AclOperation,
    resource_type: ResourceType = ResourceType.TOPIC,
) -> list[AclBindingFilter]:
    """Allow ``operations`` on the topics (or other resources of ``resource_type``) starting
    with ``prefix``; returns filters to revoke them."""
    bindings = [
        AclBinding(
            resource_type,
            prefix,
            ResourcePatternType.PREFIXED,
            principal,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for operation in operations
    ]
    for future in admin.create_acls(bindings).values():
        future.result()
    filters = [exact(binding) for binding in bindings]
    await_acls(admin, filters, present=True)
    return filters


def revoke(admin: AdminClient, filters: list[AclBindingFilter]) -> None:
    for future in admin.delete_acls(filters).values():
        future.result()
    await_acls(admin, filters, present=False)


def await_acls(admin: AdminClient, filters: list[AclBindingFilter], *, present: bool) -> None:
    """Wait until the broker reports a binding for every filter (or for none). The
    controller answers CreateAcls/DeleteAcls once it has committed the change; the broker
    answers DescribeAcls from its metadata image, which applies it later (seconds later on
    a busy broker): a step that depends on the change must start only then."""

    def settled() -> None:
        for acl_filter in filters:
            found = admin.describe_acls(acl_filter, request_timeout=10).result()
            assert bool(found) == present, (
                f"{acl_filter} not yet {'present' if present else 'gone'}"
            )

    eventually(settled, timeout=60)


def authorized(stack: dict[str, str], user: str, topic: str | None = None) -> set[str]:
    """The operations ``user`` may perform on the cluster, or on ``topic``, as the broker's
    authorizer answers now (KIP-430 authorized operations; nothing when it may not even
    describe the topic). For waiting until an ACL change is in effect before a step whose
    outcome depends on it."""
    client = AdminClient(client_config(stack, user))
    try:
        if topic is None:
            described = client.describe_cluster(
                include_authorized_operations=True, request_timeout=10
            ).result()
        else:
            [future] = client.describe_topics(
                TopicCollection([topic]), include_authorized_operations=True, request_timeout=10
            ).values()
            described = future.result()
    except KafkaException as exc:
        if transient(exc):
            raise
        return set()
    return {operation.name for operation in described.authorized_operations or ()}


def kafka_tool(stack: dict[str, str], tool: str, *args: str) -> str:
    """Run one of Apache Kafka's own command-line tools (by its script name, e.g.
    ``kafka-acls``: scripts/stack runs the class the stack's Kafka release ships for it)
    against the stack, as admin."""
    result = subprocess.run(
        [
            str(REPO / "scripts" / "stack"),
            "kafka-tool",
            tool,
            "--bootstrap-server",
            stack["KAFKAPLAN_BOOTSTRAP_SERVERS"],
            "--command-config",
            stack["KAFKAPLAN_STACK_CLIENT_PROPERTIES"],
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | stack,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def out_of_band(admin: AdminClient) -> Iterator[Callable[[list[AclBinding]], None]]:
    """Create bindings with plain confluent-kafka; each is deleted again, exactly, after."""
    created: list[AclBinding] = []

    def create(bindings: list[AclBinding]) -> None:
        for future in admin.create_acls(bindings, request_timeout=10).values():
            future.result()
        created.extend(bindings)
        await_acls(admin, [exact(b) for b in bindings], present=True)

    yield create
    if created:
        for future in admin.delete_acls([exact(a) for a in created], request_timeout=10).values():
            future.result()
