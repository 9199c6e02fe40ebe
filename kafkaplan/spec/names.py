"""The names Kafka and the registry accept: the one place the rules are written."""

from __future__ import annotations

import re

MAX_TOPIC_NAME = 249
LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")


def check_topic_name(name: str) -> str | None:
    """Why Kafka would refuse ``name`` as a topic name, or None."""
    if not name:
        return "topic name is empty"
    if name in (".", ".."):
        return "topic name cannot be '.' or '..'"
    if len(name) > MAX_TOPIC_NAME:
        return f"topic name is {len(name)} characters long; Kafka allows {MAX_TOPIC_NAME}"
    if not LEGAL_TOPIC.match(name):
        bad = sorted({ch for ch in name if not re.match(r"[a-zA-Z0-9._-]", ch)})
        return f"topic name has characters Kafka does not allow: {''.join(bad)!r}"
    return None


def check_subject_name(name: str) -> str | None:
    """Why kafkaplan refuses ``name`` as a subject name, or None."""
    if not name.strip():
        return "subject name is empty"
    if name != name.strip() or any(ch in name for ch in "/\\?#%") or not name.isprintable():
        return f"subject name {name!r} has characters kafkaplan does not manage (/, \\, ?, #, %, spaces at the ends, control characters)"
    if len(name) > 255:
        return f"subject name is {len(name)} characters long; at most 255 are managed"
    return None
