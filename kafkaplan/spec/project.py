"""The project file (``kafkaplan.yaml``): environments, connections, policies.

Secrets never live in this file. A connection names the *environment variable* that holds
each secret (``sasl_password_env: KAFKAPLAN_SASL_PASSWORD``); other values may read the
environment with ``${env:NAME}`` or ``${env:NAME:-default}``, except the variables the
project names as secrets (the value of any ``*_env`` key, and the cloud credentials of
``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``): a ``${env:...}`` of one of those is
refused at load time, wherever it is, so that a pull request that edits this file cannot
route a secret into a spec, a plan or a log through a variable. The values of those
variables are also masked in every output from the moment the file is read.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Struct
from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kafkaplan.errors import Diagnostic, ProjectError, SpecError
from kafkaplan.secrets import remember
from kafkaplan.spec.acls import AclSettings, check_ownership
from kafkaplan.spec.defaults import new_list
from kafkaplan.spec.models import CompatibilityLevel, ConfigValue, DeadLetter, StrictModel
from kafkaplan.spec.numbers import Count, MaybeCount, Quantity
from kafkaplan.spec.quotas import QuotaSettings
from kafkaplan.spec.quotas import check_ownership as check_quota_ownership
from kafkaplan.spec.source import Document, YamlProblem, read_yaml
from kafkaplan.spec.units import UnitError, parse_duration_ms, parse_size_bytes

PROJECT_FILE = "kafkaplan.yaml"


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from exc
    return value


# A string that must be a valid (Python) regular expression.
Regex = Annotated[str, AfterValidator(_compiles)]

DEFAULT_NAMING_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9_-]*\.v[0-9]+$"

# Keys that would hold a secret literally; each points at its *_env spelling.
_SECRET_KEYS = {
    "sasl_password",
    "password",
    "token",
    "bearer_token",
    "ssl_key_password",
    "client_secret",
    "oauth_client_secret",
}


DEFAULT_NAMING_DESCRIPTION = "entity.event_type.version (e.g. orders.created.v1)"


class NamingPolicy(StrictModel):
    pattern: Regex = Field(
        default=DEFAULT_NAMING_PATTERN,
        description="Regular expression every managed topic name must match.",
    )
    description: str | None = Field(
        default=None,
        description="How the pattern reads to a person; shown in errors. Without it, errors "
        "quote the pattern (the default pattern reads `entity.event_type.version (e.g. "
        "orders.created.v1)`).",
    )
    exceptions: list[str] = Field(
        default_factory=new_list,
        description="Topic names exempt from the naming pattern (legacy names, for example).",
    )

    def explained(self) -> str:
        """The convention as errors state it: its description, or else its pattern."""
        if self.description:
            return self.description
        if self.pattern == DEFAULT_NAMING_PATTERN:
            return DEFAULT_NAMING_DESCRIPTION
        return f"(names must match {self.pattern})"


class CompatibilityRule(StrictModel):
    match: Regex = Field(
        description="Regular expression searched in the subject's topic name (topic-derived "
        "subjects) or in the subject name (explicitly named subjects).",
        examples=[r"\.v[0-9]+$"],
    )
    minimum: CompatibilityLevel = Field(
        description="Weakest compatibility level allowed: the subject's level must guarantee "
        "at least what this one does (see docs/schemas.md for the order).",
    )


class SchemaPolicy(StrictModel):
    min_compatibility: list[CompatibilityRule] = Field(
        default_factory=new_list,
        description="Compatibility levels subjects must at least have, by topic or subject name.",
    )
    require_key_schema_for_compacted: bool = Field(
        default=False,
        description="Every topic with cleanup.policy compact must declare a key schema.",
    )


class DeadLetterPolicy(StrictModel):
    """How companion dead-letter topics (`dead_letter:` on a topic or a class) are made."""

    suffix: str = Field(
        default=".dlq",
        description="Appended to the topic's name. Dead-letter topics are exempt from the "
        "naming pattern: their names follow from their topic's.",
    )
    partitions: MaybeCount = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Partitions of a dead-letter topic. Omitted: as many as its topic.",
    )
    retention: Quantity = Field(
        default="14d",
        description="retention.ms of a dead-letter topic: long enough for operators to drain it.",
    )

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, value: str) -> str:
        if not value or not re.fullmatch(r"[a-zA-Z0-9._-]+", value):
            raise ValueError("the suffix must be letters, digits, '.', '_' or '-'")
        return value

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        try:
            parse_duration_ms(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from exc
        return value


class Policy(StrictModel):
    naming: NamingPolicy = Field(default_factory=NamingPolicy)
    max_retention: Quantity | None = Field(
        default="30d",
        description="Longest retention.ms a delete-policy topic may declare (null: no limit). "
        "Compact-only topics are exempt; infinite retention counts as over the limit.",
    )
    min_replication_factor: Count = Field(default=1, ge=1)
    min_insync_replicas: Count = Field(
        default=1,
        ge=1,
        description="Smallest min.insync.replicas a topic may have (declared or defaulted).",
    )
    schemas: SchemaPolicy = Field(default_factory=SchemaPolicy)
    dead_letter: DeadLetterPolicy = Field(default_factory=DeadLetterPolicy)

    @field_validator("max_retention")
    @classmethod
    def _duration(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            try:
                parse_duration_ms(value)
            except UnitError as exc:
                raise ValueError(str(exc)) from exc
        return value

    def max_retention_ms(self) -> int | None:
        return None if self.max_retention is None else parse_duration_ms(self.max_retention)


class PolicyOverride(StrictModel):
    """Per-environment overrides of the project-wide policy."""

    max_retention: Quantity | None = None
    min_replication_factor: MaybeCount = Field(default=None, ge=1)
    min_insync_replicas: MaybeCount = Field(default=None, ge=1)


def _duration_within(
    value: str | int, what: str, *, low_ms: int = 1, high_ms: int | None = None
) -> str | int:
    """``value`` if it is a duration from ``low_ms`` to ``high_ms`` (None: no upper bound)."""
    try:
        ms = parse_duration_ms(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from exc
    if high_ms is not None and not low_ms <= ms <= high_ms:
        raise ValueError(f"{what} must be between {low_ms}ms and {high_ms // 1000}s")
    if ms < low_ms:
        raise ValueError(
            f"{what} must be positive" if low_ms == 1 else f"{what} must be at least {low_ms}ms"
        )
    return value


# One address of bootstrap_servers as librdkafka reads it: an optional listener name
# (``SASL_SSL://``), a host name, IPv4 or [IPv6] address, and an optional port.
_SERVER = re.compile(
    r"^(?:[A-Za-z][A-Za-z0-9_]*://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?$"
)


class KafkaConnection(StrictModel):
    bootstrap_servers: str = Field(
        description="Comma-separated `host:port` addresses of brokers to start from "
        "(e.g. `kafka-1:9092,kafka-2:9092`); checked when the project is loaded."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = Field(
        default=None, description="Name of the environment variable holding the SASL password."
    )
    ssl_ca_location: str | None = Field(
        default=None,
        description="TLS: PEM file of the CA(s) the broker's certificate is checked against "
        "(default: the system's CAs).",
    )
    ssl_certificate_location: str | None = Field(
        default=None, description="mTLS: PEM file of the client certificate."
    )
    ssl_key_location: str | None = Field(
        default=None, description="mTLS: PEM file of the client certificate's private key."
    )
    ssl_key_password_env: str | None = Field(
        default=None,
        description="mTLS: name of the environment variable holding the key's password.",
    )
    ssl_check_hostname: bool = Field(
        default=True,
        description="TLS: check that the broker's certificate names the address connected "
        "to. Turn off only for brokers whose certificates do not list their addresses.",
    )
    oauth_token_provider: Literal["oidc", "aws-msk-iam"] = Field(
        default="oidc",
        description="OAUTHBEARER: where tokens come from: `oidc` (client credentials at "
        "oauth_token_endpoint_url) or `aws-msk-iam` (AWS MSK IAM, signed from the AWS "
        "credentials; needs `pip install 'kafkaplan[aws]'`).",
    )
    aws_region: str | None = Field(
        default=None, description="aws-msk-iam: the cluster's AWS region (e.g. eu-west-1)."
    )
    oauth_token_endpoint_url: str | None = Field(
        default=None,
        description="OAUTHBEARER: the OIDC token endpoint (client-credentials grant).",
    )
    oauth_client_id: str | None = Field(default=None, description="OAUTHBEARER: client id.")
    oauth_client_secret_env: str | None = Field(
        default=None,
        description="OAUTHBEARER: name of the environment variable holding the client secret.",
    )
    oauth_scope: str | None = Field(default=None, description="OAUTHBEARER: requested scope.")
    timeout: Quantity = Field(
        default="30s",
        description="Timeout of each request to Kafka (reads, writes and the apply lease), "
        "from 10ms to 5m (the Kafka client's own limits).",
    )
    retries: Count = Field(
        default=2,
        ge=0,
        le=10,
        description="How often a request to Kafka or to the Schema Registry that got no answer "
        "(a timeout, a lost connection) is tried again, with backoff. Reads are retried as they "
        "are; a Kafka write is first re-checked against the live state, a registry write is not "
        "resent. Refusals (policy, permission, invalid config) are never retried.",
    )
    expected_cluster_id: str | None = Field(
        default=None,
        description="Refuse to run against any other cluster (guards against a wrong bootstrap).",
    )

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str | int) -> str | int:
        # The Kafka client's own bounds of socket.timeout.ms, which this becomes.
        return _duration_within(value, "the timeout", low_ms=10, high_ms=300_000)

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, value: str) -> str:
        if unresolved_env(value):
            return value  # named by the command that needs it
        servers = [server.strip() for server in value.split(",") if server.strip()]
        if not servers:
            raise ValueError("bootstrap_servers names no broker")
        for server in servers:
            match = _SERVER.match(server)
            if match is None:
                raise ValueError(
                    f"{server!r} is not a broker address: bootstrap_servers is a "
                    "comma-separated list of host:port (e.g. kafka-1:9092,kafka-2:9092)"
                )
            if match["port"] is not None and not 0 < int(match["port"]) < 65536:
                raise ValueError(f"{server!r}: the port must be between 1 and 65535")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaConnection:
        protocol = self.security_protocol
        tls = protocol.endswith("SSL")
        sasl = protocol.startswith("SASL")
        tls_keys = [
            key
            for key in (
                "ssl_ca_location",
                "ssl_certificate_location",
                "ssl_key_location",
                "ssl_key_password_env",
            )
            if getattr(self, key) is not None
        ]
        if not self.ssl_check_hostname:
            tls_keys.append("ssl_check_hostname")
        if tls_keys and not tls:
            raise ValueError(
                f"{', '.join(tls_keys)} need security_protocol SSL or SASL_SSL, not {protocol}"
            )
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError(
                "a client certificate needs both ssl_certificate_location and ssl_key_location"
            )
        if self.ssl_key_password_env and not self.ssl_key_location:
            raise ValueError("ssl_key_password_env needs ssl_key_location")
        if self.sasl_mechanism and not sasl:
            raise ValueError(
                f"sasl_mechanism needs security_protocol SASL_PLAINTEXT or SASL_SSL, not {protocol}"
            )
        oauth_keys = [
            key
            for key in (
                "oauth_token_endpoint_url",
                "oauth_client_id",
                "oauth_client_secret_env",
                "oauth_scope",
                "aws_region",
            )
            if getattr(self, key) is not None
        ]
        if "oauth_token_provider" in self.model_fields_set:
            oauth_keys.append("oauth_token_provider")
        if self.sasl_mechanism != "OAUTHBEARER":
            if oauth_keys:
                raise ValueError(f"{', '.join(oauth_keys)} need sasl_mechanism OAUTHBEARER")
        elif self.oauth_token_provider == "oidc":
            missing = [
                key
                for key in (
                    "oauth_token_endpoint_url",
                    "oauth_client_id",
                    "oauth_client_secret_env",
                )
                if getattr(self, key) is None
            ]
            if missing:
                raise ValueError(f"OAUTHBEARER (oidc) needs {', '.join(missing)}")
            if self.aws_region is not None:
                raise ValueError("aws_region is for oauth_token_provider aws-msk-iam")
        else:
            if self.aws_region is None:
                raise ValueError("oauth_token_provider aws-msk-iam needs aws_region")
            if protocol != "SASL_SSL":
                raise ValueError(
                    "oauth_token_provider aws-msk-iam needs security_protocol SASL_SSL"
                )
            extra = [
                k for k in oauth_keys if k.startswith("oauth_") and k != "oauth_token_provider"
            ]
            if extra:
                raise ValueError(f"{', '.join(extra)} are for oauth_token_provider oidc")
        if self.sasl_mechanism in {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} and not (
            self.sasl_username and self.sasl_password_env
        ):
            raise ValueError(
                f"sasl_mechanism {self.sasl_mechanism} needs sasl_username and sasl_password_env"
            )
        return self

    def timeout_seconds(self) -> float:
        return parse_duration_ms(self.timeout) / 1000


class RegistryConnection(StrictModel):
    url: str = Field(
        description="The registry's API root, `http(s)://host[:port][/path]` (for Apicurio "
        "its Confluent-compatible API, e.g. `http://host:8080/apis/ccompat/v7`); checked when "
        "the project is loaded. Credentials go in `username` and `password_env`, never in it."
    )
    username: str | None = None
    password_env: str | None = None
    bearer_token_env: str | None = None
    timeout: Quantity = "30s"
    ssl_ca_location: str | None = Field(
        default=None,
        description="https: PEM file of the CA(s) the registry's certificate is checked "
        "against (default: the system's CAs).",
    )
    ssl_certificate_location: str | None = Field(
        default=None, description="https with client certificates: the client certificate (PEM)."
    )
    ssl_key_location: str | None = Field(
        default=None, description="https with client certificates: its private key (PEM)."
    )
    ssl_key_password_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the client key's password.",
    )
    ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the registry's certificate names the host of `url`.",
    )

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str | int) -> str | int:
        return _duration_within(value, "the timeout")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if unresolved_env(value):
            return value  # named by the command that needs it
        parts = urllib.parse.urlsplit(value)
        # Credentials first, so that a URL holding a password is never repeated.
        if parts.username or parts.password:
            raise ValueError(
                "the URL must not contain credentials: set schema_registry.username and "
                "password_env (or bearer_token_env) instead"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http(s) URL (e.g. https://registry.example.com or "
                "http://host:8081/apis/ccompat/v7)"
            )
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"{value!r}: the port must be between 1 and 65535")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RegistryConnection:
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError(
                "a client certificate needs both ssl_certificate_location and ssl_key_location"
            )
        if self.ssl_key_password_env and not self.ssl_key_location:
            raise ValueError("ssl_key_password_env needs ssl_key_location")
        tls = [
            key
            for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_check_hostname")
            if key in self.model_fields_set
        ]
        if tls and not self.url.lower().startswith("https://"):
            raise ValueError(f"{', '.join(tls)} need an https:// url")
        return self


class SchemaSettings(StrictModel):
    """Schema Registry settings of the project (and, overridden, of an environment)."""

    compatibility: CompatibilityLevel | None = Field(
        default=None,
        description="The registry's global compatibility level (`registry-config.global`). "
        "Omitted: not managed.",
    )
    owned_subjects: list[str] | None = Field(
        default=None,
        description="Subject name prefixes this project owns. Subjects there that no spec "
        "declares are listed as unmanaged, or deleted with `--allow-deletes`.",
    )
    hard_delete: bool | None = Field(
        default=None,
        description="Delete subjects permanently (soft delete, then hard delete). Default: "
        "soft delete only.",
    )


LEASE_TOPIC = "__kafkaplan_lease"


class LeaseSettings(StrictModel):
    """The apply lease: one apply at a time per cluster (see docs/resilience.md)."""

    topic: str = Field(
        default=LEASE_TOPIC,
        description=f"Topic holding the lease; must start with {LEASE_TOPIC!r}. Projects that "
        "manage disjoint parts of one cluster may use separate leases.",
    )
    ttl: Quantity = Field(
        default="5m",
        description="How long a lease lasts without renewal; an apply renews it between "
        "batches. A crashed run's lease can be taken over once it has expired.",
    )
    wait: Quantity = Field(
        default="0s",
        description="How long apply waits for a lease held by another run before giving up "
        "(--lease-wait overrides it).",
    )

    @field_validator("topic")
    @classmethod
    def _lease_topic(cls, value: str) -> str:
        if not re.fullmatch(re.escape(LEASE_TOPIC) + r"([._-][a-zA-Z0-9._-]*)?", value):
            raise ValueError(
                f"the lease topic must be {LEASE_TOPIC!r}, optionally followed by '.', '_' or "
                "'-' and a suffix"
            )
        return value

    @field_validator("ttl", "wait")
    @classmethod
    def _duration(cls, value: str | int, info: ValidationInfo) -> str | int:
        try:
            ms = parse_duration_ms(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from exc
        if info.field_name == "ttl" and ms <= 0:
            raise ValueError("the lease ttl must be positive")
        return value

    def ttl_seconds(self) -> float:
        return parse_duration_ms(self.ttl) / 1000

    def wait_seconds(self) -> float:
        return parse_duration_ms(self.wait) / 1000


class ReassignmentSettings(StrictModel):
    """How apply carries out replication-factor changes (partition reassignments)."""

    throttle: Quantity = Field(
        default="50MiB",
        description="Replication throttle while new replicas copy their data, in bytes per "
        "second per broker (units: 50MiB, 100MB); set on the brokers and the moving "
        "partitions for the reassignment and removed when it completes.",
    )
    timeout: Quantity = Field(
        default="30m",
        description="How long apply waits for the new replicas to catch up. A reassignment "
        "still running then keeps going in Kafka; the next plan reports it and the next "
        "apply waits for it again and finishes it.",
    )
    poll_interval: Quantity = Field(
        default="2s", description="How often apply checks the reassignment's progress."
    )

    @field_validator("throttle")
    @classmethod
    def _rate(cls, value: str | int) -> str | int:
        try:
            if parse_size_bytes(value) < 1:
                raise ValueError("the throttle must be at least 1 byte per second")
        except UnitError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("timeout")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        return _duration_within(value, "the timeout", low_ms=0)

    @field_validator("poll_interval")
    @classmethod
    def _interval(cls, value: str | int) -> str | int:
        return _duration_within(value, "the poll interval")

    def throttle_bytes(self) -> int:
        return parse_size_bytes(self.throttle)

    def timeout_seconds(self) -> float:
        return parse_duration_ms(self.timeout) / 1000

    def poll_seconds(self) -> float:
        return max(0.05, parse_duration_ms(self.poll_interval) / 1000)


class TopicClass(StrictModel):
    """A blessed topic shape: topics say `class: <name>` and override what they must.
    Typed data merged key by key (a topic's own value wins), not a template."""

    description: str | None = Field(default=None, description="What the class is for; for people.")
    partitions: MaybeCount = Field(
        default=None, ge=1, le=100_000, description="Partitions of its topics."
    )
    replication_factor: MaybeCount = Field(
        default=None, ge=1, le=32, description="Replicas per partition of its topics."
    )
    configs: dict[str, ConfigValue] = Field(
        default_factory=dict,
        description="Topic configs of its topics (a topic's own `configs` win key by key; "
        "a topic's `null` removes the class's value).",
        examples=[{"cleanup.policy": "compact", "min.compaction.lag.ms": "1h"}],
    )
    dead_letter: DeadLetter | None = Field(
        default=None,
        description="Give its topics a companion dead-letter topic (a topic's own "
        "`dead_letter` wins).",
    )
    require_key_schema: bool = Field(
        default=False, description="Its topics must declare `key_schema`."
    )
    require_value_schema: bool = Field(
        default=False, description="Its topics must declare `value_schema`."
    )


class BlastRadiusSettings(StrictModel):
    """What the plan reads to say who a change affects (docs/review.md)."""

    enabled: bool = Field(
        default=True,
        description="Read the consumer groups and offsets of the topics a plan changes, to "
        "list who is affected, refuse deleting topics in use and count what retention cuts "
        "delete.",
    )
    in_use_window: Quantity = Field(
        default="7d",
        description="A topic is in use while a consumer group has live members or has read "
        "records written within this window; deleting it is then a plan error "
        "(--allow-in-use-deletes overrides it for one run).",
    )

    @field_validator("in_use_window")
    @classmethod
    def _window(cls, value: str | int) -> str | int:
        try:
            parse_duration_ms(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from exc
        return value

    def window_ms(self) -> int:
        return parse_duration_ms(self.in_use_window)


class Defaults(StrictModel):
    partitions: Count = Field(default=3, ge=1)
    replication_factor: Count = Field(default=3, ge=1)


class ReplicationPolicy(StrictModel):
    """How the mirror names the source's topics (MirrorMaker 2's replication policies)."""

    type: Literal["default", "identity"] = Field(
        default="default",
        description="`default`: a mirrored topic is named `<source_alias><separator><topic>` "
        "(MirrorMaker 2's DefaultReplicationPolicy); `identity`: the same name "
        "(IdentityReplicationPolicy).",
    )
    source_alias: str | None = Field(
        default=None,
        description="The source cluster's alias in the mirror's configuration; default the "
        "name of the environment mirrored.",
    )
    separator: str = Field(default=".", description="Between the alias and the topic name.")


class Environment(StrictModel):
    mirror_of: str | None = Field(
        default=None,
        description="This environment is a disaster-recovery copy of that environment's "
        "cluster: its expected topics and ACLs are derived from the specs as that "
        "environment loads them (docs/workflows.md).",
    )
    replication_policy: ReplicationPolicy = Field(
        default_factory=ReplicationPolicy, description="With `mirror_of`: how topics are named."
    )
    failover_principals: list[str] = Field(
        default_factory=new_list,
        description="With `mirror_of`: the principals that fail over; their ACL bindings are "
        "expected on this cluster too (topic names as the policy names them).",
    )
    kafka: KafkaConnection
    schema_registry: RegistryConnection | None = None
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    policy: PolicyOverride = Field(default_factory=PolicyOverride)
    schemas: SchemaSettings = Field(
        default_factory=SchemaSettings, description="Overrides of the project's `schemas`."
    )
    reassignment: ReassignmentSettings | None = Field(
        default=None, description="Overrides the project's `reassignment` settings."
    )


class ProjectModel(StrictModel):
    specs: list[str] = Field(
        default_factory=lambda: ["specs"],
        description="Folders (searched recursively for *.yaml / *.yml) or files holding specs.",
    )
    default_environment: str | None = None
    policy: Policy = Field(default_factory=Policy)
    ignore_topics: list[Regex] = Field(
        default_factory=new_list,
        description="Regular expressions of topic names kafkaplan never reports or touches, "
        "beside the built-in internal topics.",
    )
    owned_topic_prefixes: list[str] = Field(
        default_factory=new_list,
        description="Topic name prefixes kafkaplan owns. A live topic under one of them that "
        "no spec declares is planned for deletion when deletes are enabled for the run "
        "(--allow-deletes); otherwise it is kept and warned about. Topics outside these "
        "prefixes are never deleted.",
    )
    owned_user_prefixes: list[str] = Field(
        default_factory=new_list,
        description='SCRAM user name prefixes kafkaplan owns (`""` for every user). A live '
        "user under one of them that no spec declares is planned for deletion with "
        "--allow-deletes; otherwise it is kept and warned about. The user kafkaplan connects "
        "as is never deleted.",
    )
    max_destroy: Count = Field(
        default=10,
        ge=0,
        description="Refuse a plan that deletes more resources than this (--max-destroy "
        "overrides it for one run).",
    )
    schemas: SchemaSettings = Field(
        default_factory=SchemaSettings, description="Schema Registry subjects: see docs/schemas.md"
    )
    lease: LeaseSettings = Field(default_factory=LeaseSettings)
    reassignment: ReassignmentSettings = Field(
        default_factory=ReassignmentSettings,
        description="Throttle and timeout of partition reassignments (replication-factor changes).",
    )
    topic_classes: dict[str, TopicClass] = Field(
        default_factory=dict,
        description="Topic classes (docs/topic-classes.md): named shapes topics refer to "
        "with `class:`.",
    )
    protect: list[str] = Field(
        default_factory=new_list,
        description="Deletion protection by address pattern (as --target: `topic.payments.*`, "
        "`subject.payments.*`, `acl.User:billing.*`): a plan that would delete a matching "
        "resource fails, whatever --allow-deletes and --max-destroy say.",
        examples=[["topic.payments.*", "subject.payments.*"]],
    )
    environments: dict[str, Environment]
    blast_radius: BlastRadiusSettings = Field(
        default_factory=BlastRadiusSettings,
        description="Who a change affects, topics in use, exact data loss (docs/review.md).",
    )
    acls: AclSettings = Field(
        default_factory=AclSettings,
        description="Which ACL bindings kafkaplan owns, and whether it may delete them.",
    )
    quotas: QuotaSettings = Field(
        default_factory=QuotaSettings,
        description="Which client quota entities kafkaplan owns (docs/quotas.md).",
    )

    @field_validator("environments")
    @classmethod
    def _some_environment(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        if not value:
            raise ValueError("the project needs at least one environment (a cluster to plan for)")
        return value


class Project(Struct, frozen=True):
    root: Path
    file: Path
    model: ProjectModel
    # The parsed project file, for the line of each declaration (topic classes).
    document: Document | None = None

    def environment(self, name: str | None) -> tuple[str, Environment]:
        envs = self.model.environments
        chosen = name or self.model.default_environment
        if chosen is None:
            if len(envs) == 1:
                chosen = next(iter(envs))
            else:
                raise ProjectError(
                    "no environment chosen",
                    hint=f"pass --env, one of: {', '.join(sorted(envs))}",
                )
        if chosen not in envs:
            raise ProjectError(
                f"unknown environment {chosen!r}",
                resource=str(self.file),
                hint=f"environments in the project file: {', '.join(sorted(envs)) or 'none'}",
            )
        return chosen, envs[chosen]

    def effective_policy(self, environment: Environment) -> Policy:
        override = environment.policy.model_dump(exclude_none=True)
        if "max_retention" in environment.policy.model_fields_set:
            override["max_retention"] = environment.policy.max_retention
        return self.model.policy.model_copy(update=override)

    def effective_schemas(self, environment: Environment) -> SchemaSettings:
        override = environment.schemas.model_dump(exclude_none=True)
        return self.model.schemas.model_copy(update=override)

    def reassignment(self, environment: Environment) -> ReassignmentSettings:
        return environment.reassignment or self.model.reassignment

    def spec_paths(self) -> list[Path]:
        return [(self.root / entry) for entry in self.model.specs]


_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any, environ: Mapping[str, str]) -> Any:
    """Expand ``${env:NAME}`` references; an unset one without a default stays as written,
    so that the command that needs the value can name the missing variable."""
    if isinstance(value, dict):
        return {key: _expand_env(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_env(item, environ) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        return default if default is not None else match.group(0)

    return _ENV_REFERENCE.sub(substitute, value)


def unresolved_env(value: str) -> str | None:
    """The environment variable an unexpanded ``${env:NAME}`` in ``value`` names, if any."""
    match = _ENV_REFERENCE.search(value)
    return match.group(1) if match else None


# Environment variables that hold a secret for the libraries kafkaplan uses without the
# project naming them (MSK IAM reads the AWS credentials from the environment).
_AMBIENT_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _strings(
    value: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every string of a parsed YAML document, with its path."""
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _strings(item, (*path, key))]
    if isinstance(value, list):
        return [
            found for index, item in enumerate(value) for found in _strings(item, (*path, index))
        ]
    return [(path, value)] if isinstance(value, str) else []


def secret_variables(data: Any) -> dict[str, str]:
    """The environment variables the project file names as secrets: variable -> the key
    naming it (``environments.prod.kafka.sasl_password_env``)."""
    named = dict.fromkeys(_AMBIENT_SECRETS, "AWS credentials")
    for path, value in _strings(data):
        if path and isinstance(path[-1], str) and path[-1].endswith("_env"):
            named[value] = ".".join(str(part) for part in path)
    return named


def _secret_references(document: Document, secrets: Mapping[str, str]) -> list[Diagnostic]:
    """A ``${env:NAME}`` of a secret anywhere in the project file is refused: its value
    would reach whatever reads the key (a variable used in a spec, a principal, a config)."""
    problems = []
    for path, value in _strings(document.data):
        for match in _ENV_REFERENCE.finditer(value):
            name = match.group(1)
            if name in secrets:
                where = ".".join(str(part) for part in path)
                problems.append(
                    document.diagnostic(
                        path,
                        f"{where}: ${{env:{name}}} reads a secret ({name} is named as one by "
                        f"{secrets[name]}); a secret must never reach a spec, a plan or a log",
                        hint="secrets are read only through the *_env keys of a connection; "
                        "give this value its own, non-secret environment variable",
                    )
                )
    return problems


def project_json_schema() -> dict[str, Any]:
    """JSON Schema of the project file (``kafkaplan.yaml``), for editors."""
    schema = ProjectModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kafkaplan.dev/schema/project.json"
    schema["title"] = "kafkaplan project file (kafkaplan.yaml)"
    return schema


def find_project_file(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def validation_diagnostics(
    document: Document,
    error: ValidationError,
    schema_command: str = "kafkaplan schema",
    skip: Callable[[tuple[str | int, ...]], bool] | None = None,
) -> list[Diagnostic]:
    """pydantic's errors, located by file and line, in words a spec author understands
    (but those at a path ``skip`` answers true for)."""
    problems = []
    for item in error.errors():
        path = tuple(part for part in item["loc"] if isinstance(part, str | int))
        if skip is not None and skip(path):
            continue
        field = ".".join(str(part) for part in path) or "document"
        hint = None
        if item["type"] == "extra_forbidden":
            key = str(path[-1]) if path else ""
            message = f"unknown key {key!r}"
            if key in _SECRET_KEYS:
                hint = f"secrets come from environment variables: use `{key}_env: VARIABLE`"
            else:
                hint = f"check the spelling; `{schema_command}` prints every key the format knows"
        elif item["type"] == "missing":
            message = f"missing required key {field!r}"
        else:
            message = f"{field}: {item['msg']}"
        problems.append(document.diagnostic(path, message, hint))
    return problems


def load_project(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """Read the project file. Raises SpecError (file:line problems) or ProjectError."""
    environ = os.environ if environ is None else environ
    file = path or find_project_file(Path.cwd())
    if file is None:
        raise ProjectError(
            f"no {PROJECT_FILE} here or in any parent folder",
            hint="run from your specs repository or pass --project",
        )
    if not file.is_file():
        raise ProjectError(f"project file {file} does not exist")
    try:
        document = read_yaml(file, display=str(file))
    except YamlProblem as exc:
        raise SpecError([exc.diagnostic]) from exc
    if not isinstance(document.data, dict):
        raise SpecError([Diagnostic("the project file must be a mapping", file=str(file), line=1)])
    secrets = secret_variables(document.data)
    for name in secrets:
        if environ.get(name):
            remember(environ[name])  # masked in every output from now on, even if never used
    refused = _secret_references(document, secrets)
    if refused:
        raise SpecError(refused)
    document.data = _expand_env(document.data, environ)
    try:
        model = ProjectModel.model_validate(document.data)
    except ValidationError as exc:
        raise SpecError(
            validation_diagnostics(document, exc, "kafkaplan schema --project")
        ) from exc
    ownership_problems = check_ownership(model.acls, document)
    ownership_problems += check_quota_ownership(model.quotas, document)
    if ownership_problems:
        raise SpecError(ownership_problems)
    return Project(root=file.parent.resolve(), file=file, model=model, document=document)
