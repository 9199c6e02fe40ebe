"""A narrow, typed interface over the Schema Registry REST API, and its HTTP implementation.

Everything kafkaplan does to a registry goes through ``Registry``; the unit tests use an
in-memory implementation of the same protocol (tests/fakes.py).

``HttpRegistry`` speaks the Confluent Schema Registry API (which Apicurio Registry serves
under ``/apis/ccompat/v7``) with urllib3 rather than through confluent-kafka's
``SchemaRegistryClient``, because kafkaplan needs what that client hides:

- the compatibility endpoint's ``messages`` (the client returns only a boolean, even with
  ``verbose=True``), the reason an incompatible change is refused;
- the HTTP status and the registry's ``error_code`` of every failure, to tell "no
  subject-level config" (404/40408) from a failure, and a 401 from a 409 from a 422;
- no caching: a plan must see the registry as it is now;
- a plain bearer token (the client's static-token mode requires Confluent Cloud's logical
  cluster header);
- retries only as the run's ``RetryPolicy`` says (``kafkaplan.live.retry``, the same policy
  and rules as for the cluster): reads that got no answer (or a 429/502/503/504) are tried
  again, writes and refusals never, so an unreachable registry is one clear error within
  the configured timeout and retries.

One client per registry keeps its connections alive in a pool sized for the concurrent
reads (``POOL_CONNECTIONS``, ``kafkaplan.live.read``'s thread pool), instead of a new TCP
(and TLS) connection per request. ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` and
``SSL_CERT_FILE`` are honoured from the environment. Secrets are read from the
environment here and only ever sent as request headers.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct

from kafkaplan import __version__
from kafkaplan.errors import (
    ProjectError,
    RegistryAuthenticationFailed,
    RegistryError,
    RegistryPermissionDenied,
    RegistryTimedOut,
    RegistryUnreachable,
    SchemaRejected,
)
from kafkaplan.kinds import subject_address
from kafkaplan.live.connection import registry_ssl_context, registry_tls_failure
from kafkaplan.live.retry import RetryPolicy
from kafkaplan.secrets import read_secret, remember
from kafkaplan.spec.project import RegistryConnection, unresolved_env
from kafkaplan.spec.units import parse_duration_ms

if TYPE_CHECKING:
    import urllib3

log = logging.getLogger("kafkaplan.live.registry")

PAGE_SIZE = 1000
# Connections kept open to the registry: one per concurrent reader (kafkaplan.live.read).
POOL_CONNECTIONS = 8
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_APICURIO_CCOMPAT = ("/apis/ccompat/v7", "/apis/ccompat/v6")


class SchemaReference(Struct, frozen=True):
    name: str
    subject: str
    version: int


class SchemaPayload(Struct, frozen=True):
    """A schema as sent to the registry."""

    schema_type: str
    schema: str
    references: tuple[SchemaReference, ...] = ()


class RegisteredSchema(Struct, frozen=True):
    subject: str
    version: int
    schema_id: int
    schema_type: str = "AVRO"
    schema: str = ""
    references: tuple[SchemaReference, ...] = ()


class CompatibilityResult(Struct, frozen=True):
    compatible: bool
    messages: tuple[str, ...] = ()
    # The level the registry checked against, when the check could tell.
    level: str | None = None


class Registry(Protocol):
    def global_compatibility(self) -> str: ...

    def subject_compatibility(self, subject: str) -> str | None:
        """The subject-level compatibility level, or None when none is set."""
        ...

    def latest(self, subject: str) -> RegisteredSchema | None:
        """The latest version of ``subject``; None when the subject does not exist."""
        ...

    def versions(self, subject: str) -> list[int]: ...

    def referenced_by(self, subject: str, version: int) -> list[int]:
        """The ids of the schemas that refer to this version of ``subject`` (soft-deleted
        ones included; a registry may still list a schema deleted for good)."""
        ...

    def schema_usages(self, schema_id: int) -> list[tuple[str, int]] | None:
        """The subjects and versions that have the schema with this id, soft-deleted ones
        included; None when there is no such schema (it was deleted for good)."""
        ...

    def list_subjects(self, prefixes: Sequence[str]) -> list[str]:
        """Every (not deleted) subject starting with one of ``prefixes``."""
        ...

    def check_compatibility(self, subject: str, schema: SchemaPayload) -> CompatibilityResult:
        """Whether ``schema`` may be registered under ``subject`` at its current level."""
        ...

    def lookup(self, subject: str, schema: SchemaPayload) -> RegisteredSchema | None:
        """The version of ``subject`` that already has ``schema`` (what registering it again
        would answer), or None."""
        ...

    def delete_version(self, subject: str, version: int) -> None:
        """Soft-delete one version of ``subject``."""
        ...

    def register(self, subject: str, schema: SchemaPayload) -> RegisteredSchema: ...

    def set_compatibility(self, subject: str | None, level: str) -> None:
        """Set a subject's level, or the global one (``subject`` None)."""
        ...

    def delete_subject(self, subject: str, *, permanent: bool) -> list[int]: ...

    def close(self) -> None: ...


def _permission_hint(operation: str) -> str:
    return {
        "read": "the registry principal needs read access to the managed subjects",
        "register": "the registry principal needs write access to the managed subjects",
        "config": "the registry principal needs permission to change compatibility settings",
        "delete": "the registry principal needs delete permission on the owned subjects",
    }.get(operation, "check the registry principal's permissions")


def translate(
    status: int,
    error_code: int | None,
    message: str,
    *,
    resource: str | None,
    operation: str,
    url: str | None = None,
) -> RegistryError:
    """An HTTP error answer of the registry as a typed error, in one line (naming ``url``,
    the registry's, where the answer is about the connection rather than the request)."""
    code = f" {error_code}" if error_code is not None and error_code != status else ""
    detail = f": {message}" if message else ""
    kwargs: dict[str, Any] = {"resource": resource, "status": status, "error_code": error_code}
    if status == 401:
        at = f" at {url}" if url else ""
        return RegistryAuthenticationFailed(
            f"registry authentication failed{at} (HTTP 401){detail}",
            hint="check schema_registry.username and the environment variable named by "
            "password_env or bearer_token_env",
            **kwargs,
        )
    if status == 403:
        return RegistryPermissionDenied(
            f"registry permission denied (HTTP 403{code}){detail}",
            hint=_permission_hint(operation),
            **kwargs,
        )
    if status == 409:
        return SchemaRejected(
            f"the registry refused the schema as incompatible (HTTP 409{code}){detail}",
            hint="make the change compatible (e.g. give new fields a default), or register "
            "it under a new subject",
            **kwargs,
        )
    if status == 422:
        return SchemaRejected(
            f"the registry refused the request as invalid (HTTP 422{code}){detail}",
            hint="the schema, its references or the compatibility level is not valid for "
            "this registry",
            **kwargs,
        )
    if status >= 500:
        return RegistryError(
            f"the registry failed (HTTP {status}{code}){detail}",
            hint="a problem on the registry's side: retry, or check its logs",
            **kwargs,
        )
    return RegistryError(f"the registry answered HTTP {status}{code}{detail}", **kwargs)


def _safe_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _payload(schema: SchemaPayload) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema.schema}
    if schema.schema_type != "AVRO":
        body["schemaType"] = schema.schema_type
    if schema.references:
        body["references"] = [
            {"name": r.name, "subject": r.subject, "version": r.version} for r in schema.references
        ]
    return body


def _registered(subject: str, body: Mapping[str, Any]) -> RegisteredSchema:
    return RegisteredSchema(
        subject=subject,
        version=int(body["version"]),
        schema_id=int(body["id"]),
        schema_type=str(body.get("schemaType") or "AVRO"),
        schema=str(body.get("schema", "")),
        references=tuple(
            SchemaReference(str(r["name"]), str(r["subject"]), int(r["version"]))
            for r in body.get("references") or []
        ),
    )


class HttpRegistry:
    """``Registry`` over the Confluent-compatible REST API."""

    def __init__(
        self,
        connection: RegistryConnection,
        environ: Mapping[str, str],
        *,
        read_only: bool = False,
        policy: RetryPolicy | None = None,
    ):
        missing = unresolved_env(connection.url)
        if missing:
            raise ProjectError(
                f"schema_registry.url refers to environment variable {missing}, which is not set",
                hint=f"export {missing}",
            )
        self.url = connection.url.rstrip("/")
        self.read_only = read_only
        self.timeout = parse_duration_ms(connection.timeout) / 1000
        self.policy = policy or RetryPolicy()
        headers = {
            "Accept": f"{_CONTENT_TYPE}, application/json",
            # Offering gzip (which urllib3 decodes) is not only smaller: Apicurio 3.x (on
            # Quarkus, with compression on) now and then leaves a keep-alive request
            # unanswered when the client asks for identity encoding, a race in Quarkus's
            # compression handling (quarkusio/quarkus#12584, #53401).
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": f"kafkaplan/{__version__}",
        }
        headers.update(_auth_headers(connection, environ))
        # Checked (and its files read) now; the client itself is made on the first request.
        self._headers = headers
        self._tls = registry_ssl_context(connection, environ)
        self._check_hostname = connection.ssl_check_hostname
        self._proxy = _proxy_from(environ, self.url)
        self._client_lock = threading.Lock()
        self._made: urllib3.PoolManager | None = None

    @property
    def _client(self) -> urllib3.PoolManager:
        """The connection pool, made on first use (importing urllib3 costs about 30 ms, which
        a plan spends in the registry's read thread, while the cluster is read)."""
        made = self._made
        if made is not None:
            return made
        with self._client_lock:
            if self._made is None:
                import urllib3  # imported only by a command that talks to a registry

                options: dict[str, Any] = {
                    "num_pools": 4,
                    "maxsize": POOL_CONNECTIONS,
                    "timeout": urllib3.Timeout(connect=self.timeout, read=self.timeout),
                    # No retries here (the run's RetryPolicy decides, in _call); redirects
                    # are followed, dropping credentials when they lead to another host.
                    "retries": urllib3.Retry(
                        total=None, connect=0, read=0, status=0, other=0, redirect=5
                    ),
                }
                if self._tls is not None:
                    options["ssl_context"] = self._tls
                    if not self._check_hostname:
                        options["assert_hostname"] = False
                if self._proxy is None:
                    self._made = urllib3.PoolManager(**options)
                else:
                    url, credentials = self._proxy
                    self._made = urllib3.ProxyManager(
                        url,
                        proxy_headers=urllib3.make_headers(proxy_basic_auth=credentials)
                        if credentials
                        else None,
                        **options,
                    )
            return self._made

    # -- plumbing ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        body: Any,
        *,
        resource: str | None,
        content_type: str = _CONTENT_TYPE,
    ) -> tuple[int, Any]:
        """One request: the answer's status and JSON body (an error status included)."""
        data = None if body is None else json.dumps(body).encode()
        headers = self._headers if data is None else {**self._headers, "Content-Type": content_type}
        log.debug("%s %s", method, url)
        import urllib3

        try:
            response = self._client.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            # With no retries allowed, urllib3 reports the failure as the reason of a
            # MaxRetryError (reads) or raises it as it is (writes).
            exc = (
                error.reason or error
                if isinstance(error, urllib3.exceptions.MaxRetryError)
                else error
            )
            reason = _reason(exc)
            refused = _tls_failure(exc)
            if refused is not None:
                # A certificate the client cannot trust (or that the registry refuses) is
                # an answer, not a silence: never retried.
                raise RegistryAuthenticationFailed(
                    f"{_safe_url(self.url)}: {refused}",
                    resource=resource,
                    hint="check schema_registry.ssl_ca_location, ssl_certificate_location and "
                    "ssl_key_location (and ssl_check_hostname)",
                ) from error
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                raise RegistryTimedOut(
                    f"the registry at {_safe_url(self.url)} did not answer within "
                    f"{self.timeout:g}s ({method} {_safe_url(url)})",
                    resource=resource,
                    hint="check that the registry is up and answers, or raise "
                    "schema_registry.timeout",
                ) from error
            raise RegistryUnreachable(
                f"the registry at {_safe_url(self.url)} did not answer ({reason})",
                resource=resource,
                hint="check schema_registry.url and that the registry is up",
            ) from error
        raw = response.data
        if 200 <= response.status < 300:
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError as exc:  # the answer was not JSON
                raise RegistryError(
                    f"the registry at {_safe_url(self.url)} answered something that is not JSON",
                    resource=resource,
                    hint="check that schema_registry.url points at the registry's API",
                ) from exc
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"message": raw.decode("utf-8", "replace")[:200].strip()}
        if not isinstance(answer, dict):
            answer = {"message": str(answer)}
        return response.status, answer

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        resource: str | None,
        operation: str,
        missing_ok: bool = False,
    ) -> Any:
        """One call, its error status turned into a typed error. Reads (``operation``
        "read": GETs, lookups, compatibility checks) run through the retry policy; writes
        are sent once and never resent blindly: the next plan sees their effect."""

        def once() -> Any:
            status, answer = self._send(method, f"{self.url}{path}", body, resource=resource)
            if 200 <= status < 300:
                return answer
            answer = answer or {}
            error_code = answer.get("error_code")
            if status == 404 and not (isinstance(error_code, int) and error_code > 40400):
                # Not the API's "no such subject/version" (40401, 40402, ...): no such path.
                raise RegistryError(
                    f"the registry answered HTTP 404 for {method} {_safe_url(self.url + path)}: "
                    "no such path",
                    resource=resource,
                    status=status,
                    error_code=error_code if isinstance(error_code, int) else None,
                    hint="check schema_registry.url: it must be the root of the registry's "
                    "Confluent-compatible API (Confluent: https://host:8081; Apicurio: "
                    "http://host:8080/apis/ccompat/v7)",
                )
            if status == 404 and missing_ok:
                return None
            raise translate(
                status,
                int(error_code) if isinstance(error_code, int) else None,
                str(answer.get("message") or answer.get("detail") or ""),
                resource=resource,
                operation=operation,
                url=_safe_url(self.url),
            )

        if operation != "read":
            return once()
        return self.policy.run(f"registry {method} {resource or 'registry'}", once)

    def _guard_writes(self, operation: str, resource: str) -> None:
        if self.read_only:
            raise RegistryError(f"{operation} refused: this client is read-only", resource=resource)

    # -- reads ------------------------------------------------------------------------------

    def global_compatibility(self) -> str:
        answer = self._call("GET", "/config", resource="registry-config.global", operation="read")
        return _level(answer)

    def _get(self, path: str, resource: str) -> Any:
        """A read of ``path``: its JSON answer, None where the registry has no such subject,
        version or schema."""
        return self._call("GET", path, resource=resource, operation="read", missing_ok=True)

    def subject_compatibility(self, subject: str) -> str | None:
        answer = self._get(
            f"/config/{_quote(subject)}?defaultToGlobal=false", subject_address(subject)
        )
        return None if answer is None else _level(answer)

    def latest(self, subject: str) -> RegisteredSchema | None:
        answer = self._get(f"/subjects/{_quote(subject)}/versions/latest", subject_address(subject))
        return None if answer is None else _registered(subject, answer)

    def versions(self, subject: str) -> list[int]:
        answer = self._get(f"/subjects/{_quote(subject)}/versions", subject_address(subject))
        return sorted(int(v) for v in answer or [])

    def referenced_by(self, subject: str, version: int) -> list[int]:
        answer = self._get(
            f"/subjects/{_quote(subject)}/versions/{int(version)}/referencedby",
            subject_address(subject),
        )
        return sorted(int(i) for i in answer or [])

    def schema_usages(self, schema_id: int) -> list[tuple[str, int]] | None:
        answer = self._get(
            f"/schemas/ids/{int(schema_id)}/versions?deleted=true", f"schema id {int(schema_id)}"
        )
        if answer is None:
            return None
        return sorted((str(u["subject"]), int(u["version"])) for u in answer or [])

    def list_subjects(self, prefixes: Sequence[str]) -> list[str]:
        found: set[str] = set()
        for prefix in sorted(set(prefixes)):
            offset = 0
            seen: set[str] = set()
            while True:
                query = urllib.parse.urlencode(
                    {"subjectPrefix": prefix, "offset": offset, "limit": PAGE_SIZE}
                )
                page = self._call(
                    "GET", f"/subjects?{query}", resource="registry", operation="read"
                )
                names = {str(name) for name in page or []}
                # Apicurio ignores subjectPrefix: filter here as well.
                found |= {name for name in names if name.startswith(prefix)}
                # A short page is the last; a registry that ignores offset/limit sends
                # everything on every page, so a page with nothing new is the last too.
                if len(names) < PAGE_SIZE or names <= seen:
                    break
                seen |= names
                offset += len(names)
        return sorted(found)

    # -- checks and writes ------------------------------------------------------------------

    def check_compatibility(self, subject: str, schema: SchemaPayload) -> CompatibilityResult:
        answer = self._call(
            "POST",
            f"/compatibility/subjects/{_quote(subject)}/versions?verbose=true",
            _payload(schema),
            resource=subject_address(subject),
            operation="read",
            missing_ok=True,
        )
        if answer is None:  # no versions yet: anything goes
            return CompatibilityResult(True)
        messages = tuple(str(m) for m in answer.get("messages") or [])
        compatible = bool(answer.get("is_compatible"))
        if not compatible and not messages:
            messages = self._apicurio_reason(subject, schema)
        return CompatibilityResult(compatible, messages)

    def _apicurio_reason(self, subject: str, schema: SchemaPayload) -> tuple[str, ...]:
        """Apicurio's compatibility endpoint never says why; its own API's dry run does."""
        base = next((self.url[: -len(s)] for s in _APICURIO_CCOMPAT if self.url.endswith(s)), None)
        if base is None:
            return ()
        content_type = {"PROTOBUF": "application/x-protobuf"}.get(
            schema.schema_type, "application/json"
        )
        body = {
            "content": {
                "content": schema.schema,
                "contentType": content_type,
                "references": [
                    {"artifactId": r.subject, "version": str(r.version), "name": r.name}
                    for r in schema.references
                ],
            }
        }
        url = f"{base}/apis/registry/v3/groups/default/artifacts/{_quote(subject)}/versions?dryRun=true"
        try:
            status, answer = self._send(
                "POST",
                url,
                body,
                resource=subject_address(subject),
                content_type="application/json",
            )
        except RegistryError:
            return ()
        if status < 400 or not isinstance(answer, dict):
            return ()
        reason = answer.get("title") or answer.get("detail") or answer.get("message")
        return (str(reason),) if reason else ()

    def register(self, subject: str, schema: SchemaPayload) -> RegisteredSchema:
        resource = subject_address(subject)
        self._guard_writes("register schema", resource)
        answer = self._call(
            "POST",
            f"/subjects/{_quote(subject)}/versions",
            _payload(schema),
            resource=resource,
            operation="register",
        )
        schema_id = int(answer["id"])
        # The registration answer carries the id only; the lookup says which version it is.
        found = self.lookup(subject, schema)
        if found is None:
            raise RegistryError(
                "the registry registered the schema but cannot find it under the subject",
                resource=resource,
            )
        return RegisteredSchema(
            subject,
            found.version,
            schema_id,
            schema.schema_type,
            schema.schema,
            schema.references,
        )

    def lookup(self, subject: str, schema: SchemaPayload) -> RegisteredSchema | None:
        answer = self._call(
            "POST",
            f"/subjects/{_quote(subject)}",
            _payload(schema),
            resource=subject_address(subject),
            operation="read",
            missing_ok=True,
        )
        return None if answer is None else _registered(subject, answer)

    def delete_version(self, subject: str, version: int) -> None:
        resource = subject_address(subject)
        self._guard_writes("delete schema version", resource)
        self._call(
            "DELETE",
            f"/subjects/{_quote(subject)}/versions/{int(version)}",
            resource=resource,
            operation="delete",
        )

    def set_compatibility(self, subject: str | None, level: str) -> None:
        resource = "registry-config.global" if subject is None else f"subject-config.{subject}"
        self._guard_writes("set compatibility", resource)
        path = "/config" if subject is None else f"/config/{_quote(subject)}"
        self._call("PUT", path, {"compatibility": level}, resource=resource, operation="config")

    def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        resource = subject_address(subject)
        self._guard_writes("delete subject", resource)
        suffix = "?permanent=true" if permanent else ""
        answer = self._call(
            "DELETE", f"/subjects/{_quote(subject)}{suffix}", resource=resource, operation="delete"
        )
        return sorted(int(v) for v in answer or [])

    def close(self) -> None:
        with self._client_lock:
            made, self._made = self._made, None
        if made is not None:
            made.clear()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: its causes and contexts, and the exceptions urllib3 keeps
    in its arguments (``SSLError(ssl_error)``, ``ProtocolError(text, OSError)``)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        cause = todo.pop(0)
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        todo.extend(arg for arg in cause.args if isinstance(arg, BaseException))
        todo.extend(c for c in (cause.__cause__, cause.__context__) if c is not None)


def _reason(exc: BaseException) -> str:
    """Why a request got no answer, in a few words ("timed out", "[Errno 111] Connection
    refused"): the operating system's reason where there is one, not urllib3's wrapping."""
    import urllib3

    # First the operating system's reason: urllib3 files a refused connection and a name
    # that does not resolve (NewConnectionError) under its connect timeouts.
    for cause in _causes(exc):
        if isinstance(cause, OSError) and not isinstance(cause, urllib3.exceptions.HTTPError):
            return str(cause).strip() or type(cause).__name__
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    return str(exc).strip() or type(exc).__name__


def _proxy_from(environ: Mapping[str, str], url: str) -> tuple[str, str | None] | None:
    """The proxy for ``url`` from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY (the lower-case name
    winning, as with curl and urllib) unless NO_PROXY exempts its host, as (the proxy's URL
    without credentials, "user:password" or None); None for a direct connection."""
    proxies: dict[str, str] = {}
    for name, value in sorted(environ.items(), key=lambda item: item[0].islower()):
        if value and name.lower().endswith("_proxy"):
            proxies[name.lower()[: -len("_proxy")]] = value
    parts = urllib.parse.urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    # NO_PROXY as urllib reads it ("*", host names and domain suffixes, host:port); the
    # function is public in urllib.request but missing from its type stubs.
    from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

    if proxy_bypass_environment(parts.netloc, proxies):
        return None
    split = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    netloc = f"{split.hostname}:{split.port}" if split.port else str(split.hostname)
    bare = urllib.parse.urlunsplit(split._replace(netloc=netloc))
    if split.username is None:
        return bare, None
    credentials = urllib.parse.unquote(split.username)
    if split.password is not None:
        credentials += ":" + urllib.parse.unquote(split.password)
    return bare, credentials


def _tls_failure(exc: BaseException) -> str | None:
    """What it means when the request failed in the TLS handshake (a certificate not trusted,
    or refused), or None if it did not."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError):
            return registry_tls_failure(cause)
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return f"the registry's certificate could not be verified ({exc})"
    return None


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _level(answer: Any) -> str:
    if not isinstance(answer, dict):
        raise RegistryError("the registry's config answer has no compatibility level")
    level = answer.get("compatibilityLevel") or answer.get("compatibility")
    if not isinstance(level, str):
        raise RegistryError("the registry's config answer has no compatibility level")
    return level


def _auth_headers(connection: RegistryConnection, environ: Mapping[str, str]) -> dict[str, str]:
    if connection.bearer_token_env and (connection.username or connection.password_env):
        raise ProjectError(
            "schema_registry sets both a bearer token and a username/password",
            hint="use one: bearer_token_env, or username with password_env",
        )
    if connection.bearer_token_env:
        return {
            "Authorization": f"Bearer {read_secret(connection.bearer_token_env, environ, 'registry bearer token')}"
        }
    if connection.username or connection.password_env:
        if not (connection.username and connection.password_env):
            raise ProjectError(
                "schema_registry needs both username and password_env for basic auth",
                hint="set both, or neither",
            )
        missing = unresolved_env(connection.username)
        if missing:
            raise ProjectError(
                f"schema_registry.username refers to environment variable {missing}, which is "
                "not set",
                hint=f"export {missing}",
            )
        password = read_secret(connection.password_env, environ, "registry password")
        token = remember(base64.b64encode(f"{connection.username}:{password}".encode()).decode())
        return {"Authorization": f"Basic {token}"}
    return {}
