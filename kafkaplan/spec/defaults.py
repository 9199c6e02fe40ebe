"""Default factories of the spec, project and plan models."""

from __future__ import annotations

from typing import Any


def new_list() -> list[Any]:
    """A new empty list: the default of every list field of a model.

    Not ``list`` itself: pydantic inspects the signature of each default factory when it
    builds a model's validator, and ``inspect.signature(list)`` takes 75 us here against a
    Python function's 6 us (55 such fields cost 8 ms of every run). Not a default of ``[]``
    either: pydantic deep-copies that for every instance it makes, which makes a model with
    three such fields four times slower to validate.
    """
    return []
