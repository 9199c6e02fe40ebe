"""kafkaplan against the broker's production security modes (scripts/stack up --security):
SASL_SSL (SCRAM, PLAIN), mutual TLS and OAUTHBEARER with OIDC client credentials, through
both client libraries (confluent-kafka for plan/apply, kafka-python for reassignments), and
the refusals: each one clear line naming the address and the reason, exit 1, no retries.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafkaplan.live.cluster import KafkaCluster
from kafkaplan.spec.project import load_project
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]

SECURITY_ENV = (
    "KAFKAPLAN_STACK_SASL_SSL_BOOTSTRAP",
    "KAFKAPLAN_STACK_MTLS_BOOTSTRAP",
    "KAFKAPLAN_STACK_OAUTH_BOOTSTRAP",
    "KAFKAPLAN_STACK_OIDC_TOKEN_URL",
    "KAFKAPLAN_STACK_CA",
)

HEADER = """\
specs: [specs]
default_environment: it
ignore_topics: ['^(?!{prefix})']
lease: {{topic: __kafkaplan_lease.{prefix}}}
environments:
  it:
    defaults: {{partitions: 1, replication_factor: 1}}
    kafka:
      timeout: {timeout}
      retries: 0
"""


@pytest.fixture(scope="session")
def secure(stack: dict[str, str]) -> dict[str, str]:
    missing = [name for name in SECURITY_ENV if not stack.get(name)]
    if missing:
        pytest.fail(
            f"the stack runs without its security listeners ({', '.join(missing)} unset): "
            'start it with `scripts/stack up --security` and `eval "$(scripts/stack env)"`',
            pytrace=False,
        )
    return stack


def kafka_settings(secure: dict[str, str], mode: str, **overrides: str) -> dict[str, str]:
    ca = secure["KAFKAPLAN_STACK_CA"]
    modes = {
        "scram": {
            "bootstrap_servers": secure["KAFKAPLAN_STACK_SASL_SSL_BOOTSTRAP"],
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "admin",
            "sasl_password_env": "KAFKAPLAN_SASL_PASSWORD",
            "ssl_ca_location": ca,
        },
        "mtls": {
            "bootstrap_servers": secure["KAFKAPLAN_STACK_MTLS_BOOTSTRAP"],
            "security_protocol": "SSL",
            "ssl_ca_location": ca,
            "ssl_certificate_location": secure["KAFKAPLAN_STACK_CERT_ADMIN"],
            "ssl_key_location": secure["KAFKAPLAN_STACK_KEY_ADMIN"],
        },
        "oauth": {
            "bootstrap_servers": secure["KAFKAPLAN_STACK_OAUTH_BOOTSTRAP"],
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "OAUTHBEARER",
            "ssl_ca_location": ca,
            "oauth_token_endpoint_url": secure["KAFKAPLAN_STACK_OIDC_TOKEN_URL"],
            "oauth_client_id": "oauth-admin",
            "oauth_client_secret_env": "KAFKAPLAN_STACK_OAUTH_SECRET_ADMIN",
            "oauth_scope": "kafka",
        },
    }
    settings = {**modes[mode], **overrides}
    return {key: value for key, value in settings.items() if value != "-"}


def secure_project(
    make_project: MakeProject, secure: dict[str, str], mode: str, timeout: str = "10s", **kw: str
) -> Project:
    project = make_project()
    text = HEADER.format(prefix=project.prefix, timeout=timeout)
    for key, value in kafka_settings(secure, mode, **kw).items():
        text += f"      {key}: '{value}'\n"
    (project.root / "kafkaplan.yaml").write_text(text)
    return project


def converges(project: Project) -> None:
    topic = project.name("secure")
    project.specs(f"topics:\n  - name: {topic}\n    configs: {{retention.ms: 1d}}\n")
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert f"✓ topic.{topic} (create) done" in applied.out
    clean = project.run("plan", "--detailed-exitcode")
    assert clean.code == 0, clean.out + clean.err


def reassignments_readable(project: Project) -> None:
    """kafka-python (partition reassignments) connects with the same settings."""
    loaded = load_project(project.root / "kafkaplan.yaml")
    _, environment = loaded.environment(None)
    cluster = KafkaCluster(environment.kafka, os.environ)
    try:
        assert cluster.list_reassignments() == {}
    finally:
        cluster.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_sasl_ssl(make_project: MakeProject, secure: dict[str, str], mechanism: str) -> None:
    project = secure_project(make_project, secure, "scram", sasl_mechanism=mechanism)
    converges(project)
    reassignments_readable(project)


def test_mutual_tls_as_a_super_user_certificate(
    make_project: MakeProject, secure: dict[str, str]
) -> None:
    """CN=admin's certificate is User:CN=admin, a super user on the broker."""
    project = secure_project(make_project, secure, "mtls")
    converges(project)
    reassignments_readable(project)


def test_mutual_tls_with_an_encrypted_key_and_no_acls(
    make_project: MakeProject, secure: dict[str, str]
) -> None:
    """alice's key needs its password (from the environment); authenticated, the principal
    User:CN=alice has no ACLs, so the broker refuses what kafkaplan asks: a permission error,
    not a TLS one."""
    project = secure_project(
        make_project,
        secure,
        "mtls",
        ssl_certificate_location=secure["KAFKAPLAN_STACK_CERT_ALICE"],
        ssl_key_location=secure["KAFKAPLAN_STACK_KEY_ALICE"],
        ssl_key_password_env="KAFKAPLAN_STACK_ALICE_KEY_PASSWORD",
    )
    project.specs(f"topics:\n  - name: {project.name('alice')}\n")
    result = project.run("apply", "--auto-approve")
    assert result.code == 1, result.out + result.err
    assert "permission denied" in result.out + result.err
    assert "TLS:" not in result.err

    no_password = secure_project(
        make_project,
        secure,
        "mtls",
        ssl_certificate_location=secure["KAFKAPLAN_STACK_CERT_ALICE"],
        ssl_key_location=secure["KAFKAPLAN_STACK_KEY_ALICE"],
    )
    refused = no_password.run("plan")
    assert refused.code == 1
    assert (
        f"Error: kafka.ssl_key_location: the key {secure['KAFKAPLAN_STACK_KEY_ALICE']} is "
        "encrypted, and no ssl_key_password_env names the variable holding its password"
    ) in refused.err, refused.err


def test_oauthbearer_oidc(make_project: MakeProject, secure: dict[str, str]) -> None:
    project = secure_project(make_project, secure, "oauth")
    converges(project)
    reassignments_readable(project)


def cli(project: Project, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kafkaplan",
            "--project",
            str(project.root / "kafkaplan.yaml"),
            "--no-color",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,  # the bound: configured timeouts below are 5s
        cwd=project.root,
        check=False,
    )
    return result, time.monotonic() - started


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


REFUSALS = {
    "untrusted CA": (
        "scram",
        {"ssl_ca_location": "$KAFKAPLAN_STACK_OTHER_CA"},
        "Error: kafka: TLS: 127.0.0.1:{sasl_ssl}: the broker's certificate could not be "
        "verified (not signed by a trusted CA)",
    ),
    "certificate from another CA": (
        "mtls",
        {
            "ssl_certificate_location": "$KAFKAPLAN_STACK_CERT_ROGUE",
            "ssl_key_location": "$KAFKAPLAN_STACK_KEY_ROGUE",
        },
        "Error: kafka: TLS: 127.0.0.1:{mtls} refused the client certificate (TLS alert: bad "
        "certificate)",
    ),
    "no client certificate": (
        "mtls",
        {"ssl_certificate_location": "-", "ssl_key_location": "-"},
        "Error: kafka: TLS: 127.0.0.1:{mtls} refused the client certificate (TLS alert: bad "
        "certificate)",
    ),
    "expired certificate": (
        "mtls",
        {
            "ssl_certificate_location": "$KAFKAPLAN_STACK_CERT_EXPIRED",
            "ssl_key_location": "$KAFKAPLAN_STACK_KEY_EXPIRED",
        },
        "Error: kafka.ssl_certificate_location: the client certificate {cert} expired on "
        "2020-01-02 00:00:00 UTC (hint: renew the certificate)",
    ),
    "wrong OAuth secret": (
        "oauth",
        {"oauth_client_secret_env": "KAFKAPLAN_STACK_OAUTH_SECRET_ALICE"},
        'Error: kafka: OAuth: no token from {token_url}: HTTP 401 {{"error": "invalid_client", '
        '"error_description": "bad credentials"}}',
    ),
    "token endpoint down": (
        "oauth",
        {"oauth_token_endpoint_url": "http://127.0.0.1:1/token"},
        "Error: kafka: OAuth: no token from http://127.0.0.1:1/token: [Errno 111] Connection "
        "refused",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_are_one_clear_line(
    make_project: MakeProject, secure: dict[str, str], case: str
) -> None:
    mode, overrides, expected = REFUSALS[case]
    settings = {k: (secure[v[1:]] if v.startswith("$") else v) for k, v in overrides.items()}
    project = secure_project(make_project, secure, mode, timeout="5s", **settings)
    project.specs(f"topics:\n  - name: {project.name('refused')}\n")
    result, elapsed = cli(project, "plan")
    ports = {
        "sasl_ssl": secure["KAFKAPLAN_STACK_SASL_SSL_BOOTSTRAP"].rsplit(":", 1)[1],
        "mtls": secure["KAFKAPLAN_STACK_MTLS_BOOTSTRAP"].rsplit(":", 1)[1],
        "token_url": secure["KAFKAPLAN_STACK_OIDC_TOKEN_URL"],
        "cert": secure["KAFKAPLAN_STACK_CERT_EXPIRED"],
    }
    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected.format(**ports)), lines[0]
    assert "Traceback" not in result.stderr
    assert "retry" not in result.stderr.lower()
    print(f"{case}: exit 1 after {elapsed:.1f}s: {lines[0]}")


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A token endpoint that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/token"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_a_token_endpoint_that_never_answers_cannot_hang_kafkaplan(
    make_project: MakeProject, secure: dict[str, str], black_hole: str
) -> None:
    """confluent-kafka-python#1713 and friends: a client waiting for a token. The token is
    asked for once, bounded by the configured timeout, before any librdkafka client exists
    (whose destruction would wait for its own token request), and the error says where."""
    project = secure_project(
        make_project, secure, "oauth", timeout="3s", oauth_token_endpoint_url=black_hole
    )
    project.specs(f"topics:\n  - name: {project.name('hang')}\n")
    result, elapsed = cli(project, "plan")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: kafka: OAuth: no token from {black_hole}: timed out"), (
        lines[0]
    )
    print(f"black-hole token endpoint: exit 1 after {elapsed:.1f}s: {lines[0]}")


def test_hostname_verification_is_on_unless_turned_off(
    make_project: MakeProject, secure: dict[str, str], relay: str
) -> None:
    """Through 127.0.0.2 (not in the broker certificate's SAN) the certificate is refused;
    with ssl_check_hostname: false the same address works."""
    checked = secure_project(make_project, secure, "scram", timeout="5s", bootstrap_servers=relay)
    result, _ = cli(checked, "plan")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: kafka: TLS: {relay}: the broker's certificate could not"), (
        lines[0]
    )
    unchecked = secure_project(
        make_project, secure, "scram", bootstrap_servers=relay, ssl_check_hostname="false"
    )
    text = (unchecked.root / "kafkaplan.yaml").read_text().replace("'false'", "false")
    (unchecked.root / "kafkaplan.yaml").write_text(text)
    unchecked.specs(f"topics:\n  - name: {unchecked.name('nocheck')}\n")
    plan = unchecked.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err


@pytest.fixture
def relay(secure: dict[str, str]) -> Iterator[str]:
    """127.0.0.2:<port> relayed to the SASL_SSL listener, byte for byte."""
    host, port = secure["KAFKAPLAN_STACK_SASL_SSL_BOOTSTRAP"].rsplit(":", 1)
    server = socket.socket()
    server.bind(("127.0.0.2", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection((host, int(port)), timeout=10)
            upstream.settimeout(None)
            client.settimeout(None)
            sockets.extend((client, upstream))
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.2:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for s in sockets:
        s.close()
    server.close()


def test_stack_generated_material(secure: dict[str, str]) -> None:
    """What the stack made: the broker certificate names 127.0.0.1 and localhost; the
    client certificates' subjects are the principals the docs promise."""
    out = subprocess.run(
        [
            "openssl",
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            str(Path(secure["KAFKAPLAN_STACK_TLS_DIR"]) / "broker.pem"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:localhost" in out
    assert "IP Address:127.0.0.1" in out
    for who, subject in (("ADMIN", "CN = admin"), ("ALICE", "CN = alice")):
        text = subprocess.run(
            ["openssl", "x509", "-noout", "-subject", "-in", secure[f"KAFKAPLAN_STACK_CERT_{who}"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert text.strip() == f"subject={subject}"


def test_debug_output_never_shows_the_secrets(
    make_project: MakeProject, secure: dict[str, str]
) -> None:
    """--debug logs librdkafka's and kafkaplan's own lines: the OAuth client secret, the key
    password, the tokens made from them and the SASL password are masked in all of them."""
    projects = [
        secure_project(make_project, secure, "oauth"),
        secure_project(
            make_project,
            secure,
            "mtls",
            ssl_certificate_location=secure["KAFKAPLAN_STACK_CERT_ALICE"],
            ssl_key_location=secure["KAFKAPLAN_STACK_KEY_ALICE"],
            ssl_key_password_env="KAFKAPLAN_STACK_ALICE_KEY_PASSWORD",
        ),
        secure_project(make_project, secure, "scram"),
    ]
    secrets = [
        secure["KAFKAPLAN_STACK_OAUTH_SECRET_ADMIN"],
        secure["KAFKAPLAN_STACK_ALICE_KEY_PASSWORD"],
        secure["KAFKAPLAN_SASL_PASSWORD"],
    ]
    outputs = []
    for project in projects:
        project.specs(f"topics:\n  - name: {project.name('debug')}\n")
        result, _ = cli(project, "--debug", "apply", "--auto-approve")
        outputs.append(result.stdout + result.stderr)
        # import lists partition reassignments, through kafka-python (an apply that changes
        # no replicas no longer needs it).
        imported = str(project.root / "imported")
        result, _ = cli(project, "--debug", "import", "--out", imported, "--prefix", project.prefix)
        outputs[-1] += result.stdout + result.stderr
    # The debug lines are there, kafka-python's (which got the OAuth token) among them.
    assert "kafka.admin.client" in outputs[0]
    assert [s for s in secrets for text in outputs if s in text] == []
    assert "eyJ" not in outputs[0]  # no JWT (base64url of '{"') either
