"""One error hierarchy for everything kafkaplan reports to a user.

Every error carries the resource it concerns and, where we know one, a hint. The CLI turns
each into a single line (or, for spec errors, one line per problem) and an exit code; a
traceback is only ever shown for an unexpected error, which is a bug.
"""

from __future__ import annotations

from msgspec import Struct


class Diagnostic(Struct, frozen=True):
    """One problem in the specs or the project file, located by file and line."""

    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class KafkaplanError(Exception):
    """Base class of every error a user can cause or fix."""

    exit_code = 1

    def __init__(self, message: str, *, resource: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.resource}: {self.message}" if self.resource else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text

    def reason(self) -> str:
        """The message and the hint, without the resource (for a report that names it)."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class SpecError(KafkaplanError):
    """The specs or the project file are invalid; carries every problem found, not just one."""

    def __init__(self, diagnostics: list[Diagnostic]):
        count = len(diagnostics)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in the specs")
        self.diagnostics = diagnostics


class ProjectError(KafkaplanError):
    """The project file or the command line names something that does not exist."""


class ClusterError(KafkaplanError):
    """Kafka answered with an error, or did not answer."""

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        hint: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message, resource=resource, hint=hint)
        # The broker's or librdkafka's error name (TOPIC_ALREADY_EXISTS, _TIMED_OUT, ...).
        self.code = code


class ClusterTransient(ClusterError):
    """A transient failure (no answer, a timeout, a leader or controller moving): the
    request may or may not have taken effect, and it is safe to re-check and retry."""


class ClusterUnreachable(ClusterTransient):
    pass


class ClusterNotReached(ClusterError):
    """No broker of ``bootstrap_servers`` answered the first request within the timeout.
    Not transient: trying again at once costs another timeout and rarely helps (a wrong
    address, a cluster that is down), so the command fails after one timeout."""


class AuthenticationFailed(ClusterError):
    pass


class PermissionDenied(ClusterError):
    pass


class RegistryError(KafkaplanError):
    """The Schema Registry answered with an error, or did not answer."""

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        hint: str | None = None,
        status: int | None = None,
        error_code: int | None = None,
    ):
        super().__init__(message, resource=resource, hint=hint)
        self.status = status  # HTTP status; None when there was no answer
        self.error_code = error_code  # the registry's error_code (40401, 42201, ...)


class RegistryUnreachable(RegistryError):
    pass


class RegistryTimedOut(RegistryUnreachable):
    """The registry took the connection but did not answer within the timeout (it hangs):
    never resent, since each try would cost another timeout."""


class RegistryAuthenticationFailed(RegistryError):
    pass


class RegistryPermissionDenied(RegistryError):
    pass


class SchemaRejected(RegistryError):
    """The registry refused a schema: incompatible (409) or invalid (422)."""


class PlanRefused(KafkaplanError):
    """A saved plan cannot be applied (stale, other cluster, other version) or apply was declined."""


class PlanMismatch(PlanRefused):
    """The plan computed now is not the one that was reviewed (``apply --expect``): nothing
    was applied. ``details`` lists the differences, one line each, for the user."""

    def __init__(
        self,
        message: str,
        *,
        details: list[str],
        resource: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message, resource=resource, hint=hint)
        self.details = details


class LeaseHeld(KafkaplanError):
    """Another run holds the apply lease of the cluster."""


class LeaseLost(KafkaplanError):
    """This run's apply lease expired and was taken over, or was broken with `unlock`."""
