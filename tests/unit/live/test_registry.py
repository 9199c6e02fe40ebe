"""HttpRegistry against a scripted HTTP server: requests sent, answers and errors translated."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kafkaplan import commands
from kafkaplan.errors import (
    ProjectError,
    RegistryAuthenticationFailed,
    RegistryError,
    RegistryPermissionDenied,
    RegistryTimedOut,
    RegistryUnreachable,
    SchemaRejected,
)
from kafkaplan.live.registry import HttpRegistry, SchemaPayload, SchemaReference, _proxy_from
from kafkaplan.live.retry import RetryPolicy
from kafkaplan.spec.project import RegistryConnection
from tests.conftest import PROJECT, MakeProject
from tests.conftest import run_cli as run
from tests.fakes import MemoryCluster

Answer = tuple[int, Any]
DROP = -1  # a route answering this status drops the connection instead


@dataclass
class Server:
    url: str
    routes: dict[tuple[str, str], Callable[[dict[str, list[str]], Any], Answer]] = field(
        default_factory=dict
    )
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    # The answer to a request no route matches (None: "Subject not found").
    fallback: Answer | None = None
    # Speak HTTP/1.1 with keep-alive (default: HTTP/1.0, a connection per request).
    keep_alive: bool = False
    # Compress answers with gzip when the request offers it (as Apicurio does).
    gzip: bool = False
    connections: list[str] = field(default_factory=list)

    def on(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.routes[(method, path)] = lambda query, sent: (status, body)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def setup(self) -> None:
            super().setup()
            state.connections.append(str(self.client_address))
            if state.keep_alive:
                self.protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            sent = json.loads(self.rfile.read(length)) if length else None
            state.requests.append((self.command, self.path, dict(self.headers), sent))
            route = state.routes.get((self.command, parts.path))
            if route:
                status, body = route(parse_qs(parts.query), sent)
            elif state.fallback is not None:
                status, body = state.fallback
            else:
                status, body = 404, {"error_code": 40401, "message": "Subject not found"}
            if status == DROP:  # close the connection without any answer
                self.close_connection = True
                return
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if state.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                raw = gzip.compress(raw)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/apis/ccompat/v7"
    yield state
    httpd.shutdown()
    httpd.server_close()


def client(url: str, environ: dict[str, str] | None = None, **settings: Any) -> HttpRegistry:
    return HttpRegistry(RegistryConnection(url=url, timeout="2s", **settings), environ or {})


BASE = "/apis/ccompat/v7"


@pytest.mark.parametrize(
    ("status", "code", "kind", "line"),
    [
        (
            401,
            40101,
            RegistryAuthenticationFailed,
            "subject.s: registry authentication failed at {url} (HTTP 401): nope",
        ),
        (
            403,
            40301,
            RegistryPermissionDenied,
            "subject.s: registry permission denied (HTTP 403 40301): nope",
        ),
        (
            409,
            409,
            SchemaRejected,
            "subject.s: the registry refused the schema as incompatible (HTTP 409): nope",
        ),
        (
            422,
            42201,
            SchemaRejected,
            "subject.s: the registry refused the request as invalid (HTTP 422 42201): nope",
        ),
        (500, 50001, RegistryError, "subject.s: the registry failed (HTTP 500 50001): nope"),
        (503, None, RegistryError, "subject.s: the registry failed (HTTP 503): nope"),
    ],
)
def test_errors_are_one_line_naming_the_subject(
    server: Server, status: int, code: int | None, kind: type[RegistryError], line: str
) -> None:
    server.on(
        "POST", f"{BASE}/subjects/s/versions", status, {"error_code": code, "message": "nope"}
    )
    with pytest.raises(kind) as info:
        client(server.url).register("s", SchemaPayload("AVRO", '"string"'))
    text = str(info.value)
    assert text.startswith(line.format(url=server.url)), text
    assert "\n" not in text
    assert info.value.status == status


def test_unreachable_registry(unused_port: int) -> None:
    with pytest.raises(RegistryUnreachable) as info:
        client(f"http://127.0.0.1:{unused_port}/apis/ccompat/v7").latest("orders-value")
    assert str(info.value) == (
        f"subject.orders-value: the registry at http://127.0.0.1:{unused_port}/apis/ccompat/v7 "
        "did not answer ([Errno 111] Connection refused) "
        "(hint: check schema_registry.url and that the registry is up)"
    )


def test_a_registry_host_that_does_not_resolve_is_not_called_a_timeout() -> None:
    with pytest.raises(RegistryUnreachable) as info:
        client("http://registry.invalid:8081").latest("orders-value")
    # The resolver's own words ("[Errno -2] Name or service not known" here).
    assert "registry.invalid:8081 did not answer ([Errno -" in str(info.value), info.value


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_not_json_is_one_error(server: Server) -> None:
    server.routes[("GET", f"{BASE}/config")] = lambda q, s: (200, None)
    server.on("GET", f"{BASE}/config", 200, "not a mapping")
    with pytest.raises(RegistryError, match="no compatibility level"):
        client(server.url).global_compatibility()


def test_credentials_come_from_the_environment_and_are_never_shown(server: Server) -> None:
    server.on("GET", f"{BASE}/config", 401, {"error_code": 40101, "message": "Unauthorized"})
    registry = client(
        server.url, {"SR_PASSWORD": "hunter2"}, username="kp", password_env="SR_PASSWORD"
    )
    with pytest.raises(RegistryAuthenticationFailed) as info:
        registry.global_compatibility()
    assert "hunter2" not in str(info.value)
    headers = server.requests[-1][2]
    assert headers["Authorization"] == "Basic a3A6aHVudGVyMg=="  # kp:hunter2
    bearer = client(server.url, {"SR_TOKEN": "t0k"}, bearer_token_env="SR_TOKEN")
    with pytest.raises(RegistryAuthenticationFailed):
        bearer.global_compatibility()
    assert server.requests[-1][2]["Authorization"] == "Bearer t0k"

    with pytest.raises(ProjectError, match="environment variable SR_PASSWORD, which is not set"):
        client(server.url, {}, username="kp", password_env="SR_PASSWORD")
    with pytest.raises(ProjectError, match="KAFKAPLAN_NOPE"):
        client("${env:KAFKAPLAN_NOPE}")


def test_reads(server: Server) -> None:
    server.on("GET", f"{BASE}/config", 200, {"compatibilityLevel": "BACKWARD"})
    server.on("GET", f"{BASE}/config/a", 200, {"compatibilityLevel": "FULL"})
    server.on("GET", f"{BASE}/config/b", 404, {"error_code": 40408, "message": "no config"})
    server.on(
        "GET",
        f"{BASE}/subjects/a/versions/latest",
        200,
        {
            "subject": "a",
            "version": 3,
            "id": 17,
            "schema": "{}",
            "schemaType": "JSON",
            "references": [{"name": "x.json", "subject": "x", "version": 2}],
        },
    )
    server.on("GET", f"{BASE}/subjects/a/versions", 200, [3, 1, 2])
    registry = client(server.url)
    assert registry.global_compatibility() == "BACKWARD"
    assert registry.subject_compatibility("a") == "FULL"
    assert registry.subject_compatibility("b") is None
    assert server.requests[-1][1] == f"{BASE}/config/b?defaultToGlobal=false"
    latest = registry.latest("a")
    assert latest is not None
    assert (latest.version, latest.schema_id, latest.schema_type) == (3, 17, "JSON")
    assert latest.references == (SchemaReference("x.json", "x", 2),)
    assert registry.latest("nope") is None
    assert registry.versions("a") == [1, 2, 3]
    assert registry.versions("nope") == []
    assert client(server.url).latest("with/slash") is None
    assert server.requests[-1][1] == f"{BASE}/subjects/with%2Fslash/versions/latest"


def test_list_subjects_pages_and_filters(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kafkaplan.live.registry.PAGE_SIZE", 2)
    everything = ["a.1", "a.2", "a.3", "b.1", "b.2"]

    def paged(query: dict[str, list[str]], sent: Any) -> Answer:  # ignores the prefix
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        return 200, everything[offset : offset + limit]

    server.routes[("GET", f"{BASE}/subjects")] = paged
    assert client(server.url).list_subjects(["a."]) == ["a.1", "a.2", "a.3"]
    # A registry that ignores offset and limit: one answer with everything, then stop.
    server.on("GET", f"{BASE}/subjects", 200, everything)
    assert client(server.url).list_subjects(["b.", "a."]) == ["a.1", "a.2", "a.3", "b.1", "b.2"]
    assert len(server.requests) < 12


def test_compatibility_check_and_apicurio_reason(server: Server) -> None:
    path = f"{BASE}/compatibility/subjects/s/versions"
    payload = SchemaPayload("PROTOBUF", "syntax", (SchemaReference("a.proto", "a", 1),))
    server.on("POST", path, 200, {"is_compatible": False, "messages": ["FIELD_REMOVED: x"]})
    result = client(server.url).check_compatibility("s", payload)
    assert (result.compatible, result.messages) == (False, ("FIELD_REMOVED: x",))
    sent = server.requests[-1]
    assert sent[1] == f"{path}?verbose=true"
    assert sent[3] == {
        "schema": "syntax",
        "schemaType": "PROTOBUF",
        "references": [{"name": "a.proto", "subject": "a", "version": 1}],
    }
    # Apicurio says no more than false; its own API's dry run says why.
    server.on("POST", path, 200, {"is_compatible": False})
    server.on(
        "POST",
        "/apis/registry/v3/groups/default/artifacts/s/versions",
        409,
        {"title": "Incompatible artifact: s [PROTOBUF], list of diff types: [x]"},
    )
    result = client(server.url).check_compatibility("s", payload)
    assert result.messages == ("Incompatible artifact: s [PROTOBUF], list of diff types: [x]",)
    dry_run = server.requests[-1]
    assert dry_run[1].endswith("?dryRun=true")
    assert dry_run[3]["content"]["references"] == [
        {"artifactId": "a", "version": "1", "name": "a.proto"}
    ]
    # A subject without versions: anything is compatible.
    server.routes.pop(("POST", path))
    assert client(server.url).check_compatibility("s", payload).compatible


def test_writes(server: Server) -> None:
    server.on("POST", f"{BASE}/subjects/s/versions", 200, {"id": 9})
    server.on("POST", f"{BASE}/subjects/s", 200, {"subject": "s", "version": 4, "id": 9})
    server.on("PUT", f"{BASE}/config/s", 200, {"compatibility": "FULL"})
    server.on("PUT", f"{BASE}/config", 200, {"compatibility": "NONE"})
    server.on("DELETE", f"{BASE}/subjects/s", 200, [1, 2])
    registry = client(server.url)
    registered = registry.register("s", SchemaPayload("AVRO", '"string"'))
    assert (registered.version, registered.schema_id) == (4, 9)
    assert server.requests[-2][3] == {"schema": '"string"'}  # AVRO is the default type
    registry.set_compatibility("s", "FULL")
    assert server.requests[-1][3] == {"compatibility": "FULL"}
    registry.set_compatibility(None, "NONE")
    assert server.requests[-1][1] == f"{BASE}/config"
    assert registry.delete_subject("s", permanent=True) == [1, 2]
    assert server.requests[-1][1] == f"{BASE}/subjects/s?permanent=true"

    read_only = HttpRegistry(RegistryConnection(url=server.url), {}, read_only=True)
    count = len(server.requests)
    with pytest.raises(RegistryError, match="read-only"):
        read_only.register("s", SchemaPayload("AVRO", '"string"'))
    assert len(server.requests) == count


def test_lookup_and_version_delete(server: Server) -> None:
    payload = SchemaPayload("AVRO", '"string"')
    registry = client(server.url)
    assert registry.lookup("s", payload) is None  # 404: the subject does not have it
    server.on("POST", f"{BASE}/subjects/s", 200, {"subject": "s", "version": 1, "id": 7})
    found = registry.lookup("s", payload)
    assert found is not None
    assert (found.version, found.schema_id) == (1, 7)
    server.on("DELETE", f"{BASE}/subjects/s/versions/2", 200, 2)
    registry.delete_version("s", 2)
    assert server.requests[-1][:2] == ("DELETE", f"{BASE}/subjects/s/versions/2")
    read_only = HttpRegistry(RegistryConnection(url=server.url), {}, read_only=True)
    with pytest.raises(RegistryError, match="read-only"):
        read_only.delete_version("s", 2)


def test_reads_are_retried_after_a_dropped_connection_but_writes_are_not(server: Server) -> None:
    dropped = {"GET": 1, "PUT": 1}

    def flaky(method: str, answer: Answer) -> Callable[[dict[str, list[str]], Any], Answer]:
        def route(query: dict[str, list[str]], sent: Any) -> Answer:
            if dropped[method]:
                dropped[method] -= 1
                return DROP, None
            return answer

        return route

    server.routes[("GET", "/apis/ccompat/v7/subjects/orders-value/versions")] = flaky(
        "GET", (200, [1, 2])
    )
    assert client(server.url).versions("orders-value") == [1, 2]
    server.routes[("PUT", "/apis/ccompat/v7/config")] = flaky(
        "PUT", (200, {"compatibility": "FULL"})
    )
    with pytest.raises(RegistryUnreachable):
        client(server.url).set_compatibility(None, "FULL")
    assert [r[0] for r in server.requests].count("PUT") == 1


# -- The CLI against a registry that refuses this principal -----------------------------------

ORDER = '{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}'
SUBJECT = "orders.created.v1-value"
AUTHENTICATE = (
    "check schema_registry.username and the environment variable named by password_env or "
    "bearer_token_env"
)


@pytest.fixture
def refusing(
    server: Server, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> tuple[Server, Path]:
    """A project whose registry is the scripted server (with basic auth) and whose cluster
    is in memory."""
    cluster = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: cluster)
    monkeypatch.setenv("SR_PASSWORD", "kp-secret-7e1")
    registry = (
        f"    schema_registry:\n      url: {server.url}\n      username: kp\n"
        "      password_env: SR_PASSWORD\n"
    )
    project = make_project(
        {
            "a.yaml": "topics:\n  - name: orders.created.v1\n    value_schema: order.avsc\n",
            "order.avsc": ORDER,
        },
        project=PROJECT.replace("    defaults:\n", registry + "    defaults:\n", 1),
    )
    return server, project


@pytest.mark.parametrize(
    ("status", "body", "line"),
    [
        (
            401,
            {"error_code": 40101, "message": "Unauthorized"},
            f"Error: subject.{SUBJECT}: registry authentication failed at {{url}} (HTTP 401): "
            "Unauthorized "
            f"(hint: {AUTHENTICATE})",
        ),
        (
            403,
            {"error_code": 40301, "message": "User kp cannot read"},
            f"Error: subject.{SUBJECT}: registry permission denied (HTTP 403 40301): User kp "
            "cannot read (hint: the registry principal needs read access to the managed "
            "subjects)",
        ),
    ],
)
def test_a_refused_registry_read_is_one_line_naming_the_subject(
    refusing: tuple[Server, Path],
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: dict[str, Any],
    line: str,
) -> None:
    server, project = refusing
    server.fallback = (status, body)
    code, out, err = run(project, "plan", capsys=capsys)
    assert (code, out, err.splitlines()) == (1, "", [line.format(url=server.url)])
    assert server.requests, "the registry was asked"
    assert "kp-secret-7e1" not in err


def test_a_refused_registration_fails_the_apply_in_one_line_naming_the_subject(
    refusing: tuple[Server, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A principal that may read subjects but not register them: the plan works, the
    registration fails naming the subject and the permission, the topic is still created,
    and the exit code says it failed."""
    server, project = refusing
    server.on("GET", f"{BASE}/config", 200, {"compatibilityLevel": "BACKWARD"})
    server.on(
        "POST",
        f"{BASE}/subjects/{SUBJECT}/versions",
        403,
        {"error_code": 40301, "message": "User kp cannot write"},
    )
    code, out, err = run(project, "plan", "--detailed-exitcode", capsys=capsys)
    assert code == 2, out + err
    code, out, err = run(project, "apply", "--auto-approve", capsys=capsys)
    assert code == 1, out + err
    failed = [line for line in out.splitlines() if "✗" in line]
    assert failed == [
        f"  ✗ subject.{SUBJECT} (create) failed: registry permission denied (HTTP 403 40301): "
        "User kp cannot write (hint: the registry principal needs write access to the managed "
        "subjects)"
    ]
    assert "  ✓ topic.orders.created.v1 (create) done" in out
    assert "Apply finished with failures: 1 of 2 changes applied, 1 failed." in out
    assert [r[:2] for r in server.requests if r[0] == "POST"][-1] == (
        "POST",
        f"{BASE}/subjects/{SUBJECT}/versions",
    )


# -- One retry policy (kafkaplan.live.retry), counted without sleeping -------------------------


def counted(
    server: Server, settings: dict[str, Any] | None = None, retries: int = 2
) -> tuple[HttpRegistry, list[float]]:
    sleeps: list[float] = []
    registry = HttpRegistry(
        RegistryConnection(url=server.url, timeout="2s", **(settings or {})),
        {},
        policy=RetryPolicy.of(retries, sleep=sleeps.append),
    )
    return registry, sleeps


def sent(server: Server, method: str, path: str) -> int:
    return sum(1 for r in server.requests if r[0] == method and urlsplit(r[1]).path == path)


@pytest.mark.parametrize("status", [DROP, 429, 502, 503, 504])
def test_transient_read_failures_are_retried_as_the_policy_says(
    server: Server, status: int
) -> None:
    path = f"{BASE}/subjects/s/versions"
    server.on("GET", path, status, {"message": "busy"})
    registry, sleeps = counted(server, retries=3)
    with pytest.raises(RegistryError):
        registry.versions("s")
    assert sent(server, "GET", path) == 4  # the first try and three retries
    assert sleeps == [0.5, 1.0, 2.0]


def test_the_number_of_tries_comes_from_the_retries_setting(server: Server) -> None:
    path = f"{BASE}/subjects/s/versions"
    server.on("GET", path, DROP)
    registry, sleeps = counted(server, retries=0)
    with pytest.raises(RegistryUnreachable):
        registry.versions("s")
    assert (sent(server, "GET", path), sleeps) == (1, [])


@pytest.mark.parametrize("status", [401, 403, 404, 409, 422, 500])
def test_refusals_are_never_retried(server: Server, status: int) -> None:
    server.on("GET", f"{BASE}/config", status, {"error_code": status * 100 + 1, "message": "no"})
    registry, sleeps = counted(server)
    with pytest.raises(RegistryError) as info:
        registry.global_compatibility()
    assert info.value.status == status
    assert (len(server.requests), sleeps) == (1, [])


def test_lookups_and_checks_are_reads_but_writes_are_sent_once(server: Server) -> None:
    lookup = f"{BASE}/subjects/s"
    dropped = {"n": 1}

    def flaky(query: dict[str, list[str]], body: Any) -> Answer:
        if dropped["n"]:
            dropped["n"] -= 1
            return DROP, None
        return 200, {"subject": "s", "version": 2, "id": 5}

    server.routes[("POST", lookup)] = flaky
    registry, sleeps = counted(server)
    found = registry.lookup("s", SchemaPayload("AVRO", '"string"'))
    assert found is not None
    assert found.version == 2
    assert (sent(server, "POST", lookup), sleeps) == (2, [0.5])

    writes: list[tuple[str, str, Callable[[], object]]] = [
        ("POST", f"{BASE}/subjects/s/versions", lambda: registry.register("s", PAYLOAD)),
        ("PUT", f"{BASE}/config/s", lambda: registry.set_compatibility("s", "FULL")),
        ("DELETE", f"{BASE}/subjects/s", lambda: registry.delete_subject("s", permanent=False)),
    ]
    for method, path, call in writes:
        server.on(method, path, 503, {"message": "unavailable"})
        with pytest.raises(RegistryError):
            call()
        assert sent(server, method, path) == 1, method
    assert sleeps == [0.5]


PAYLOAD = SchemaPayload("AVRO", '"string"')


def test_connections_are_kept_alive_across_requests(server: Server) -> None:
    """One pooled connection serves a run's requests (the scripted server speaks HTTP/1.1
    with keep-alive here)."""
    server.keep_alive = True
    server.on("GET", f"{BASE}/subjects/a/versions", 200, [1])
    registry, _ = counted(server)
    for _ in range(5):
        assert registry.versions("a") == [1]
    registry.close()
    assert len(server.requests) == 5
    assert len(server.connections) == 1


def test_the_http_client_is_made_once_by_the_first_request(server: Server) -> None:
    """Making the client (importing urllib3, building its pool) waits for the first request,
    which a plan sends from its read threads: concurrent first requests share one client
    and its pool."""
    server.keep_alive = True
    server.on("GET", f"{BASE}/subjects/a/versions", 200, [1])
    registry, _ = counted(server)
    assert registry._made is None
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: registry.versions("a"), range(16)))
    assert answers == [[1]] * 16
    assert len(server.connections) <= 8
    registry.close()
    assert registry._made is None
    registry.close()  # closing twice (or a client that sent nothing) is fine


def test_answers_may_come_compressed(server: Server) -> None:
    """The client offers gzip (Apicurio on Quarkus now and then leaves a keep-alive request
    unanswered when asked for identity encoding) and reads compressed answers."""
    server.gzip = server.keep_alive = True
    server.on("GET", f"{BASE}/subjects/a/versions", 200, list(range(1, 200)))
    server.on("GET", f"{BASE}/subjects/a/versions/latest", 404, {"error_code": 40401})
    registry = client(server.url)
    assert registry.versions("a") == list(range(1, 200))
    assert registry.latest("a") is None
    assert "gzip" in server.requests[0][2]["Accept-Encoding"]
    assert len(server.connections) == 1
    registry.close()


def test_proxies_come_from_the_environment(server: Server) -> None:
    """HTTP_PROXY is honoured (the scripted server plays the proxy: it is sent the absolute
    URL of the registry, and the credentials of the proxy's URL in Proxy-Authorization),
    and NO_PROXY exempts a host."""
    server.on("GET", "/apis/ccompat/v7/config", 200, {"compatibilityLevel": "FULL"})
    proxy = server.url.split("/apis")[0]
    registry = client("http://registry.invalid:8081/apis/ccompat/v7", {"HTTP_PROXY": proxy})
    assert registry.global_compatibility() == "FULL"
    assert server.requests[-1][1] == "http://registry.invalid:8081/apis/ccompat/v7/config"
    assert "proxy-authorization" not in {name.lower() for name in server.requests[-1][2]}

    with_credentials = proxy.replace("://", "://squid:p%40ss@")
    registry = client(
        "http://registry.invalid:8081/apis/ccompat/v7", {"http_proxy": with_credentials}
    )
    assert registry.global_compatibility() == "FULL"
    expected = "Basic " + base64.b64encode(b"squid:p@ss").decode()
    headers = {name.lower(): value for name, value in server.requests[-1][2].items()}
    assert headers["proxy-authorization"] == expected

    count = len(server.requests)
    direct = HttpRegistry(
        RegistryConnection(url="http://registry.invalid:8081/apis/ccompat/v7", timeout="2s"),
        {"HTTP_PROXY": proxy, "NO_PROXY": "localhost,.invalid"},
        policy=RetryPolicy.of(0),
    )
    with pytest.raises(RegistryUnreachable):
        direct.global_compatibility()
    assert len(server.requests) == count, "not sent through the proxy"


@pytest.mark.parametrize(
    ("environ", "url", "expected"),
    [
        ({}, "https://r.example:8081", None),
        ({"HTTP_PROXY": "http://p:3128"}, "https://r.example:8081", None),
        ({"HTTPS_PROXY": "http://p:3128"}, "https://r.example:8081", ("http://p:3128", None)),
        ({"HTTPS_PROXY": "p:3128"}, "https://r.example", ("http://p:3128", None)),
        ({"ALL_PROXY": "http://p:3128"}, "http://r.example", ("http://p:3128", None)),
        (
            {"HTTPS_PROXY": "http://up:3128", "https_proxy": "http://low:3128"},
            "https://r.example",
            ("http://low:3128", None),
        ),
        (
            {"HTTPS_PROXY": "http://u%3Ax:s%2Fcret@p:3128"},
            "https://r.example",
            ("http://p:3128", "u:x:s/cret"),
        ),
        ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"}, "https://r.example", None),
        ({"HTTPS_PROXY": "http://p:3128", "no_proxy": "example"}, "https://r.example", None),
        (
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "r.example:8081"},
            "https://r.example:8081",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "r.example:9999, .other"},
            "https://r.example:8081",
            ("http://p:3128", None),
        ),
        (
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "other.example"},
            "https://r.example",
            ("http://p:3128", None),
        ),
    ],
)
def test_the_proxy_for_a_registry_url(
    environ: dict[str, str], url: str, expected: tuple[str, str | None] | None
) -> None:
    assert _proxy_from(environ, url) == expected


def test_a_hung_registry_is_asked_once_and_costs_one_timeout() -> None:
    """A registry that takes the connection and never answers: the read is not resent (each
    try would cost another timeout), and the error says how long it waited, for what."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = int(listener.getsockname()[1])
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/apis/ccompat/v7"
        with pytest.raises(RegistryTimedOut) as info:
            HttpRegistry(RegistryConnection(url=url, timeout="1s"), {}).latest("orders-value")
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
    assert len(accepted) == 1, "a read that timed out is not sent again"
    assert str(info.value) == (
        f"subject.orders-value: the registry at {url} did not answer within 1s "
        f"(GET {url}/subjects/orders-value/versions/latest) (hint: check that the registry "
        "is up and answers, or raise schema_registry.timeout)"
    )


def test_a_wrong_registry_path_names_the_url_with_a_hint(server: Server) -> None:
    """A 404 that is not the API's own "not found" (no 404xx error code) is a wrong URL,
    even for a read where a missing subject would be fine."""
    # What an HTTP server says for a path it does not serve (here, Apicurio's).
    server.fallback = (404, {"message": "RESTEASY003210: Could not find resource"})
    wrong = server.url.replace("/v7", "")
    with pytest.raises(RegistryError) as info:
        client(wrong).latest("orders-value")
    assert str(info.value) == (
        f"subject.orders-value: the registry answered HTTP 404 for GET "
        f"{wrong}/subjects/orders-value/versions/latest: no such path (hint: check "
        "schema_registry.url: it must be the root of the registry's Confluent-compatible "
        "API (Confluent: https://host:8081; Apicurio: http://host:8080/apis/ccompat/v7))"
    )
    server.on("GET", f"{BASE}/subjects/gone-value/versions/latest", 404, {"error_code": 40401})
    assert client(server.url).latest("gone-value") is None
