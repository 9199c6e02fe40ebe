from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkaplan.spec.units import (
    UnitError,
    format_duration_ms,
    format_size_bytes,
    parse_duration_ms,
    parse_size_bytes,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", 604_800_000),
        ("12h", 43_200_000),
        ("30m", 1_800_000),
        ("15s", 15_000),
        ("250ms", 250),
        ("2w", 1_209_600_000),
        ("1.5h", 5_400_000),
        (604800000, 604_800_000),
        ("604800000", 604_800_000),
        ("-1", -1),
        ("infinite", -1),
    ],
)
def test_parse_duration(text: object, expected: int) -> None:
    assert parse_duration_ms(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1GiB", 1024**3),
        ("512MiB", 512 * 1024**2),
        ("100MB", 100_000_000),
        ("1kb", 1000),
        (1048576, 1048576),
        ("unlimited", -1),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size_bytes(text) == expected


@pytest.mark.parametrize("bad", ["7 days", "7x", "", "1.0001ms", "-5", True, "abc"])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_duration_ms(bad)


def test_huge_numbers_are_refused() -> None:
    with pytest.raises(UnitError, match="larger than Kafka can store"):
        parse_size_bytes("99999999999TiB")


@given(st.integers(min_value=-1, max_value=2**62))
def test_duration_round_trips(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms


@given(st.integers(min_value=-1, max_value=2**62))
def test_size_round_trips(size: int) -> None:
    assert parse_size_bytes(format_size_bytes(size)) == size


def test_formatting_picks_the_largest_exact_unit() -> None:
    assert format_duration_ms(604_800_000) == "7d"
    assert format_duration_ms(90_000) == "90s"
    assert format_size_bytes(2 * 1024**2) == "2MiB"
    assert format_size_bytes(1000) == "1000B"
