"""Connection settings -> librdkafka settings: SASL (PLAIN, SCRAM, OAUTHBEARER) and TLS,
secrets only from the environment; sensitive live values masked in every rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kafkaplan.errors import ProjectError
from kafkaplan.live.cluster import client_config
from kafkaplan.live.read import read_live
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.render import render
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.project import KafkaConnection
from tests.fakes import FakeTopic, MemoryCluster

ENVIRON = {
    "KP_PASSWORD": "pw-6e1f",
    "KP_KEY_PASSWORD": "key-9a2c",
    "KP_CLIENT_SECRET": "cs-77d0",
}


def config(**settings: Any) -> dict[str, Any]:
    return client_config(KafkaConnection(bootstrap_servers="b:9093", **settings), ENVIRON)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_with_password(mechanism: str) -> None:
    result = config(
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,
        sasl_username="kafkaplan",
        sasl_password_env="KP_PASSWORD",
        timeout="7s",
    )
    assert result == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SASL_SSL",
        "client.id": "kafkaplan",
        "socket.timeout.ms": 7000,
        "sasl.mechanism": mechanism,
        "sasl.username": "kafkaplan",
        "sasl.password": "pw-6e1f",
    }


def test_oauthbearer_client_credentials(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    result = config(
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        oauth_token_endpoint_url="https://idp.example/oauth2/token",
        oauth_client_id="kafkaplan-ci",
        oauth_client_secret_env="KP_CLIENT_SECRET",
        oauth_scope="kafka",
        ssl_ca_location=str(ca),
    )
    assert {k: v for k, v in result.items() if k.startswith(("sasl", "ssl"))} == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
        "sasl.oauthbearer.client.id": "kafkaplan-ci",
        "sasl.oauthbearer.client.secret": "cs-77d0",
        "sasl.oauthbearer.scope": "kafka",
        "ssl.ca.location": str(ca),
    }
    assert "sasl.username" not in result


def test_oauthbearer_needs_endpoint_and_secret() -> None:
    with pytest.raises(
        ValidationError, match="OAUTHBEARER \\(oidc\\) needs oauth_token_endpoint_url"
    ):
        config(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER")
    with pytest.raises(ProjectError, match="OAuth client secret") as info:
        config(
            security_protocol="SASL_SSL",
            sasl_mechanism="OAUTHBEARER",
            oauth_token_endpoint_url="https://idp.example/token",
            oauth_client_id="x",
            oauth_client_secret_env="KP_UNSET",
        )
    assert "export KP_UNSET" in str(info.value)


def test_mutual_tls(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("not PEM: librdkafka judges it")
    result = config(
        security_protocol="SSL",
        ssl_ca_location=str(tmp_path / "ca.pem"),
        ssl_certificate_location=str(tmp_path / "client.pem"),
        ssl_key_location=str(tmp_path / "client.key"),
        ssl_key_password_env="KP_KEY_PASSWORD",
    )
    assert {k: v for k, v in result.items() if k.startswith(("ssl", "security"))} == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(tmp_path / "ca.pem"),
        "ssl.certificate.location": str(tmp_path / "client.pem"),
        "ssl.key.location": str(tmp_path / "client.key"),
        "ssl.key.password": "key-9a2c",
    }
    assert "sasl.mechanism" not in result


def test_missing_secret_names_the_variable_not_a_value() -> None:
    with pytest.raises(ProjectError) as info:
        config(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="u",
            sasl_password_env="KP_NOT_SET",
        )
    assert "environment variable KP_NOT_SET, which is not set" in str(info.value)


def test_sensitive_live_values_are_masked_everywhere() -> None:
    cluster = MemoryCluster(brokers=1)
    cluster.topics["orders.created.v1"] = FakeTopic(1, 1, {"retention.ms": "s3cr3t-value"})
    cluster.topics["own.doomed.v1"] = FakeTopic(1, 1, {"retention.ms": "s3cr3t-value"})
    cluster.sensitive.add("retention.ms")
    from kafkaplan.spec.desired import DesiredTopic, Source

    desired = DesiredState(
        topics={
            "orders.created.v1": DesiredTopic(
                "orders.created.v1", 1, 1, {"retention.ms": "1000"}, Source("a.yaml", 1)
            )
        },
        owned_topic_prefixes=("own.",),
    )
    plan = compute_plan(desired, read_live(cluster, desired), PlanOptions(allow_deletes=True))
    assert len(plan.changes) == 2
    for fmt in ("text", "json", "markdown"):
        text = render(plan, fmt)
        assert "s3cr3t-value" not in text, fmt
        assert "(sensitive)" in text, fmt


def test_an_interrupt_lost_in_a_librdkafka_callback_stays_an_interrupt() -> None:
    """confluent-kafka reports a KeyboardInterrupt raised in a callback during poll or
    flush as SystemError; kafkaplan turns it back into the interrupt it was (a Ctrl-C in
    the lease's flush was an "Internal error")."""
    from kafkaplan.live.connection import interruptible

    def lost() -> int:
        raise SystemError(
            "<method 'flush' of 'cimpl.Producer' objects> returned NULL without setting an "
            "exception"
        )

    def other() -> int:
        raise SystemError("something else")

    with pytest.raises(KeyboardInterrupt):
        interruptible(lost)
    with pytest.raises(SystemError, match="something else"):
        interruptible(other)
    assert interruptible(lambda: 3) == 3
