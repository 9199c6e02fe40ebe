"""The registry client over https: a custom CA, client certificates, basic auth and bearer
tokens, against a Confluent-API endpoint that enforces all of them (the stack's CA and
certificates, from `scripts/stack up --security`). Refusals are one clear error, not
retried as if the registry were down."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kafkaplan.errors import ProjectError, RegistryAuthenticationFailed, RegistryError
from kafkaplan.live.registry import HttpRegistry
from kafkaplan.spec.project import RegistryConnection
from tests.integration.test_security_modes import secure  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

USER, PASSWORD, TOKEN = "kafkaplan", "kp-registry-pw-7d1e", "kp-registry-token-2b9c"
ENVIRON = {"KP_REG_PASSWORD": PASSWORD, "KP_REG_TOKEN": TOKEN, "KP_WRONG": "nope"}


@dataclass
class Seen:
    subjects: list[str] = field(default_factory=list)  # client certificate subjects
    requests: int = 0


class Handler(BaseHTTPRequestHandler):
    server: EnforcingRegistry

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.requests += 1
        assert isinstance(self.connection, ssl.SSLSocket)
        peer = self.connection.getpeercert()
        if peer:
            subject: Any = peer["subject"]
            self.server.seen.subjects.append(
                ",".join(f"{k}={v}" for rdn in subject for k, v in rdn)
            )
        allowed = {
            "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
            f"Bearer {TOKEN}",
        }
        if self.headers.get("Authorization") not in allowed:
            self.reply(401, {"error_code": 40101, "message": "Unauthorized"})
        elif self.path == "/config":
            self.reply(200, {"compatibilityLevel": "BACKWARD"})
        else:
            self.reply(404, {"error_code": 40401, "message": "not found"})

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class EnforcingRegistry(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, tls: Path):
        super().__init__((host, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "broker.pem", tls / "broker.key")
        context.load_verify_locations(tls / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.seen = Seen()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"https://{host!s}:{port}"


def serve(host: str, tls: Path) -> Iterator[EnforcingRegistry]:
    server = EnforcingRegistry(host, tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def registry(secure: dict[str, str]) -> Iterator[EnforcingRegistry]:  # noqa: F811
    yield from serve("127.0.0.1", Path(secure["KAFKAPLAN_STACK_TLS_DIR"]))


@pytest.fixture
def registry_by_other_name(secure: dict[str, str]) -> Iterator[EnforcingRegistry]:  # noqa: F811
    """The same, on 127.0.0.2: an address its certificate does not list."""
    yield from serve("127.0.0.2", Path(secure["KAFKAPLAN_STACK_TLS_DIR"]))


def client(url: str, secure: dict[str, str], **settings: Any) -> HttpRegistry:  # noqa: F811
    base: dict[str, Any] = {
        "url": url,
        "timeout": "5s",
        "ssl_ca_location": secure["KAFKAPLAN_STACK_CA"],
        "ssl_certificate_location": secure["KAFKAPLAN_STACK_CERT_ALICE"],
        "ssl_key_location": secure["KAFKAPLAN_STACK_KEY_ALICE"],
        "ssl_key_password_env": "KAFKAPLAN_STACK_ALICE_KEY_PASSWORD",
        "username": USER,
        "password_env": "KP_REG_PASSWORD",
    }
    base.update(settings)
    connection = RegistryConnection(**{k: v for k, v in base.items() if v is not None})
    return HttpRegistry(connection, {**secure, **ENVIRON}, read_only=True)


def test_client_certificate_and_basic_auth(
    registry: EnforcingRegistry,
    secure: dict[str, str],  # noqa: F811
) -> None:
    assert client(registry.url, secure).global_compatibility() == "BACKWARD"
    assert registry.seen.subjects == ["commonName=alice"]


def test_client_certificate_and_bearer_token(
    registry: EnforcingRegistry,
    secure: dict[str, str],  # noqa: F811
) -> None:
    registry_client = client(
        registry.url, secure, username=None, password_env=None, bearer_token_env="KP_REG_TOKEN"
    )
    assert registry_client.global_compatibility() == "BACKWARD"


def test_wrong_password_is_an_authentication_error(
    registry: EnforcingRegistry,
    secure: dict[str, str],  # noqa: F811
) -> None:
    with pytest.raises(
        RegistryError, match=r"registry authentication failed at https://\S+ \(HTTP 401\)"
    ):
        client(registry.url, secure, password_env="KP_WRONG").global_compatibility()


def test_untrusted_registry_certificate(
    registry: EnforcingRegistry,
    secure: dict[str, str],  # noqa: F811
) -> None:
    with pytest.raises(RegistryAuthenticationFailed) as info:
        client(
            registry.url, secure, ssl_ca_location=secure["KAFKAPLAN_STACK_OTHER_CA"]
        ).global_compatibility()
    assert info.value.message.startswith(
        f"{registry.url}: the registry's certificate could not be verified ("
    )
    assert registry.seen.requests == 0


def test_missing_or_foreign_client_certificate_is_refused_once(
    registry: EnforcingRegistry,
    secure: dict[str, str],  # noqa: F811
) -> None:
    for settings in (
        {"ssl_certificate_location": None, "ssl_key_location": None, "ssl_key_password_env": None},
        {
            "ssl_certificate_location": secure["KAFKAPLAN_STACK_CERT_ROGUE"],
            "ssl_key_location": secure["KAFKAPLAN_STACK_KEY_ROGUE"],
            "ssl_key_password_env": None,
        },
    ):
        with pytest.raises(RegistryAuthenticationFailed) as info:
            client(registry.url, secure, **settings).global_compatibility()
        assert info.value.message.startswith(f"{registry.url}: "), info.value
        assert "client certificate" in info.value.message, info.value
    assert registry.seen.requests == 0


def test_expired_client_certificate_is_refused_before_connecting(
    registry: EnforcingRegistry,
    secure: dict[str, str],  # noqa: F811
) -> None:
    with pytest.raises(
        ProjectError, match=r"schema_registry\.ssl_certificate_location: the client"
    ):
        client(
            registry.url,
            secure,
            ssl_certificate_location=secure["KAFKAPLAN_STACK_CERT_EXPIRED"],
            ssl_key_location=secure["KAFKAPLAN_STACK_KEY_EXPIRED"],
            ssl_key_password_env=None,
        )


def test_hostname_check_and_its_opt_out(
    registry_by_other_name: EnforcingRegistry,
    secure: dict[str, str],  # noqa: F811
) -> None:
    url = registry_by_other_name.url
    with pytest.raises(RegistryAuthenticationFailed, match="IP address mismatch"):
        client(url, secure).global_compatibility()
    unchecked = client(url, secure, ssl_check_hostname=False)
    assert unchecked.global_compatibility() == "BACKWARD"
