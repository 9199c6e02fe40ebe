"""The project file's connection settings, checked when the project is loaded."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from kafkaplan.errors import SpecError
from kafkaplan.spec.project import (
    KafkaConnection,
    Policy,
    ReassignmentSettings,
    RegistryConnection,
    load_project,
)
from tests.conftest import PROJECT, MakeProject


@pytest.mark.parametrize(
    "servers",
    [
        "kafka-1:9092",
        "kafka-1:9092, kafka-2:9092,kafka-3.example.com:9092",
        "kafka-1",  # librdkafka's default port
        "10.0.0.5:9094,[2001:db8::1]:9094",
        "SASL_SSL://b-1.msk.example.com:9096",
        "kafka-1:9092,",  # an empty entry is skipped, as librdkafka does
        "${env:KAFKAPLAN_BOOTSTRAP_SERVERS}",  # not set: the command that needs it says so
    ],
)
def test_broker_addresses_are_accepted(servers: str) -> None:
    assert KafkaConnection(bootstrap_servers=servers).bootstrap_servers == servers


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ("not a list", "'not a list' is not a broker address"),
        ("kafka-1:9092;kafka-2:9092", "'kafka-1:9092;kafka-2:9092' is not a broker address"),
        ("kafka-1:99999", "'kafka-1:99999': the port must be between 1 and 65535"),
        ("kafka-1:0", "'kafka-1:0': the port must be between 1 and 65535"),
        (" , ", "bootstrap_servers names no broker"),
    ],
)
def test_a_malformed_broker_address_is_refused(servers: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaConnection(bootstrap_servers=servers)


def test_a_malformed_address_from_the_environment_points_at_its_line(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting out the timeout for an address that cannot work helps nobody: the project
    is refused before anything is sent, at the line of the setting."""
    monkeypatch.setenv("KAFKAPLAN_BOOTSTRAP_SERVERS", "127.0.0.1:99999")
    project = make_project({}, PROJECT.replace("127.0.0.1:1", "${env:KAFKAPLAN_BOOTSTRAP_SERVERS}"))
    with pytest.raises(SpecError) as info:
        load_project(project)
    [problem] = info.value.diagnostics
    assert (problem.file, problem.line) == (str(project), 8)
    assert "'127.0.0.1:99999': the port must be between 1 and 65535" in problem.message


@pytest.mark.parametrize(
    "url",
    [
        "http://registry:8081",
        "https://registry.example.com/apis/ccompat/v7/",
        "http://[::1]:8080/apis/ccompat/v7",
        "${env:KAFKAPLAN_SCHEMA_REGISTRY_URL}",
    ],
)
def test_registry_urls_are_accepted(url: str) -> None:
    assert RegistryConnection(url=url).url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("registry:8081", "'registry:8081' is not an http(s) URL"),
        ("ftp://registry", "'ftp://registry' is not an http(s) URL"),
        ("http://registry:99999", "'http://registry:99999': the port must be between 1 and"),
        ("http://registry:0", "'http://registry:0': the port must be between 1 and 65535"),
        ("https://kp:hunter2@registry", "the URL must not contain credentials"),
        ("https://kp@registry", "the URL must not contain credentials"),
    ],
)
def test_a_malformed_registry_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as info:
        RegistryConnection(url=url)
    assert "hunter2" not in str(info.value.errors()[0]["msg"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # What the Kafka client refuses for socket.timeout.ms, which kafka.timeout becomes.
        (
            lambda: KafkaConnection(bootstrap_servers="k:9092", timeout="6m"),
            "between 10ms and 300s",
        ),
        (
            lambda: KafkaConnection(bootstrap_servers="k:9092", timeout="5ms"),
            "between 10ms and 300s",
        ),
        # An HTTP client cannot wait zero seconds.
        (lambda: RegistryConnection(url="http://r:8081", timeout="0s"), "must be positive"),
        # Polling without a pause would hammer the broker.
        (lambda: ReassignmentSettings(poll_interval="0s"), "the poll interval must be positive"),
    ],
    ids=["kafka-over", "kafka-under", "registry-zero", "poll-zero"],
)
def test_timeouts_a_client_cannot_use_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make()


def test_the_longest_kafka_timeout_the_client_takes_is_accepted() -> None:
    assert KafkaConnection(bootstrap_servers="k:9092", timeout="5m").timeout_seconds() == 300


def test_a_boolean_is_not_a_timeout_or_a_count() -> None:
    with pytest.raises(ValidationError) as info:
        KafkaConnection(bootstrap_servers="k:9092", timeout=True, retries=False)
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (
            ("timeout",),
            "Value error, expected a number or an amount with its unit (30s, 50MiB), got a boolean",
        ),
        (("retries",), "Value error, expected a number, got a boolean"),
    ]
    with pytest.raises(ValidationError, match="got a boolean"):
        Policy(max_retention=True)
