"""Secrets: read only from environment variables, and never shown.

Every secret kafkaplan reads goes through ``read_secret``, which remembers it for this
process, so that ``Redactor`` can mask it in any log line — including those of the
client libraries, some of which log their whole configuration at debug level.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from kafkaplan.errors import ProjectError

MASK = "***"

_known: set[str] = set()
_lock = threading.Lock()


def remember(value: str) -> str:
    """Treat ``value`` as a secret from now on (e.g. a token derived from a password)."""
    if value:
        with _lock:
            _known.add(value)
    return value


def read_secret(variable: str | None, environ: Mapping[str, str], what: str) -> str:
    """The secret held by environment variable ``variable``; a clear error if there is none."""
    if not variable:
        raise ProjectError(
            f"no {what} configured", hint=f"name the environment variable holding the {what}"
        )
    value = environ.get(variable)
    if value is None:
        raise ProjectError(
            f"the {what} comes from environment variable {variable}, which is not set",
            hint=f"export {variable}",
        )
    return remember(value)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    return text


class Redactor(logging.Filter):
    """A logging filter that masks every secret read so far in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
