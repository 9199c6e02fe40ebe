"""Security settings of a Kafka connection: strict validation, certificate dates, what
librdkafka's TLS and OAuth errors are turned into, kafka-python's settings, and the AWS MSK
IAM token provider (wired to the signer's real code, without any network)."""

from __future__ import annotations

import base64
import ssl
import subprocess
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kafkaplan.errors import ProjectError
from kafkaplan.live.connection import (
    certificate_validity,
    check_certificate_dates,
    kafka_python_config,
    librdkafka_config,
    oauth_failure,
    registry_tls_failure,
    tls_failure,
)
from kafkaplan.spec.project import KafkaConnection


def connection(**settings: Any) -> KafkaConnection:
    return KafkaConnection(bootstrap_servers="b:9093", **settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ssl_ca_location": "/ca.pem"}, "ssl_ca_location need security_protocol SSL or SASL_SSL"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "ssl_check_hostname": False},
            "ssl_check_hostname need security_protocol SSL or SASL_SSL, not SASL_PLAINTEXT",
        ),
        (
            {"security_protocol": "SSL", "ssl_certificate_location": "/c.pem"},
            "needs both ssl_certificate_location and ssl_key_location",
        ),
        ({"sasl_mechanism": "PLAIN"}, "sasl_mechanism needs security_protocol SASL_PLAINTEXT"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
            "sasl_mechanism PLAIN needs sasl_username and sasl_password_env",
        ),
        (
            {"security_protocol": "SSL", "oauth_client_id": "x"},
            "oauth_client_id need sasl_mechanism OAUTHBEARER",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "OAUTHBEARER",
                "oauth_token_endpoint_url": "https://idp/token",
            },
            "OAUTHBEARER (oidc) needs oauth_client_id, oauth_client_secret_env",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "OAUTHBEARER",
                "oauth_token_provider": "aws-msk-iam",
            },
            "oauth_token_provider aws-msk-iam needs aws_region",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "OAUTHBEARER",
                "oauth_token_provider": "aws-msk-iam",
                "aws_region": "eu-west-1",
            },
            "aws-msk-iam needs security_protocol SASL_SSL",
        ),
    ],
)
def test_inconsistent_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        connection(**settings)
    assert message in str(info.value)


def make_cert(tmp_path: Path, name: str, *extra: str) -> Path:
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={name}",
            "-days",
            "2",
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return cert


def test_certificate_dates_are_read_from_the_pem(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "alice")
    validity = certificate_validity(cert)
    assert validity is not None
    start, end = validity
    assert start <= datetime.now(UTC) < end
    assert (end - start).days == 2
    check_certificate_dates(cert)  # valid now
    with pytest.raises(ProjectError, match=r"alice\.pem expired on") as info:
        check_certificate_dates(cert, now=datetime(2099, 1, 1, tzinfo=UTC))
    assert info.value.hint == "renew the certificate"
    with pytest.raises(ProjectError, match="is not valid before"):
        check_certificate_dates(cert, now=datetime(2001, 1, 1, tzinfo=UTC))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert certificate_validity(garbage) is None


def test_missing_tls_file_is_named() -> None:
    with pytest.raises(ProjectError, match=r"kafka.ssl_ca_location: /nonexistent/ca.pem is not"):
        librdkafka_config(
            connection(security_protocol="SSL", ssl_ca_location="/nonexistent/ca.pem"), {}
        )


def test_hostname_verification_opt_out(tmp_path: Path) -> None:
    on = librdkafka_config(connection(security_protocol="SSL"), {})
    assert "ssl.endpoint.identification.algorithm" not in on  # librdkafka's default: https
    off = connection(security_protocol="SSL", ssl_check_hostname=False)
    assert librdkafka_config(off, {})["ssl.endpoint.identification.algorithm"] == "none"
    assert kafka_python_config(off, {})["ssl_check_hostname"] is False
    assert kafka_python_config(connection(security_protocol="SSL"), {})["ssl_check_hostname"]


# librdkafka 2.16's own words, as seen against scripts/stack up --security.
UNTRUSTED = (
    "sasl_ssl://127.0.0.1:39094/bootstrap: SSL handshake failed: error:0A000086:SSL "
    "routines::certificate verify failed: broker certificate could not be verified, verify "
    "that ssl.ca.location is correctly configured or root CA certificates are installed "
    "(install ca-certificates package) (after 36ms in state SSL_HANDSHAKE)"
)
REFUSED = (
    "ssl://127.0.0.1:39095/bootstrap: Receive failed: error:0A000412:SSL routines::ssl/tls "
    "alert bad certificate: SSL alert number 42 (after 1ms in state APIVERSION_QUERY)"
)


def test_tls_failures_name_the_address_and_the_reason() -> None:
    untrusted = tls_failure("_SSL", UNTRUSTED)
    assert untrusted is not None
    assert untrusted[0] == (
        "TLS: 127.0.0.1:39094: the broker's certificate could not be verified (not signed by "
        "a trusted CA)"
    )
    refused = tls_failure("_TRANSPORT", REFUSED)
    assert refused is not None
    assert (
        refused[0]
        == "TLS: 127.0.0.1:39095 refused the client certificate (TLS alert: bad certificate)"
    )
    assert tls_failure("_TRANSPORT", "127.0.0.1:1/bootstrap: Connect failed: refused") is None


def test_oauth_failure_names_the_endpoint_and_the_variable() -> None:
    conn = connection(
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        oauth_token_endpoint_url="http://127.0.0.1:1/token",
        oauth_client_id="kafkaplan",
        oauth_client_secret_env="KP_SECRET",
    )
    failure = oauth_failure(
        "_AUTHENTICATION",
        "Failed to acquire SASL OAUTHBEARER token: Failed to connect to 127.0.0.1:1 after 0 ms",
        conn,
    )
    assert failure is not None
    assert failure[0] == (
        "OAuth: no token from http://127.0.0.1:1/token: Failed to connect to 127.0.0.1:1 after 0 ms"
    )
    assert "KP_SECRET" in failure[1]


MSK = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "OAUTHBEARER",
    "oauth_token_provider": "aws-msk-iam",
    "aws_region": "eu-west-1",
}


def test_msk_iam_oauth_cb_signs_with_static_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signer's real code, with static credentials from the environment (no network):
    the token is a base64url presigned kafka-cluster:Connect URL for the region."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKAFKAPLAN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kp-aws-secret-0a9e")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = librdkafka_config(connection(**MSK), {})
    assert config["sasl.mechanism"] == "OAUTHBEARER"
    assert "sasl.oauthbearer.method" not in config
    token, expiry = config["oauth_cb"]("")
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qs(parsed.query)
    assert parsed.netloc == "kafka.eu-west-1.amazonaws.com"
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Credential"][0].startswith("AKIAEXAMPLEKAFKAPLAN/")
    assert "kp-aws-secret-0a9e" not in url
    assert time.time() < expiry <= time.time() + 15 * 60 + 5

    # kafka-python (reassignments) signs the same way, through its token provider.
    provider = kafka_python_config(connection(**MSK), {})["sasl_oauth_token_provider"]
    assert base64.urlsafe_b64decode(provider.token() + "==").startswith(b"https://kafka.")


def test_admin_client_serves_oauth_cb_without_a_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """confluent-kafka-python#1713: an AdminClient calls oauth_cb only from poll(). The
    cluster client polls once when it is made, so the callback runs before any request."""
    from kafkaplan.live import cluster as cluster_module

    called = threading.Event()

    def oauth_cb(_config: str) -> tuple[str, float]:
        called.set()
        return "token", time.time() + 60

    monkeypatch.setattr(cluster_module, "client_config", lambda c, e: _with_cb(oauth_cb))
    client = cluster_module.KafkaCluster(connection(**MSK), {})
    assert called.is_set()
    client.close()


def _with_cb(oauth_cb: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": "127.0.0.1:1",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "oauth_cb": oauth_cb,
    }


def test_registry_tls_failures() -> None:
    alert = ssl.SSLError(
        1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required"
    )
    assert registry_tls_failure(alert) == (
        "the registry refused the client certificate (TLS alert: certificate required)"
    )
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert "closed the connection during the TLS handshake" in str(registry_tls_failure(eof))
    assert registry_tls_failure(ConnectionRefusedError(111, "refused")) is None
