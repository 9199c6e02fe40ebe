from __future__ import annotations

import pytest

from kafkaplan.spec.topic_configs import ConfigValueError, humanize, normalize, values_equal


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("retention.ms", "7d", "604800000"),
        ("retention.ms", 604800000, "604800000"),
        ("retention.ms", -1, "-1"),
        ("retention.bytes", "1GiB", "1073741824"),
        ("cleanup.policy", "delete,compact", "compact,delete"),
        ("cleanup.policy", ["compact", "delete"], "compact,delete"),
        ("cleanup.policy", "Compact", "compact"),
        ("unclean.leader.election.enable", True, "true"),
        ("unclean.leader.election.enable", "false", "false"),
        ("compression.type", "ZSTD", "zstd"),
        ("message.timestamp.type", "logappendtime", "LogAppendTime"),
        ("min.cleanable.dirty.ratio", "0.50", "0.5"),
        ("min.insync.replicas", "2", "2"),
        ("local.retention.ms", -2, "-2"),
    ],
)
def test_normalize_to_what_kafka_stores(name: str, value: object, stored: str) -> None:
    assert normalize(name, value) == stored


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("retention.mss", "7d", "did you mean 'retention.ms'"),
        ("cleanup.policy", "forever", "takes compact, delete"),
        ("min.insync.replicas", 0, "at least 1"),
        ("segment.bytes", "1KiB", "at least 1048576"),
        ("compression.type", "brotli", "must be one of"),
        ("unclean.leader.election.enable", "maybe", "true or false"),
        ("min.cleanable.dirty.ratio", 2, "between 0 and 1"),
        ("segment.ms", -1, "cannot be unlimited"),
        ("message.downconversion.enable", "maybe", "true or false"),
    ],
)
def test_invalid_values_are_explained(name: str, value: object, message: str) -> None:
    with pytest.raises(ConfigValueError) as info:
        normalize(name, value)
    assert message in f"{info.value} {info.value.hint}"


def test_values_equal_ignores_spelling() -> None:
    assert values_equal("retention.ms", "604800000", "604800000")
    assert values_equal("cleanup.policy", "delete,compact", "compact,delete")
    assert values_equal("min.cleanable.dirty.ratio", "0.5", "0.50")
    assert not values_equal("retention.ms", "604800000", "86400000")


def test_humanize_adds_units() -> None:
    assert humanize("retention.ms", "604800000") == "604800000 (7d)"
    assert humanize("retention.bytes", "1073741824") == "1073741824 (1GiB)"
    assert humanize("cleanup.policy", "compact") == "compact"
    assert humanize("retention.ms", None) == "(broker default)"
