"""SCRAM users: the ``users:`` list of a spec file, checked into ``DesiredUser``s.

A user is a name, the SCRAM mechanisms it has a credential for, their iteration count, and
the environment variable its password is read from. The password itself is never part of
the specs, the desired state or a plan: apply reads it from that variable, through
``kafkaplan.secrets`` (docs/users.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.desired import DesiredUser, Source
from kafkaplan.spec.source import Document

Mechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]
MECHANISMS: tuple[str, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512")

# Kafka's bounds for SCRAM iterations (ScramMechanism.minIterations / maxIterations): the
# broker refuses a credential outside them.
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
DEFAULT_ITERATIONS = 4096
DEFAULT_MECHANISM: Mechanism = "SCRAM-SHA-512"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UserSpec(BaseModel):
    """A SCRAM user (SASL/SCRAM credentials kept by the Kafka cluster)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    name: str = Field(
        min_length=1,
        max_length=255,
        description="The user name clients authenticate with (`User:<name>` in ACLs).",
        examples=["billing-service"],
    )
    mechanism: Mechanism | list[Mechanism] = Field(
        default=DEFAULT_MECHANISM,
        description="The SCRAM mechanism(s) the user has a credential for: one, or a list "
        "of both. A mechanism dropped from the list has its credential removed.",
        examples=["SCRAM-SHA-512", ["SCRAM-SHA-256", "SCRAM-SHA-512"]],
    )
    iterations: int = Field(
        default=DEFAULT_ITERATIONS,
        ge=MIN_ITERATIONS,
        le=MAX_ITERATIONS,
        description="Iterations of the salted password, for every mechanism of the user "
        f"(Kafka accepts {MIN_ITERATIONS} to {MAX_ITERATIONS}).",
    )
    password_env: str = Field(
        description="The environment variable holding the password. Read only when the "
        "password must be set: when the user is created, when its mechanisms or iterations "
        "change, and with --rotate-passwords. Never printed or saved.",
        examples=["BILLING_SERVICE_PASSWORD"],
    )
    description: str | None = Field(default=None, description="Who uses it; for people.")
    protected: bool = Field(
        default=False,
        description="Deletion protection: a plan that would delete this user fails, whatever "
        "--allow-deletes says.",
    )

    def mechanisms(self) -> tuple[str, ...]:
        chosen = [self.mechanism] if isinstance(self.mechanism, str) else self.mechanism
        return tuple(m for m in MECHANISMS if m in chosen)


def load_users(
    entries: Iterable[tuple[Document, int, UserSpec]], problems: list[Diagnostic]
) -> dict[str, DesiredUser]:
    """Every declared user by name; duplicates and bad names are problems at their line."""
    users: dict[str, DesiredUser] = {}
    for document, index, spec in entries:
        path = ("users", index)
        source = Source(document.file, document.line_of(path))
        if any(ch.isspace() or not ch.isprintable() for ch in spec.name):
            problems.append(
                document.diagnostic(
                    (*path, "name"),
                    f"user name {spec.name!r} has whitespace or control characters",
                    hint="SCRAM user names are printable, without spaces",
                )
            )
            continue
        if not _ENV_NAME.match(spec.password_env):
            problems.append(
                document.diagnostic(
                    (*path, "password_env"),
                    f"user {spec.name!r}: {spec.password_env!r} is not an environment "
                    "variable name",
                    hint="name the variable holding the password, e.g. BILLING_PASSWORD "
                    "(not the password itself)",
                )
            )
            continue
        if isinstance(spec.mechanism, list) and (
            not spec.mechanism or len(set(spec.mechanism)) != len(spec.mechanism)
        ):
            problems.append(
                document.diagnostic(
                    (*path, "mechanism"),
                    f"user {spec.name!r}: list each mechanism once, and at least one",
                )
            )
            continue
        first = users.get(spec.name)
        if first is not None:
            problems.append(
                document.diagnostic(
                    path,
                    f"user {spec.name!r} is declared twice",
                    hint=f"first declared at {first.source}",
                )
            )
            continue
        users[spec.name] = DesiredUser(
            name=spec.name,
            mechanisms=dict.fromkeys(spec.mechanisms(), spec.iterations),
            password_env=spec.password_env,
            source=source,
            protected=spec.protected,
        )
    return users
