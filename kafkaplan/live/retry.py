"""Bounded retries with backoff, only where retrying is safe: one policy for the cluster
and the Schema Registry.

``RetryPolicy`` says how often and how long to wait (``attempts`` from the connection's
``retries``, exponential ``backoff``), and ``transient`` which failures are worth another
try; ``RetryingCluster`` wraps any ``Cluster`` with it, and ``HttpRegistry`` runs its reads
through the same policy. The rules:

- Only transient failures are retried: no answer, a timeout, a lost connection, a leader or
  controller moving, throttling (``ClusterTransient``; from the registry
  ``RegistryUnreachable`` and the "try again" statuses 429, 502, 503 and 504). A refusal (a
  policy violation, an invalid config, missing authorization, a failed authentication,
  "already exists"; from the registry 401, 403, 404, 409, 422 and any other answer) is
  final and is never retried.
- Reads (metadata, configs, offsets) are idempotent: retried as they are.
- Writes are retried only where that is safe. Incremental config changes set or delete
  values, so sending them again is harmless. A topic creation, a partition increase or a
  deletion that got no answer may have happened anyway, so it is first *re-checked* by
  reading the metadata; only a change that is visibly not made is sent again, and a
  refusal of the resent request ("already exists") is re-checked the same way.
- Registry reads (GETs, lookups, compatibility checks) are retried as they are; registry
  writes are sent once (the applier looks up a registration answered with a server error).
- Every call is bounded: at most ``attempts`` tries, each bounded by the connection's
  timeout, with exponential backoff between them. A write whose outcome could not be
  established keeps its transient error, which the applier reports as "outcome unknown"
  rather than as done or failed.
- A read that timed out while no broker had answered the client yet (``Cluster.unreached``:
  a wrong address, a cluster that is down) is not tried again: the reads sent together
  fail after the one timeout they share, with ``ClusterNotReached``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from kafkaplan.errors import (
    ClusterError,
    ClusterNotReached,
    ClusterTransient,
    RegistryError,
    RegistryTimedOut,
    RegistryUnreachable,
)
from kafkaplan.live.cluster import (
    AclResults,
    Cluster,
    ClusterInfo,
    ConsumerGroup,
    NewTopicRequest,
    OffsetQuery,
    Partition,
    PartitionResults,
    QuotaChanges,
    QuotaResults,
    Results,
    ScramChange,
    TopicMetadata,
)
from kafkaplan.live.features import BrokerFeatures
from kafkaplan.live.state import LiveConfig, LiveGroup, PartitionReassignment
from kafkaplan.spec.acls import Binding
from kafkaplan.spec.quotas import QuotaEntity

if TYPE_CHECKING:
    from kafkaplan.live.lease import LeaseLog

log = logging.getLogger("kafkaplan.live.retry")

T = TypeVar("T")
Item = TypeVar("Item")


# Registry answers that mean "not now, try again": too many requests, and a gateway or the
# registry itself unavailable (the request was not processed).
TRANSIENT_HTTP_STATUSES = frozenset({429, 502, 503, 504})


def transient(error: BaseException) -> bool:
    """Is ``error`` a transient failure, worth another try (see the module's rules)?"""
    if isinstance(error, RegistryTimedOut):
        return False  # it took the request and hangs: another try costs another timeout
    if isinstance(error, ClusterTransient | RegistryUnreachable):
        return True
    return isinstance(error, RegistryError) and error.status in TRANSIENT_HTTP_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # tries of one call, the first included
    backoff: float = 0.5  # seconds before the second try; doubled before each further one
    max_backoff: float = 5.0
    # How to wait between tries (tests pass a recorder instead of sleeping).
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    @classmethod
    def of(cls, retries: int, *, sleep: Callable[[float], None] | None = None) -> RetryPolicy:
        """The policy for a connection's ``retries`` (tries after the first)."""
        policy = cls(attempts=retries + 1)
        return policy if sleep is None else replace(policy, sleep=sleep)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def run(
        self,
        what: str,
        call: Callable[[], T],
        *,
        give_up: Callable[[ClusterError | RegistryError], ClusterError | None] | None = None,
    ) -> T:
        """``call()``, tried again after a transient failure, ``attempts`` tries at most;
        the last failure (or the first that is not transient) is raised. ``give_up``: asked
        about each transient failure before another try; an error it returns is raised
        instead of trying again."""
        attempt = 1
        while True:
            try:
                return call()
            except (ClusterError, RegistryError) as exc:
                if not transient(exc) or attempt >= self.attempts:
                    raise
                reason = give_up(exc) if give_up is not None else None
                if reason is not None:
                    raise reason from exc
                delay = self.delay(attempt)
                log.info("%s: %s; retrying in %.1fs", what, exc.message, delay)
                self.sleep(delay)
                attempt += 1


# Does the live metadata show this change made? (None: not checkable, resend as it is.)
Settled = Callable[[Mapping[str, TopicMetadata], str, Item], bool]


class RetryingCluster:
    """A ``Cluster`` that retries what is safe to retry, re-checking writes first."""

    def __init__(
        self,
        inner: Cluster,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
    ):
        self.inner = inner
        policy = policy or RetryPolicy()
        self.policy = policy if sleep is None else replace(policy, sleep=sleep)

    def sleep(self, seconds: float) -> None:
        self.policy.sleep(seconds)

    # -- identity and the lease -----------------------------------------------------------

    def identify(self) -> str | None:
        return self._read("identify the cluster", self.inner.identify)

    def lease_log(self, topic: str) -> LeaseLog:
        # The identity check is retried here; the inner client remembers its answer.
        self.identify()
        return self.inner.lease_log(topic)

    # -- reads ---------------------------------------------------------------------------

    def _read(self, what: str, call: Callable[[], T]) -> T:
        return self.policy.run(what, call, give_up=self._unreached)

    def _unreached(self, failure: ClusterError | RegistryError) -> ClusterNotReached | None:
        return self.inner.unreached(failure) if isinstance(failure, ClusterError) else None

    def unreached(self, failure: ClusterError) -> ClusterNotReached | None:
        return self.inner.unreached(failure)

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        return self._read("describe cluster", self.inner.describe)

    def describe_topic_configs(
        self, names: Sequence[str], keys: Collection[str] | None = None
    ) -> dict[str, dict[str, LiveConfig] | ClusterError]:
        def call() -> dict[str, dict[str, LiveConfig] | ClusterError]:
            result = self.inner.describe_topic_configs(names, keys)
            failed = next((e for e in result.values() if isinstance(e, ClusterTransient)), None)
            if failed is not None:
                raise failed
            return result

        return self._read("describe configs", call)

    def topics_exist(self, names: Sequence[str]) -> dict[str, bool]:
        return self._read("describe topics", lambda: self.inner.topics_exist(names))

    def probe_topics(self, names: Sequence[str]) -> dict[str, ClusterError | None]:
        return self._read("describe topics", lambda: self.inner.probe_topics(names))

    def describe_acls(self) -> tuple[list[Binding], list[str]]:
        return self._read("describe ACLs", self.inner.describe_acls)

    def acls_exist(self, bindings: Sequence[Binding]) -> dict[Binding, bool]:
        return self._read("describe ACLs", lambda: self.inner.acls_exist(bindings))

    def acl_unsupported(self, binding: Binding) -> str | None:
        return self.inner.acl_unsupported(binding)

    def topic_message_counts(self, partitions: Mapping[str, int]) -> dict[str, int]:
        return self._read("list offsets", lambda: self.inner.topic_message_counts(partitions))

    def list_consumer_groups(self) -> list[str]:
        return self._read("list consumer groups", self.inner.list_consumer_groups)

    def describe_consumer_groups(self, group_ids: Sequence[str]) -> dict[str, ConsumerGroup]:
        return self._read(
            "describe consumer groups", lambda: self.inner.describe_consumer_groups(group_ids)
        )

    def list_group_offsets(self, group_ids: Sequence[str]) -> dict[str, dict[Partition, int]]:
        return self._read(
            "list committed offsets", lambda: self.inner.list_group_offsets(group_ids)
        )

    def list_offsets(
        self, partitions: Sequence[Partition], query: OffsetQuery
    ) -> dict[Partition, int]:
        return self._read("list offsets", lambda: self.inner.list_offsets(partitions, query))

    def describe_log_dirs(self, partitions: Sequence[Partition]) -> dict[Partition, dict[int, int]]:
        return self._read("describe log dirs", lambda: self.inner.describe_log_dirs(partitions))

    # -- writes --------------------------------------------------------------------------

    def _write(
        self,
        what: str,
        items: Mapping[str, Item],
        send: Callable[[dict[str, Item]], Results],
        settled: Settled[Item] | None,
    ) -> Results:
        results: Results = {}
        pending = dict(items)
        resent: set[str] = set()
        attempt = 1
        while pending:
            answer = send(pending)
            uncertain: dict[str, ClusterError] = {}
            for name in pending:
                error = answer.get(name)
                if error is not None and (transient(error) or name in resent):
                    uncertain[name] = error
                else:
                    results[name] = error
            if not uncertain:
                break
            last = attempt >= self.policy.attempts
            if settled is None:
                checked: dict[str, bool] = dict.fromkeys(uncertain, False)
            else:
                try:
                    _, metadata = self.describe()
                except ClusterError as exc:
                    log.info("%s: could not re-check %d change(s): %s", what, len(uncertain), exc)
                    results.update({n: _unknown(e) for n, e in uncertain.items()})
                    break
                checked = {n: settled(metadata, n, items[n]) for n in uncertain}
            pending = {}
            for name, error in uncertain.items():
                if checked[name]:
                    log.info("%s: %s is in effect (re-checked after: %s)", what, name, error)
                    results[name] = None
                elif transient(error) and not last:
                    pending[name] = items[name]
                else:
                    results[name] = error
            if pending:
                delay = self.policy.delay(attempt)
                log.info("%s: retrying %d change(s) in %.1fs", what, len(pending), delay)
                self.sleep(delay)
                resent |= set(pending)
                attempt += 1
        return results

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results:
        by_name = {t.name: t for t in topics}

        def send(pending: dict[str, NewTopicRequest]) -> Results:
            return self.inner.create_topics(list(pending.values()), validate_only=validate_only)

        def created(meta: Mapping[str, TopicMetadata], name: str, want: NewTopicRequest) -> bool:
            have = meta.get(name)
            return have is not None and have.partitions == want.partitions

        # A dry run changes nothing: resend it as it is.
        return self._write("create topics", by_name, send, None if validate_only else created)

    def alter_topic_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        def send(pending: dict[str, Mapping[str, str | None]]) -> Results:
            return self.inner.alter_topic_configs(pending, validate_only=validate_only)

        # Incremental set/delete of values: sending it again is harmless.
        return self._write("alter configs", dict(changes), send, None)

    def create_partitions(
        self, totals: Mapping[str, int], *, validate_only: bool = False
    ) -> Results:
        def send(pending: dict[str, int]) -> Results:
            return self.inner.create_partitions(pending, validate_only=validate_only)

        def grown(meta: Mapping[str, TopicMetadata], name: str, total: int) -> bool:
            have = meta.get(name)
            return have is not None and have.partitions >= total

        # A dry run changes nothing: resend it as it is.
        return self._write(
            "create partitions", dict(totals), send, None if validate_only else grown
        )

    def delete_topics(self, names: Sequence[str]) -> Results:
        def gone(meta: Mapping[str, TopicMetadata], name: str, _: str) -> bool:
            return name not in meta

        return self._write(
            "delete topics",
            {n: n for n in names},
            lambda p: self.inner.delete_topics(list(p)),
            gone,
        )

    def _resend(
        self, what: str, bindings: Sequence[Binding], send: Callable[[list[Binding]], AclResults]
    ) -> AclResults:
        """Creating a binding that exists, or deleting one that is gone, is a no-op in Kafka:
        bindings without an answer are simply sent again."""
        results: AclResults = {}
        pending = list(bindings)
        attempt = 1
        while pending:
            answer = send(pending)
            again = [b for b in pending if (e := answer.get(b)) is not None and transient(e)]
            results.update({b: answer.get(b) for b in pending if b not in again})
            if not again or attempt >= self.policy.attempts:
                results.update({b: answer.get(b) for b in again})
                break
            delay = self.policy.delay(attempt)
            log.info("%s: retrying %d binding(s) in %.1fs", what, len(again), delay)
            self.sleep(delay)
            pending = again
            attempt += 1
        return results

    def create_acls(self, bindings: Sequence[Binding]) -> AclResults:
        return self._resend("create ACLs", bindings, self.inner.create_acls)

    def delete_acls(self, bindings: Sequence[Binding]) -> AclResults:
        return self._resend("delete ACLs", bindings, self.inner.delete_acls)

    # -- partition reassignments ----------------------------------------------------------
    # Reads are retried; the writes are idempotent (the same target replicas, the same
    # throttle values, the same preferred leaders) but are not resent here: the
    # reassignment step re-reads the cluster and picks up where it is.

    def list_reassignments(self) -> dict[Partition, PartitionReassignment]:
        return self._read("list reassignments", self.inner.list_reassignments)

    def describe_broker_throttles(self, brokers: Sequence[int]) -> dict[int, dict[str, str]]:
        return self._read(
            "describe broker configs", lambda: self.inner.describe_broker_throttles(brokers)
        )

    def alter_reassignments(self, targets: Mapping[Partition, Sequence[int]]) -> PartitionResults:
        return self.inner.alter_reassignments(targets)

    def alter_broker_configs(self, changes: Mapping[int, Mapping[str, str | None]]) -> Results:
        return self.inner.alter_broker_configs(changes)

    def elect_preferred_leaders(self, partitions: Sequence[Partition]) -> PartitionResults:
        return self.inner.elect_preferred_leaders(partitions)

    # -- SCRAM users ----------------------------------------------------------------------

    def describe_user_scram_credentials(self) -> dict[str, dict[str, int]]:
        return self._read("describe SCRAM users", self.inner.describe_user_scram_credentials)

    def alter_user_scram_credentials(self, changes: Mapping[str, ScramChange]) -> Results:
        """Upserts set the same password again: resent as they are after a transient
        failure. A deletion resent after a lost answer may find the credential gone
        (RESOURCE_NOT_FOUND): the users' credentials are then read, and a change that
        shows is done."""
        results: Results = {}
        pending = dict(changes)
        resent: set[str] = set()
        recheck: dict[str, ClusterError] = {}
        attempt = 1
        while pending:
            answer = self.inner.alter_user_scram_credentials(pending)
            again: dict[str, ScramChange] = {}
            for name, change in pending.items():
                error = answer.get(name)
                if error is None:
                    results[name] = None
                elif name in resent and error.code == "RESOURCE_NOT_FOUND" and change.deletions:
                    recheck[name] = error
                elif transient(error) and attempt < self.policy.attempts:
                    again[name] = change
                else:
                    results[name] = error
            if not again:
                break
            delay = self.policy.delay(attempt)
            log.info("alter SCRAM users: retrying %d user(s) in %.1fs", len(again), delay)
            self.sleep(delay)
            resent |= set(again)
            pending = again
            attempt += 1
        if recheck:
            try:
                live = self.describe_user_scram_credentials()
            except ClusterError as exc:
                log.info("alter SCRAM users: could not re-check: %s", exc)
                live = None
            for name, error in recheck.items():
                change, have = changes[name], (live or {}).get(name, {})
                shows = live is not None and all(m not in have for m in change.deletions)
                shows = shows and all(have.get(m) == i for m, i in change.upserts.items())
                results[name] = None if shows else _unknown(error)
        return results

    def describe_features(self) -> BrokerFeatures:
        return self._read("describe features", self.inner.describe_features)

    def describe_group_configs(
        self, group_ids: Sequence[str]
    ) -> dict[str, LiveGroup | ClusterError]:
        def call() -> dict[str, LiveGroup | ClusterError]:
            result = self.inner.describe_group_configs(group_ids)
            failed = next((e for e in result.values() if isinstance(e, ClusterTransient)), None)
            if failed is not None:
                raise failed
            return result

        return self._read("describe group configs", call)

    def list_group_config_ids(self) -> list[str]:
        return self._read("list group configs", self.inner.list_group_config_ids)

    def alter_group_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> Results:
        def send(pending: dict[str, Mapping[str, str | None]]) -> Results:
            return self.inner.alter_group_configs(pending, validate_only=validate_only)

        # Incremental set/delete of values: sending it again is harmless.
        return self._write("alter group configs", dict(changes), send, None)

    # -- client quotas ---------------------------------------------------------------------
    # Setting or removing a key is idempotent: a change without an answer is sent again.

    def describe_quotas(self) -> dict[QuotaEntity, dict[str, float]]:
        return self._read("describe client quotas", self.inner.describe_quotas)

    def alter_quotas(self, changes: QuotaChanges, *, validate_only: bool = False) -> QuotaResults:
        by_key = {entity.key: entity for entity in changes}

        def send(pending: dict[str, Mapping[str, float | None]]) -> Results:
            try:
                answer = self.inner.alter_quotas(
                    {by_key[key]: keys for key, keys in pending.items()},
                    validate_only=validate_only,
                )
            except ClusterTransient as exc:  # no answer for the request as a whole
                return dict.fromkeys(pending, exc)
            return {entity.key: error for entity, error in answer.items()}

        results = self._write(
            "alter client quotas", {e.key: keys for e, keys in changes.items()}, send, None
        )
        return {by_key[key]: error for key, error in results.items()}

    def close(self) -> None:
        self.inner.close()


def _unknown(error: ClusterError) -> ClusterError:
    """An error whose write may have happened: keep it transient (outcome unknown)."""
    if transient(error):
        return error
    return ClusterTransient(
        f"{error.message}; the change could not be re-checked, so whether it was made is unknown",
        resource=error.resource,
        code=error.code,
    )
