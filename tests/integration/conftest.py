"""Fixtures for tests against the real local stack (scripts/stack).

These tests never skip: without the stack they fail, saying how to start it. Each test
works on its own uniquely named resources, so tests run in any order and never see each
other's topics.
"""

from __future__ import annotations

import os
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka.admin import AdminClient

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
        text = project.format(username=username, password_env=password_env, timeout=timeout)
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


def eventually(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.2) -> T:
    """Poll ``check`` until it stops raising AssertionError (for eventually consistent
    metadata such as ACLs propagating through the metadata log); re-raise at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def topic_configs(admin: AdminClient, name: str) -> dict[str, tuple[str, str]]:
    """Live configs of a topic: name -> (value, source name)."""
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)]).values()
    return {k: (v.value, ConfigSource(v.source).name) for k, v in future.result().items()}


def partition_count(admin: AdminClient, name: str) -> int:
    return len(admin.list_topics(name, timeout=10).topics[name].partitions)


LEASE_OPERATIONS = ("CREATE", "DESCRIBE", "READ", "WRITE")


def grant_lease(admin: AdminClient, principal: str, prefix: str) -> list[Any]:
    """The documented permissions on a test's lease topic (docs/permissions.md); returns
    the filters that revoke them."""
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

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
        for operation in LEASE_OPERATIONS
    ]
    for future in admin.create_acls([AclBinding(*a) for a in args]).values():
        future.result()
    return [AclBindingFilter(*a) for a in args]
