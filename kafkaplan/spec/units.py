"""Human units for durations and sizes, normalized to the integers Kafka stores.

Durations: ``250ms``, ``30s``, ``15m``, ``12h``, ``7d``, ``2w`` (and plain integers, which
are milliseconds). Sizes: ``512B``, ``64KiB``, ``1GiB`` (binary), ``1KB``/``1GB``
(decimal), and plain integers, which are bytes. ``-1`` (or ``infinite``/``unlimited``)
passes through: Kafka uses it for "no limit".
"""

from __future__ import annotations

import re

DURATION_UNITS_MS: dict[str, int] = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}

SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

UNLIMITED_WORDS = frozenset({"infinite", "unlimited", "forever"})

_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

# Kafka stores these as Java longs.
LONG_MAX = 2**63 - 1


class UnitError(ValueError):
    pass


def _parse(value: object, units: dict[str, int], default_unit: str, kind: str) -> int:
    if isinstance(value, bool):
        raise UnitError(f"expected a {kind}, got a boolean")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if text.lower() in UNLIMITED_WORDS:
            return -1
        match = _QUANTITY.match(text)
        if not match:
            examples = "7d, 12h, 30m" if kind == "duration" else "1GiB, 512MiB, 100MB"
            raise UnitError(f"{value!r} is not a {kind} (examples: {examples})")
        amount, unit = match.group(1), (match.group(2) or default_unit).lower()
        if unit not in units:
            raise UnitError(f"unknown {kind} unit {match.group(2)!r} (one of: {', '.join(units)})")
        scaled = float(amount) * units[unit] if "." in amount else int(amount) * units[unit]
        if scaled != int(scaled):
            raise UnitError(f"{value!r} is not a whole number of {default_unit}")
        number = int(scaled)
    if number < -1:
        raise UnitError(f"{kind} must be -1 (unlimited) or a positive amount, got {number}")
    if number > LONG_MAX:
        raise UnitError(f"{value!r} is larger than Kafka can store")
    return number


def parse_duration_ms(value: object) -> int:
    """``7d`` -> 604800000. Plain integers are milliseconds."""
    return _parse(value, DURATION_UNITS_MS, "ms", "duration")


def parse_size_bytes(value: object) -> int:
    """``1GiB`` -> 1073741824. Plain integers are bytes."""
    return _parse(value, SIZE_UNITS, "b", "size")


def format_duration_ms(ms: int) -> str:
    """The largest unit that represents ``ms`` exactly: 604800000 -> ``7d``."""
    if ms == -1:
        return "infinite"
    if ms == 0:
        return "0ms"
    for unit in ("w", "d", "h", "m", "s"):
        if ms % DURATION_UNITS_MS[unit] == 0:
            # Weeks read less naturally than days below a year.
            if unit == "w" and ms < 52 * DURATION_UNITS_MS["w"]:
                continue
            return f"{ms // DURATION_UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def format_size_bytes(size: int) -> str:
    """The largest binary unit that represents ``size`` exactly: 1073741824 -> ``1GiB``."""
    if size == -1:
        return "unlimited"
    if size == 0:
        return "0B"
    for unit in ("tib", "gib", "mib", "kib"):
        if size % SIZE_UNITS[unit] == 0:
            return f"{size // SIZE_UNITS[unit]}{unit[0].upper()}iB"
    return f"{size}B"
