"""Client settings from a project's Kafka connection: for librdkafka (confluent-kafka: the
admin client, the lease's producer and consumer) and for kafka-python (partition
reassignments), from one place.

Secrets are read from the environment variables the project file names, here and nowhere
else, and remembered so that log lines mask them. Files (CA, client certificate and key) are
checked before any client is made: a missing file, or a client certificate that is expired
or not yet valid, is one clear error instead of a connection that fails later.

The broker's and the identity provider's refusals, which librdkafka reports as transport or
authentication errors, are turned into one line naming the address and the reason
(``tls_failure``, ``oauth_failure``), so that kafkaplan stops at once instead of retrying
what cannot succeed.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kafkaplan.errors import ProjectError
from kafkaplan.secrets import read_secret, remember
from kafkaplan.spec.project import KafkaConnection, RegistryConnection, unresolved_env

T = TypeVar("T")

CLIENT_ID = "kafkaplan"


# -- librdkafka ------------------------------------------------------------------------------


def librdkafka_config(connection: KafkaConnection, environ: Mapping[str, str]) -> dict[str, Any]:
    """librdkafka settings for a connection; secrets are read from the environment here."""
    _check_resolved(connection)
    config: dict[str, Any] = {
        "bootstrap.servers": connection.bootstrap_servers,
        "security.protocol": connection.security_protocol,
        "client.id": CLIENT_ID,
        "socket.timeout.ms": int(connection.timeout_seconds() * 1000),
    }
    if connection.security_protocol.startswith("SASL"):
        if connection.sasl_mechanism is None:
            raise ProjectError(
                f"security_protocol {connection.security_protocol} needs sasl_mechanism",
                hint="set kafka.sasl_mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)",
            )
        config["sasl.mechanism"] = connection.sasl_mechanism
        if connection.sasl_mechanism == "OAUTHBEARER":
            if connection.oauth_token_provider == "aws-msk-iam":
                config["oauth_cb"] = msk_iam_oauth_cb(connection)
            else:
                config.update(_oidc_config(connection, environ))
        else:
            config["sasl.username"] = connection.sasl_username or ""
            config["sasl.password"] = read_secret(
                connection.sasl_password_env, environ, "SASL password"
            )
    if connection.security_protocol.endswith("SSL"):
        _check_tls_files(connection)
        if not connection.ssl_check_hostname:
            config["ssl.endpoint.identification.algorithm"] = "none"
    if connection.ssl_ca_location:
        config["ssl.ca.location"] = connection.ssl_ca_location
    if connection.ssl_certificate_location:
        config["ssl.certificate.location"] = connection.ssl_certificate_location
    if connection.ssl_key_location:
        config["ssl.key.location"] = connection.ssl_key_location
    if connection.ssl_key_password_env:
        config["ssl.key.password"] = read_secret(
            connection.ssl_key_password_env, environ, "key password"
        )
    return config


def _check_resolved(connection: KafkaConnection) -> None:
    for attribute in (
        "bootstrap_servers",
        "sasl_username",
        "ssl_ca_location",
        "ssl_certificate_location",
        "ssl_key_location",
        "oauth_token_endpoint_url",
        "oauth_client_id",
        "oauth_scope",
        "aws_region",
    ):
        value = getattr(connection, attribute)
        missing = unresolved_env(value) if isinstance(value, str) else None
        if missing:
            raise ProjectError(
                f"kafka.{attribute} refers to environment variable {missing}, which is not set",
                hint=f"export {missing}",
            )


def _oidc_config(connection: KafkaConnection, environ: Mapping[str, str]) -> dict[str, str]:
    """OAUTHBEARER with OIDC client credentials: librdkafka fetches and refreshes the token."""
    if not (connection.oauth_token_endpoint_url and connection.oauth_client_id):
        raise ProjectError(
            "sasl_mechanism OAUTHBEARER needs oauth_token_endpoint_url and oauth_client_id",
            hint="set them, and oauth_client_secret_env to the variable holding the secret",
        )
    config = {
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": connection.oauth_token_endpoint_url,
        "sasl.oauthbearer.client.id": connection.oauth_client_id,
        "sasl.oauthbearer.client.secret": read_secret(
            connection.oauth_client_secret_env, environ, "OAuth client secret"
        ),
    }
    if connection.oauth_scope:
        config["sasl.oauthbearer.scope"] = connection.oauth_scope
    return config


# -- TLS files -------------------------------------------------------------------------------


def _check_tls_files(connection: KafkaConnection, now: datetime | None = None) -> None:
    for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        location = getattr(connection, key)
        if location and not Path(location).is_file():
            raise ProjectError(
                f"kafka.{key}: {location} is not a readable file",
                hint="check the path (relative paths are relative to the working directory)",
            )
    key_file = connection.ssl_key_location
    if (
        key_file
        and not connection.ssl_key_password_env
        and b"ENCRYPTED" in Path(key_file).read_bytes()
    ):
        raise ProjectError(
            f"kafka.ssl_key_location: the key {key_file} is encrypted, and no ssl_key_password_env "
            "names the variable holding its password",
            hint="set kafka.ssl_key_password_env",
        )
    if connection.ssl_certificate_location:
        check_certificate_dates(Path(connection.ssl_certificate_location), now=now)


def check_certificate_dates(path: Path, *, now: datetime | None = None) -> None:
    """Refuse a client certificate that is expired or not yet valid (the broker would, with
    nothing but a TLS alert to say why)."""
    validity = certificate_validity(path)
    if validity is None:
        return  # not PEM we can read: librdkafka will say what is wrong with it
    not_before, not_after = validity
    now = now or datetime.now(UTC)
    if now > not_after:
        raise ProjectError(
            f"kafka.ssl_certificate_location: the client certificate {path} expired on "
            f"{not_after:%Y-%m-%d %H:%M:%S} UTC",
            hint="renew the certificate",
        )
    if now < not_before:
        raise ProjectError(
            f"kafka.ssl_certificate_location: the client certificate {path} is not valid "
            f"before {not_before:%Y-%m-%d %H:%M:%S} UTC",
            hint="check the certificate and this machine's clock",
        )


_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL
)


def certificate_validity(path: Path) -> tuple[datetime, datetime] | None:
    """(notBefore, notAfter) of the first certificate in a PEM file, None if there is none."""
    match = _PEM_CERTIFICATE.search(path.read_bytes())
    if match is None:
        return None
    try:
        der = base64.b64decode(b"".join(match.group(1).split()))
        tbs = _der_children(der, 0)[0]  # Certificate: tbsCertificate, algorithm, signature
        tbs_fields = _der_children(der, tbs[0])
        # TBSCertificate: [0] version (optional), serial, signature, issuer, validity, ...
        index = 1 if der[tbs_fields[0][0]] == 0xA0 else 0
        validity = tbs_fields[index + 3]
        start, end = _der_children(der, validity[0])
        return _der_time(der, start), _der_time(der, end)
    except (ValueError, IndexError):
        return None


def _der_children(der: bytes, start: int) -> list[tuple[int, int, int]]:
    """The elements inside the constructed element at ``start``: (offset, content offset,
    content end) each."""
    content, end = _der_header(der, start)
    children = []
    position = content
    while position < end:
        child_content, child_end = _der_header(der, position)
        children.append((position, child_content, child_end))
        position = child_end
    return children


def _der_header(der: bytes, start: int) -> tuple[int, int]:
    length = der[start + 1]
    offset = start + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[offset : offset + count], "big")
        offset += count
    if offset + length > len(der):
        raise ValueError("truncated DER")
    return offset, offset + length


def _der_time(der: bytes, element: tuple[int, int, int]) -> datetime:
    tag = der[element[0]]
    text = der[element[1] : element[2]].decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ
        parsed = datetime.strptime(text, "%y%m%d%H%M%SZ")
    elif tag == 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        parsed = datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise ValueError("not a time")
    return parsed.replace(tzinfo=UTC)


# -- reading librdkafka's errors -------------------------------------------------------------

# What the broker's TLS alert means for the client, by OpenSSL's alert text.
_CLIENT_CERTIFICATE_ALERTS = (
    "bad certificate",
    "certificate unknown",
    "certificate required",
    "unknown ca",
    "certificate expired",
    "certificate revoked",
    "unsupported certificate",
    "access denied",
)
_ADDRESS = re.compile(r"^(?:sasl_)?(?:ssl|plaintext)://([^/\s]+)/\S*: ", re.IGNORECASE)


def tls_failure(name: str, reason: str) -> tuple[str, str] | None:
    """(message, hint) when a librdkafka error is a TLS failure that no retry can fix: the
    broker's certificate is not trusted or not for this address, or the broker refused the
    client certificate. None for anything else."""
    if name not in {"_TRANSPORT", "_SSL", "_AUTHENTICATION"} or "SSL" not in reason:
        return None
    match = _ADDRESS.match(reason)
    address = match.group(1) if match else "the broker"
    lowered = reason.lower()
    if "certificate verify failed" in lowered:
        detail = "hostname mismatch" if "hostname" in lowered else "not signed by a trusted CA"
        if "expired" in lowered:
            detail = "the broker's certificate has expired"
        return (
            f"TLS: {address}: the broker's certificate could not be verified ({detail})",
            "set kafka.ssl_ca_location to the CA that signed the broker's certificate, and "
            "connect by a name the certificate lists (kafka.ssl_check_hostname: false turns "
            "the name check off)",
        )
    for alert in _CLIENT_CERTIFICATE_ALERTS:
        if f"alert {alert}" in lowered:
            return (
                f"TLS: {address} refused the client certificate (TLS alert: {alert})",
                "the broker trusts only client certificates signed by its CA and valid now: "
                "check kafka.ssl_certificate_location and kafka.ssl_key_location, or set "
                "them if the listener requires a client certificate",
            )
    if "handshake" in lowered:
        detail = reason[match.end() :] if match else reason
        return (
            f"TLS: {address}: handshake failed: {detail}",
            "check that security_protocol matches the listener (SSL/SASL_SSL) and the TLS settings",
        )
    return None


_OAUTH_TOKEN = "Failed to acquire SASL OAUTHBEARER token"


def oauth_failure(
    name: str, reason: str, connection: KafkaConnection | None
) -> tuple[str, str] | None:
    """(message, hint) when librdkafka could not get an OAuth token (endpoint down, client
    refused): a configuration problem, reported at once."""
    if name != "_AUTHENTICATION" or _OAUTH_TOKEN not in reason:
        return None
    detail = reason.split(_OAUTH_TOKEN, 1)[1].lstrip(": ")
    where = connection.oauth_token_endpoint_url if connection else None
    variable = connection.oauth_client_secret_env if connection else None
    return (
        f"OAuth: no token from {where or 'the token endpoint'}: {detail}",
        "check oauth_token_endpoint_url, oauth_client_id"
        + (f" and the client secret in {variable}" if variable else "")
        + " (and oauth_scope, if the identity provider needs one)",
    )


# -- AWS MSK IAM (optional extra kafkaplan[aws]) ---------------------------------------------


def _msk_signer() -> Any:
    try:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
    except ImportError as exc:
        raise ProjectError(
            "oauth_token_provider aws-msk-iam needs the aws-msk-iam-sasl-signer-python package",
            hint="pip install 'kafkaplan[aws]'",
        ) from exc
    return MSKAuthTokenProvider


def msk_iam_token(region: str) -> tuple[str, float]:
    """An MSK IAM auth token (a presigned, base64url-encoded URL) and its expiry in seconds
    since the epoch, from the AWS credentials of the default chain."""
    try:
        token, expiry_ms = _msk_signer().generate_auth_token(region)
    except ProjectError:
        raise
    except Exception as exc:  # botocore: no credentials, bad profile, ...
        raise ProjectError(
            f"AWS MSK IAM: could not sign a token for region {region}: {exc}",
            hint="check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...) and aws_region",
        ) from exc
    remember(token)
    return token, expiry_ms / 1000


def msk_iam_oauth_cb(connection: KafkaConnection) -> Callable[[str], tuple[str, float]]:
    """confluent-kafka's ``oauth_cb`` for MSK IAM."""
    region = connection.aws_region
    if not region:
        raise ProjectError(
            "oauth_token_provider aws-msk-iam needs aws_region", hint="set kafka.aws_region"
        )
    _msk_signer()  # fail now, not inside librdkafka's callback

    def oauth_cb(_config: str) -> tuple[str, float]:
        return msk_iam_token(region)

    return oauth_cb


# -- kafka-python ----------------------------------------------------------------------------


def kafka_python_config(connection: KafkaConnection, environ: Mapping[str, str]) -> dict[str, Any]:
    """The same connection for kafka-python's admin client (used for the calls
    confluent-kafka lacks: partition reassignments)."""
    config = librdkafka_config(connection, environ)
    converted: dict[str, Any] = {
        "bootstrap_servers": str(config["bootstrap.servers"]).split(","),
        "security_protocol": config["security.protocol"],
        "client_id": CLIENT_ID,
        "request_timeout_ms": int(config["socket.timeout.ms"]),
    }
    renames = {
        "sasl.mechanism": "sasl_mechanism",
        "sasl.username": "sasl_plain_username",
        "sasl.password": "sasl_plain_password",
        "ssl.ca.location": "ssl_cafile",
        "ssl.certificate.location": "ssl_certfile",
        "ssl.key.location": "ssl_keyfile",
        "ssl.key.password": "ssl_password",
    }
    converted.update({new: config[old] for old, new in renames.items() if old in config})
    if connection.security_protocol.endswith("SSL"):
        converted["ssl_check_hostname"] = connection.ssl_check_hostname
    if connection.sasl_mechanism == "OAUTHBEARER":
        converted["sasl_oauth_token_provider"] = kafka_python_token_provider(connection, config)
    return converted


def check_token_endpoint(connection: KafkaConnection, config: Mapping[str, Any]) -> None:
    """Get one token before any librdkafka client exists: a token endpoint that is down,
    refuses the client or never answers is one clear error within the connection's timeout.

    (librdkafka retries its token request for a minute and more in a background thread that
    a client's destruction waits for, and reports a failure only as a broker error.)"""
    if connection.sasl_mechanism != "OAUTHBEARER" or connection.oauth_token_provider != "oidc":
        return
    client_credentials_token(
        str(config["sasl.oauthbearer.token.endpoint.url"]),
        str(config["sasl.oauthbearer.client.id"]),
        str(config["sasl.oauthbearer.client.secret"]),
        config.get("sasl.oauthbearer.scope"),
        connection.timeout_seconds(),
        connection.oauth_client_secret_env,
    )


def kafka_python_token_provider(connection: KafkaConnection, config: Mapping[str, Any]) -> Any:
    """kafka-python has no OIDC support of its own: a token provider that does the same
    client-credentials request librdkafka does (or signs an MSK IAM token)."""
    from kafka.net.sasl.oauth import AbstractTokenProvider

    timeout = connection.timeout_seconds()

    class Provider(AbstractTokenProvider):  # type: ignore[misc]
        def __init__(self, fetch: Callable[[], tuple[str, float]]):
            super().__init__()
            self._fetch = fetch
            self._lock = threading.Lock()
            self._token: tuple[str, float] | None = None

        def token(self) -> str:
            with self._lock:
                # Reused until a minute before it expires.
                if self._token is None or self._token[1] - 60 < time.time():
                    self._token = self._fetch()
                return self._token[0]

    if connection.oauth_token_provider == "aws-msk-iam":
        region = str(connection.aws_region)
        return Provider(lambda: msk_iam_token(region))
    url = str(config["sasl.oauthbearer.token.endpoint.url"])
    client_id = str(config["sasl.oauthbearer.client.id"])
    secret = str(config["sasl.oauthbearer.client.secret"])
    scope = config.get("sasl.oauthbearer.scope")
    return Provider(
        lambda: client_credentials_token(
            url, client_id, secret, scope, timeout, connection.oauth_client_secret_env
        )
    )


def client_credentials_token(
    url: str,
    client_id: str,
    secret: str,
    scope: str | None,
    timeout: float,
    secret_env: str | None = None,
) -> tuple[str, float]:
    """One OAuth 2.0 client-credentials request (RFC 6749 4.4, client authentication by
    HTTP Basic as librdkafka does it): (access token, expiry in seconds since the epoch)."""
    import urllib.error  # with urllib.request, only for OAUTHBEARER connections
    import urllib.parse
    import urllib.request

    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    credentials = (
        urllib.parse.quote_plus(client_id) + ":" + urllib.parse.quote_plus(secret)
    ).encode()
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
        headers={
            "Authorization": "Basic " + remember(base64.b64encode(credentials).decode()),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    hint = "check oauth_token_endpoint_url, oauth_client_id" + (
        f" and the client secret in {secret_env}" if secret_env else ""
    )
    where = "kafka"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:200]
        raise ProjectError(
            f"OAuth: no token from {url}: HTTP {exc.code} {detail}".rstrip(),
            resource=where,
            hint=hint,
        ) from exc
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProjectError(
            f"OAuth: no token from {url}: {reason}", resource=where, hint=hint
        ) from exc
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ProjectError(
            f"OAuth: no token from {url}: the answer has no access_token", resource=where
        )
    lifetime = body.get("expires_in")
    seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
    return remember(token), time.time() + seconds


# -- the Schema Registry's https -------------------------------------------------------------


def registry_ssl_context(
    connection: RegistryConnection, environ: Mapping[str, str]
) -> ssl.SSLContext | None:
    """The TLS context for an https registry URL (custom CA, client certificate, hostname
    check); None for http."""
    if not connection.url.lower().startswith("https://"):
        return None
    for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        location = getattr(connection, key)
        if location and not Path(location).is_file():
            raise ProjectError(
                f"schema_registry.{key}: {location} is not a readable file",
                hint="check the path (relative paths are relative to the working directory)",
            )
    context = ssl.create_default_context(cafile=connection.ssl_ca_location)
    if not connection.ssl_check_hostname:
        context.check_hostname = False
    if connection.ssl_certificate_location and connection.ssl_key_location:
        certificate = Path(connection.ssl_certificate_location)
        try:
            check_certificate_dates(certificate)
        except ProjectError as exc:
            raise ProjectError(
                exc.message.replace("kafka.", "schema_registry.", 1), hint=exc.hint
            ) from exc
        password = (
            read_secret(connection.ssl_key_password_env, environ, "registry key password")
            if connection.ssl_key_password_env
            else None
        )
        try:
            context.load_cert_chain(str(certificate), connection.ssl_key_location, password)
        except (ssl.SSLError, OSError) as exc:
            raise ProjectError(
                f"schema_registry: cannot load the client certificate {certificate}: "
                f"{getattr(exc, 'reason', None) or exc}",
                hint="check ssl_certificate_location, ssl_key_location and the key password",
            ) from exc
    return context


def registry_tls_failure(reason: BaseException) -> str | None:
    """What a TLS failure talking to the registry means, or None if it was not one."""
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"the registry's certificate could not be verified ({reason.verify_message})"
    if isinstance(reason, ssl.SSLEOFError):
        return (
            "the registry closed the connection during the TLS handshake (it may require a "
            "client certificate it trusts)"
        )
    if isinstance(reason, ssl.SSLError):
        text = str(getattr(reason, "reason", None) or reason)
        lowered = text.lower()
        for alert in _CLIENT_CERTIFICATE_ALERTS:
            if alert.replace(" ", "_") in lowered or alert in lowered:
                return f"the registry refused the client certificate (TLS alert: {alert})"
        return f"TLS handshake failed ({text})"
    return None


def make_client(factory: Callable[[dict[str, Any]], T], config: dict[str, Any]) -> T:
    """A librdkafka client; settings it refuses (a missing TLS file, say) are a user error."""
    from confluent_kafka import KafkaException

    try:
        return factory(config)
    except (KafkaException, ValueError, TypeError) as exc:
        error = exc.args[0] if exc.args else exc
        reason = error.str() if hasattr(error, "str") else str(error)
        raise ProjectError(
            f"cannot set up the Kafka client: {reason}",
            resource="kafka",
            hint="check the environment's kafka connection settings (TLS file locations, "
            "SASL and OAuth settings)",
        ) from exc


def is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C (or SIGTERM, which apply takes as one), also as
    confluent-kafka passes it on.

    When the signal arrives while librdkafka runs one of the callbacks kafkaplan gives it
    (delivery reports, ``error_cb``, ``logger``) during a poll, a flush or an admin call,
    confluent-kafka loses or wraps the KeyboardInterrupt and the call fails with SystemError:
    "returned NULL without setting an exception", or "returned a result with an exception
    set" with the interrupt as its cause. Those callbacks only record what they are given:
    the interrupt is the one exception they can raise."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    if not isinstance(exc, SystemError):
        return False
    return "without setting an exception" in str(exc) or isinstance(
        exc.__cause__, KeyboardInterrupt
    )


def interruptible(call: Callable[[], T]) -> T:
    """``call()`` (a librdkafka poll or flush that runs this process's callbacks), with a
    Ctrl-C kept a Ctrl-C (``is_interrupt``)."""
    try:
        return call()
    except SystemError as exc:
        if not is_interrupt(exc):
            raise
        raise KeyboardInterrupt from exc
