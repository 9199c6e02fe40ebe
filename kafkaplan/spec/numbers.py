"""Number types of the spec and project models that refuse booleans.

pydantic takes ``true`` for 1, and YAML reads ``yes`` and ``on`` as true: ``partitions:
yes`` would plan a topic of one partition. Each type checks the whole value, so that a
``Field``'s bounds stay bounds in the JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _not_a_bool(expected: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected {expected}, got a boolean")
        return value

    return BeforeValidator(check)


# A whole number (counts, versions); MaybeCount: or null.
Count = Annotated[int, _not_a_bool("a number")]
MaybeCount = Annotated[int | None, _not_a_bool("a number")]
# A duration or size with its unit, or a bare number (ms, bytes).
Quantity = Annotated[str | int, _not_a_bool("a number or an amount with its unit (30s, 50MiB)")]
# A rate or a share, whole or not, or null.
MaybeNumber = Annotated[int | float | None, _not_a_bool("a number")]
