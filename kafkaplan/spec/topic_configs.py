"""The catalog of Kafka topic configs kafkaplan manages, and how to normalize their values.

Spec values are normalized to the string Kafka itself stores and reports (``7d`` becomes
``604800000``, ``true`` becomes ``"true"``, ``[delete, compact]`` becomes
``"compact,delete"``), so that a spec and the live cluster compare equal whenever Kafka would
consider them equal: no perpetual diffs from spelling.

The list follows Apache Kafka's topic-level configs (``TopicConfig`` and ``LogConfig``)
from 3.9 to 4.x. Configs removed in 4.0 (``message.format.version``,
``message.downconversion.enable``, ``message.timestamp.difference.max.ms``) are known here,
for 3.x clusters; a plan against a 4.x broker refuses them (``kafkaplan.live.features``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from enum import StrEnum

from msgspec import Struct

from kafkaplan.spec.units import (
    LONG_MAX,
    UnitError,
    format_duration_ms,
    format_size_bytes,
    parse_duration_ms,
    parse_size_bytes,
)


class Kind(StrEnum):
    DURATION = "duration"
    SIZE = "size"
    LONG = "long"
    INT = "int"
    RATIO = "ratio"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    CHOICE_LIST = "choice-list"
    STRING = "string"


class ConfigSpec(Struct, frozen=True):
    name: str
    kind: Kind
    doc: str
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    # Values below -1 that Kafka gives a meaning (local.retention.*: -2 = follow retention.*).
    specials: tuple[int, ...] = ()


def _d(
    name: str, doc: str, minimum: int | None = 0, specials: tuple[int, ...] = (-1,)
) -> ConfigSpec:
    return ConfigSpec(name, Kind.DURATION, doc, minimum=minimum, specials=specials)


def _s(name: str, doc: str, minimum: int | None = 0, specials: tuple[int, ...] = ()) -> ConfigSpec:
    return ConfigSpec(name, Kind.SIZE, doc, minimum=minimum, specials=specials)


_CATALOG: tuple[ConfigSpec, ...] = (
    ConfigSpec(
        "cleanup.policy",
        Kind.CHOICE_LIST,
        "delete old segments, compact by key, or both",
        choices=("compact", "delete"),
    ),
    ConfigSpec(
        "compression.type",
        Kind.CHOICE,
        "final compression of the topic's data",
        choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    ),
    ConfigSpec("compression.gzip.level", Kind.INT, "gzip level (1-9, -1 default)", minimum=-1),
    ConfigSpec("compression.lz4.level", Kind.INT, "lz4 level (1-17)", minimum=1),
    ConfigSpec("compression.zstd.level", Kind.INT, "zstd level (-131072-22)", minimum=-131072),
    _d(
        "delete.retention.ms",
        "how long delete tombstones are kept on compacted topics",
        specials=(),
    ),
    _d("file.delete.delay.ms", "delay before a deleted segment file is removed", specials=()),
    ConfigSpec("flush.messages", Kind.LONG, "fsync after this many messages", minimum=1),
    _d("flush.ms", "fsync after this long", specials=()),
    _s("index.interval.bytes", "bytes between offset index entries"),
    _s(
        "local.retention.bytes",
        "tiered storage: bytes kept locally (-2: retention.bytes)",
        minimum=0,
        specials=(-1, -2),
    ),
    _d(
        "local.retention.ms",
        "tiered storage: time kept locally (-2: retention.ms)",
        specials=(-1, -2),
    ),
    _d("max.compaction.lag.ms", "longest a message stays uncompacted", minimum=1, specials=()),
    _s("max.message.bytes", "largest record batch the topic accepts"),
    ConfigSpec(
        "message.downconversion.enable",
        Kind.BOOLEAN,
        "down-convert records for old consumers (Kafka 3.x only)",
    ),
    ConfigSpec("message.format.version", Kind.STRING, "record format version (Kafka 3.x only)"),
    _d("message.timestamp.after.max.ms", "how far in the future a timestamp may be", specials=()),
    _d("message.timestamp.before.max.ms", "how far in the past a timestamp may be", specials=()),
    _d(
        "message.timestamp.difference.max.ms",
        "how far a timestamp may be from the broker's clock (Kafka 3.x only)",
        specials=(),
    ),
    ConfigSpec(
        "message.timestamp.type",
        Kind.CHOICE,
        "whose timestamp records carry",
        choices=("CreateTime", "LogAppendTime"),
    ),
    ConfigSpec("min.cleanable.dirty.ratio", Kind.RATIO, "how dirty a log gets before compaction"),
    _d("min.compaction.lag.ms", "shortest a message stays uncompacted", specials=()),
    ConfigSpec("min.insync.replicas", Kind.INT, "replicas that must ack with acks=all", minimum=1),
    ConfigSpec("preallocate", Kind.BOOLEAN, "preallocate segment files"),
    ConfigSpec("remote.log.copy.disable", Kind.BOOLEAN, "tiered storage: stop copying segments"),
    ConfigSpec("remote.log.delete.on.disable", Kind.BOOLEAN, "tiered storage: delete on disable"),
    ConfigSpec("remote.storage.enable", Kind.BOOLEAN, "tiered storage for this topic"),
    _s(
        "retention.bytes",
        "largest a partition grows before old segments are deleted",
        specials=(-1,),
    ),
    _d("retention.ms", "how long records are kept"),
    _s("segment.bytes", "size of one log segment file", minimum=1024 * 1024),
    _s("segment.index.bytes", "size of the offset index per segment", minimum=4),
    _d("segment.jitter.ms", "random jitter on segment rolls", specials=()),
    _d("segment.ms", "time after which a segment rolls", minimum=1, specials=()),
    ConfigSpec("unclean.leader.election.enable", Kind.BOOLEAN, "allow data-losing leader election"),
)

TOPIC_CONFIGS: dict[str, ConfigSpec] = {spec.name: spec for spec in _CATALOG}

# Configs that exist on topics but that kafkaplan refuses to manage from specs, with why.
REFUSED_CONFIGS: dict[str, str] = {
    "leader.replication.throttled.replicas": "replication throttles are set during "
    "partition reassignments, not declared",
    "follower.replication.throttled.replicas": "replication throttles are set during "
    "partition reassignments, not declared",
}

_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


class ConfigValueError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def unknown_config_hint(name: str) -> str:
    if name in REFUSED_CONFIGS:
        return REFUSED_CONFIGS[name]
    close = difflib.get_close_matches(name, TOPIC_CONFIGS, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "see `kafkaplan schema` or docs/spec-reference.md for the topic configs kafkaplan knows"


def _check_integer(spec: ConfigSpec, number: int) -> int:
    if number in spec.specials:
        return number
    if spec.minimum is not None and number < spec.minimum:
        allowed = f" (or {', '.join(map(str, spec.specials))})" if spec.specials else ""
        raise ConfigValueError(
            f"{spec.name} must be at least {spec.minimum}{allowed}, got {number}"
        )
    if number > LONG_MAX:
        raise ConfigValueError(f"{spec.name} is larger than Kafka can store")
    return number


def _parse_int(spec: ConfigSpec, value: object) -> int:
    if isinstance(value, bool):
        raise ConfigValueError(f"{spec.name} takes a number, got a boolean")
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise ConfigValueError(f"{spec.name} takes a whole number, got {value!r}") from exc


def _split_list(value: object) -> list[str]:
    items: Iterable[object] = value if isinstance(value, list | tuple) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def normalize(name: str, value: object) -> str:
    """The string Kafka stores for ``value`` of config ``name``. Raises ConfigValueError."""
    spec = TOPIC_CONFIGS.get(name)
    if spec is None:
        raise ConfigValueError(f"unknown topic config {name!r}", hint=unknown_config_hint(name))
    return normalize_value(spec, value)


def normalize_value(spec: ConfigSpec, value: object) -> str:
    """The string Kafka stores for ``value`` of the config ``spec`` describes (topic and
    group configs alike). Raises ConfigValueError."""
    name = spec.name
    try:
        if spec.kind is Kind.DURATION:
            return str(_check_integer(spec, _parse_special(spec, value, parse_duration_ms)))
        if spec.kind is Kind.SIZE:
            return str(_check_integer(spec, _parse_special(spec, value, parse_size_bytes)))
    except UnitError as exc:
        raise ConfigValueError(f"{name}: {exc}") from exc
    if spec.kind in (Kind.LONG, Kind.INT):
        number = _parse_int(spec, value)
        if spec.kind is Kind.INT and not -(2**31) <= number < 2**31:
            raise ConfigValueError(f"{name} must fit in a 32-bit integer, got {number}")
        return str(_check_integer(spec, number))
    if spec.kind is Kind.RATIO:
        try:
            ratio = float(str(value))
        except ValueError as exc:
            raise ConfigValueError(f"{name} takes a number between 0 and 1, got {value!r}") from exc
        if not 0.0 <= ratio <= 1.0 or math.isnan(ratio):
            raise ConfigValueError(f"{name} must be between 0 and 1, got {value!r}")
        return repr(ratio)
    if spec.kind is Kind.BOOLEAN:
        text = str(value).strip().lower()
        if text in _TRUE:
            return "true"
        if text in _FALSE:
            return "false"
        raise ConfigValueError(f"{name} takes true or false, got {value!r}")
    if spec.kind is Kind.CHOICE:
        by_lower = {choice.lower(): choice for choice in spec.choices}
        chosen = by_lower.get(str(value).strip().lower())
        if chosen is None:
            raise ConfigValueError(
                f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
            )
        return chosen
    if spec.kind is Kind.STRING:
        text = str(value).strip()
        if not text:
            raise ConfigValueError(f"{name} takes a non-empty value")
        return text
    # CHOICE_LIST
    items = _split_list(value)
    if not items:
        raise ConfigValueError(f"{name} needs at least one of {', '.join(spec.choices)}")
    for item in items:
        if item.lower() not in spec.choices:
            raise ConfigValueError(f"{name} takes {', '.join(spec.choices)}, got {item!r}")
    return ",".join(sorted({item.lower() for item in items}))


def _parse_special(spec: ConfigSpec, value: object, parse: Callable[[object], int]) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in spec.specials:
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit() and int(text) in spec.specials:
        return int(text)
    number = parse(value)
    if number == -1 and -1 not in spec.specials:
        raise ConfigValueError(f"{spec.name} cannot be unlimited (-1)")
    return number


def values_equal(name: str, left: str | None, right: str | None) -> bool:
    """Whether Kafka would treat two stored values of ``name`` as the same setting."""
    if left is None or right is None:
        return left is right
    spec = TOPIC_CONFIGS.get(name)
    if spec is None:
        return left == right
    try:
        return normalize(name, left) == normalize(name, right)
    except ConfigValueError:
        return left == right


def humanize(name: str, value: str | None) -> str:
    """A reader-friendly rendering: ``604800000 (7d)``."""
    if value is None:
        return "(broker default)"
    spec = TOPIC_CONFIGS.get(name)
    if spec is None or not value.lstrip("-").isdigit():
        return value
    number = int(value)
    if number in spec.specials and number < -1:
        return value
    if spec.kind is Kind.DURATION:
        human = format_duration_ms(number)
    elif spec.kind is Kind.SIZE:
        human = format_size_bytes(number)
    else:
        return value
    return value if human in (value, f"{value}ms", f"{value}B") else f"{value} ({human})"


def to_spec_value(name: str, value: str) -> str | int | bool | float:
    """The idiomatic spec spelling of a stored value (for import): ``7d``, ``1GiB``, ``true``."""
    spec = TOPIC_CONFIGS.get(name)
    if spec is None:
        return value
    if spec.kind in (Kind.DURATION, Kind.SIZE) and value.lstrip("-").isdigit():
        number = int(value)
        if number in spec.specials and number != -1:
            return number
        return (
            format_duration_ms(number) if spec.kind is Kind.DURATION else format_size_bytes(number)
        )
    if spec.kind in (Kind.INT, Kind.LONG) and value.lstrip("-").isdigit():
        return int(value)
    if spec.kind is Kind.BOOLEAN:
        return value == "true"
    if spec.kind is Kind.RATIO:
        return float(value)
    return value
