"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replicas) and one
describe-cluster request the brokers' racks, both sent by a plan before its specs are
parsed; one batched describe-configs submission reads the configs of the managed topics
that exist, sent by a plan as soon as its declared topics are known (``EarlyRead``), and
another those of the topics that may be deleted; one
list-offsets submission counts the messages of the topics that may be deleted; one
list-partition-reassignments request, sent while the configs are read, finds reassignments
in progress when one may run (a partition has a replica out of sync, as every partition
being reassigned has) or matters (a declared topic changes replication factor, or carries
replication throttles): it needs a second client, kafka-python's, which a plan otherwise
never opens. Other topics are listed, but nothing more is read about them. Only when a
managed topic is being reassigned or carries leftover replication throttles are the
brokers' throttle rates read as well. When the project manages ACLs, one describe-ACLs
request with an any-filter reads every binding, sent first and answered while the
metadata and configs are read.

Subjects: only the managed ones (and the ones they refer to, and those in the project's
owned prefixes) are read, concurrently over a thread pool, and of each only what the plan
compares: its latest version; its subject-level compatibility when the specs set one or a
new version will be registered; its version list when a reference pins a version (see
``read_registry``). The registry's subject list is only read for the owned prefixes.

Plans need everything they compare, so a read error fails them. Drift reads tolerantly:
what it may not read is recorded in ``LiveState.not_checked`` with the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from msgspec.structs import replace

from kafkaplan.errors import (
    AuthenticationFailed,
    ClusterError,
    ClusterUnreachable,
    PermissionDenied,
    RegistryError,
    RegistryUnreachable,
)
from kafkaplan.kinds import ResourceKind, subject_address, topic_address
from kafkaplan.live.cluster import Cluster, ClusterInfo, GroupMember, Partition, TopicMetadata
from kafkaplan.live.groups import GroupRead, read_groups
from kafkaplan.live.registry import RegisteredSchema, Registry
from kafkaplan.live.state import (
    TOPIC_THROTTLE_CONFIGS,
    GroupUse,
    LiveConfig,
    LiveReference,
    LiveRegistry,
    LiveState,
    LiveSubject,
    LiveTopic,
    LiveUsage,
    PartitionReassignment,
    TopicUsage,
)
from kafkaplan.spec.acls import Binding
from kafkaplan.spec.desired import DesiredState, DesiredSubject, DesiredTopic
from kafkaplan.spec.quotas import QuotaEntity
from kafkaplan.spec.schemas import same_schema

log = logging.getLogger("kafkaplan.live.read")

ACLS_NOT_CHECKED = "acl"
QUOTAS_NOT_CHECKED = "quota"
REGISTRY_WORKERS = 8

T = TypeVar("T")


class UntilUnreachable:
    """Registry calls run over a thread pool that stop asking once the registry did not
    answer one of them: the calls not started yet fail at once with that error, naming
    their own resource. A registry that hangs would otherwise cost every queued call its
    own timeout (and its retries), one round of workers after another: with the default
    30s timeout, the better part of an hour for a few hundred subjects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unanswered: RegistryUnreachable | None = None

    def __call__(self, resource: str, call: Callable[..., T], *args: Any) -> T:
        with self._lock:
            unanswered = self._unanswered
        if unanswered is not None:
            raise RegistryUnreachable(unanswered.message, resource=resource, hint=unanswered.hint)
        try:
            return call(*args)
        except RegistryUnreachable as exc:
            with self._lock:
                if self._unanswered is None:
                    self._unanswered = exc
            raise


TopicConfigs = dict[str, dict[str, LiveConfig] | ClusterError]


def declared_config_keys(topics: Mapping[str, DesiredTopic]) -> frozenset[str]:
    """The topic config keys the specs declare: with the overrides, what a plan compares."""
    return frozenset(key for topic in topics.values() for key in topic.configs)


class EarlyRead:
    """The reads that need (almost) nothing from the specs, started on threads of their own
    so that the broker answers while the specs are checked: the cluster's metadata
    (``Cluster.describe``) at once, before the specs are parsed, and the configs of the
    declared topics (``prefetch_configs``) as soon as the declared topics are known, while
    the rest of the specs (bindings, schemas, users) is checked (and the metadata, if it is
    not in yet, is read). Only for reads: an apply reads after taking its lease. The
    threads are daemons, so a run whose specs do not load never waits for an abandoned
    read (``KafkaCluster`` stops one once it is closed)."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._metadata: Future[tuple[ClusterInfo, dict[str, TopicMetadata]]] = Future()
        self._configs: tuple[frozenset[str], frozenset[str], Future[TopicConfigs]] | None = None
        _start(self._metadata, cluster.describe, "kafkaplan-describe")

    def __call__(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        """The metadata read, waiting for it (its errors are raised here)."""
        return self._metadata.result()

    def prefetch_configs(self, topics: Mapping[str, DesiredTopic]) -> None:
        """Start reading the configs of the ``topics`` (keeping the declared keys and the
        overrides, as ``read_live`` does): of those that exist when the metadata is in
        already; else of every one of them at once, instead of waiting for the metadata
        (on a cluster of many more topics than the specs declare, listing them takes
        longer than checking the specs). A topic that does not exist is answered with an
        error, which the plan drops: it reads only the configs of topics the metadata
        lists."""
        names = frozenset(topics)
        keys = declared_config_keys(topics)
        listed = self._metadata.done()

        def read() -> TopicConfigs:
            if listed:
                _, metadata = self()
                present = sorted(name for name in names if name in metadata)
            else:
                present = sorted(names)
            return self._cluster.describe_topic_configs(present, keys) if present else {}

        future: Future[TopicConfigs] = Future()
        self._configs = (names, keys, future)
        _start(future, read, "kafkaplan-configs")

    def prefetched(
        self, keys: Collection[str]
    ) -> tuple[frozenset[str], Future[TopicConfigs] | None]:
        """The topics whose configs (for exactly these ``keys``) were asked for early, and
        the read of those that exist; none when nothing was, or for other keys."""
        if self._configs is None or self._configs[1] != frozenset(keys):
            return frozenset(), None
        names, _, future = self._configs
        return names, future


def _start(future: Future[T], read: Callable[[], T], name: str) -> None:
    """Run ``read`` on a daemon thread, its result or error going to ``future`` (and from
    there to the reader, in the main thread)."""

    def run() -> None:
        try:
            future.set_result(read())
        except BaseException as exc:  # handed to the reader
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()


def read_live(
    cluster: Cluster,
    desired: DesiredState,
    registry: Registry | None = None,
    *,
    tolerant: bool = False,
    early: EarlyRead | None = None,
) -> LiveState:
    """The live state a plan (or, with ``tolerant``, a drift report) for ``desired`` needs.
    The registry is read only if the specs use it, while the cluster is being read.
    ``early``: the reads already started (the metadata, maybe the declared topics' configs)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kafkaplan-registry") as pool:
        # Group configs and the broker's features (when the specs need them) overlap the
        # topic reads.
        groups_read = pool.submit(read_groups, cluster, desired, tolerant=tolerant)
        registry_read = None
        if registry is not None and desired.uses_registry:
            registry_read = pool.submit(
                read_registry,
                registry,
                managed_subjects(desired),
                desired.registry.owned_prefixes,
                desired,
            )
        users_read = (
            pool.submit(read_users, cluster, tolerant=tolerant) if desired.manages_users else None
        )
        live = _read(
            cluster,
            lambda live: [n for n in desired.topics if n in live],
            desired.deletion_candidates,
            acls=desired.acls.managed,
            probe=list(desired.topics),
            tolerant=tolerant,
            quotas=desired.quotas.managed,
            replication={n: t.replication_factor for n, t in desired.topics.items()},
            early=early,
            config_keys=declared_config_keys(desired.topics),
        )
        if users_read is not None:
            users, unread = users_read.result()
            live = replace(live, users=users, not_checked={**live.not_checked, **unread})
        live = _with_groups(live, groups_read.result())
        if registry_read is None:
            return live
        try:
            subjects, live_registry = registry_read.result()
        except RegistryError as error:
            registry_error = error
        else:
            return replace(live, subjects=subjects, registry=live_registry)
    if not tolerant:
        raise registry_error
    reason = f"not checked: {registry_error}"
    unread = dict.fromkeys(("subject", "subject-config", "registry-config"), reason)
    return replace(live, not_checked={**live.not_checked, **unread})


USERS_NOT_CHECKED = "user"


def read_users(
    cluster: Cluster, *, tolerant: bool = False
) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Every SCRAM user, in one DescribeUserScramCredentials request. ``tolerant`` (drift,
    import): a refusal is recorded as not checked instead of raised."""
    try:
        return cluster.describe_user_scram_credentials(), {}
    except ClusterError as error:
        if not tolerant or isinstance(error, ClusterUnreachable | AuthenticationFailed):
            raise
        return {}, {USERS_NOT_CHECKED: _reason(error)}


def _with_groups(live: LiveState, read: GroupRead) -> LiveState:
    if read.features is None and not read.groups and not read.unread:
        return live
    unread = {f"group.{group_id}": f"not checked: {why}" for group_id, why in read.unread.items()}
    return replace(
        live,
        groups=read.groups,
        features=read.features,
        not_checked={**live.not_checked, **unread},
    )


def managed_subjects(desired: DesiredState) -> set[str]:
    """The subjects the specs declare, and those their schemas refer to."""
    names = set(desired.subjects)
    for subject in desired.subjects.values():
        names.update(ref.subject for ref in subject.references)
    return names


def read_addresses(
    cluster: Cluster, addresses: Collection[str], registry: Registry | None = None
) -> LiveState:
    """The live state of the given resource addresses (to check a saved plan against)."""
    names = {address.partition(".")[2] for address in addresses if address.startswith("topic.")}
    brokers = [int(a.partition(".")[2]) for a in addresses if a.startswith("broker.")]
    live = _read(
        cluster,
        lambda live: [n for n in names if n in live],
        None,
        acls=any(address.startswith("acl.") for address in addresses),
        throttled_brokers=brokers,
        quotas=any(address.startswith("quota.") for address in addresses),
    )
    if any(address.startswith("user.") for address in addresses):
        live = replace(live, users=cluster.describe_user_scram_credentials())
    group_ids = sorted(
        a.partition(".")[2] for a in addresses if a.startswith(f"{ResourceKind.GROUP.value}.")
    )
    if group_ids:
        described = cluster.describe_group_configs(group_ids)
        groups = {}
        for group_id, result in described.items():
            if isinstance(result, ClusterError):
                raise result
            groups[group_id] = result
        live = replace(live, groups=groups)
    if registry is None:
        return live
    subjects = [
        a.partition(".")[2] for a in addresses if a.startswith(("subject.", "subject-config."))
    ]
    found, live_registry = read_registry(registry, subjects)
    return replace(live, subjects=found, registry=live_registry)


def read_selected(
    cluster: Cluster, select: Callable[[str], bool], *, config_keys: Collection[str] | None = None
) -> LiveState:
    """The live state with the configs of every live topic ``select`` accepts (for import):
    every config, or with ``config_keys`` those keys and each topic's overrides."""
    return _read(
        cluster,
        lambda live: [n for n in live if select(n)],
        None,
        acls=False,
        config_keys=config_keys,
    )


def _read(
    cluster: Cluster,
    configs_for: Callable[[Collection[str]], list[str]],
    deletion_candidates: Callable[[Collection[str]], list[str]] | None,
    *,
    acls: bool,
    probe: list[str] | None = None,
    tolerant: bool = False,
    throttled_brokers: list[int] | None = None,
    quotas: bool = False,
    replication: Mapping[str, int] | None = None,
    early: EarlyRead | None = None,
    config_keys: Collection[str] | None = None,
) -> LiveState:
    """``probe``: declared topics; those absent from the metadata are asked for by name, so
    that a topic the principal may not see is never taken for one that does not exist.
    ``tolerant`` (drift): what cannot be read is reported in ``not_checked``; otherwise
    (plan) it is an error. ``replication``: the declared replication factor of each
    topic; with it, reassignments are listed only where one may be in progress or matters
    (``_may_reassign``), otherwise always. ``early``: the reads started before
    (``EarlyRead``): the metadata's, and the configs' of the topics it asked for with
    these ``config_keys``. ``config_keys``: the topic config keys the specs declare; only
    those and each topic's overrides are kept (what a plan compares), otherwise every
    config."""
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="kafkaplan-read") as pool:
        # Independent of the metadata and the configs: overlap the round trips.
        acls_read = pool.submit(cluster.describe_acls) if acls else None
        quotas_read = pool.submit(cluster.describe_quotas) if quotas else None
        info, metadata = (early or cluster.describe)()
        doomed = deletion_candidates(metadata.keys()) if deletion_candidates else []
        described = sorted({*configs_for(metadata.keys()), *doomed})
        listing = (
            pool.submit(_list_reassignments, cluster)
            if replication is None or _may_reassign(metadata, replication)
            else None
        )
        asked, prefetched = (
            early.prefetched(config_keys)
            if early is not None and config_keys is not None
            else (frozenset(), None)
        )
        rest = [name for name in described if name not in asked]
        rest_read = pool.submit(cluster.describe_topic_configs, rest, config_keys) if rest else None
        wanted = set(described)
        described_configs: TopicConfigs = (
            {n: c for n, c in prefetched.result().items() if n in wanted} if prefetched else {}
        )
        if rest_read is not None:
            described_configs.update(rest_read.result())
        messages = (
            cluster.topic_message_counts({n: metadata[n].partitions for n in doomed})
            if doomed
            else {}
        )
        if listing is None and any(
            (config := result.get(key)) is not None and config.is_override
            for result in described_configs.values()
            if not isinstance(result, ClusterError)
            for key in TOPIC_THROTTLE_CONFIGS
        ):
            # Leftover throttles: the plan removes them unless a reassignment still runs.
            listing = pool.submit(_list_reassignments, cluster)
        reassignments, known = listing.result() if listing is not None else ({}, True)
    not_checked: dict[str, str] = {}
    configs: dict[str, dict[str, LiveConfig]] = {}
    for name, result in described_configs.items():
        if isinstance(result, ClusterError):
            if not tolerant:
                raise result
            not_checked[f"topic.{name}"] = _reason(result)
        else:
            configs[name] = result
    if probe is not None:
        absent = [n for n in probe if n not in metadata]
        hidden = {
            n: error
            for n, error in (cluster.probe_topics(absent) if absent else {}).items()
            if error is not None
        }
        if hidden and not tolerant:
            raise _unreadable_topics(hidden)
        not_checked.update({f"topic.{n}": _reason(error) for n, error in hidden.items()})
    bindings: Iterable[Binding] = ()
    unreadable: Iterable[str] = ()
    if acls_read is not None:
        try:
            bindings, unreadable = acls_read.result()
        except ClusterError as error:
            if not tolerant:
                raise
            not_checked[ACLS_NOT_CHECKED] = _reason(error)
    live_quotas: Mapping[QuotaEntity, Mapping[str, float]] = {}
    if quotas_read is not None:
        try:
            live_quotas = quotas_read.result()
        except ClusterError as error:
            if not tolerant:
                raise
            not_checked[QUOTAS_NOT_CHECKED] = _reason(error)
    by_topic: dict[str, dict[int, PartitionReassignment]] = {}
    for (topic, partition), reassignment in reassignments.items():
        by_topic.setdefault(topic, {})[partition] = reassignment
    topics = {
        name: LiveTopic(
            name=name,
            partitions=meta.partitions,
            replication_factor=_replication(meta.replicas, by_topic.get(name))
            or meta.replication_factor,
            configs=configs.get(name, {}),
            messages=messages.get(name),
            replicas=meta.replicas,
            leaders=meta.leaders,
            reassigning=by_topic.get(name, {}),
        )
        for name, meta in metadata.items()
        if f"topic.{name}" not in not_checked
    }
    if throttled_brokers is None:
        # Leftover broker throttle rates matter only where a managed topic shows that a
        # reassignment ran (or runs): read them then.
        busy = any(
            topics[name].reassigning or topics[name].throttles()
            for name in configs
            if name in topics
        )
        throttled_brokers = sorted(info.racks or range(1, info.broker_count + 1)) if busy else []
    broker_throttles = (
        cluster.describe_broker_throttles(throttled_brokers) if throttled_brokers else {}
    )
    return LiveState(
        cluster_id=info.cluster_id,
        broker_count=info.broker_count,
        topics=topics,
        not_checked=not_checked,
        acls=frozenset(bindings),
        unreadable_acls=tuple(unreadable),
        brokers=dict(info.racks),
        reassignments=reassignments,
        reassignments_known=known,
        broker_throttles={b: t for b, t in broker_throttles.items() if t},
        quotas=live_quotas,
    )


def _unreadable_topics(hidden: dict[str, ClusterError]) -> ClusterError:
    """Declared topics the principal may not see: a plan cannot tell whether they exist, so
    it must not propose to create them."""
    names = sorted(hidden)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    first = hidden[names[0]]
    error = type(first) if isinstance(first, PermissionDenied) else ClusterError
    return error(
        f"cannot read {len(names)} declared topic(s): {shown} ({first.message}); the plan "
        "cannot tell whether they exist",
        resource=topic_address(names[0]),
        hint="grant the principal that plans DESCRIBE and DESCRIBE_CONFIGS on these topics "
        "(docs/permissions.md)",
    )


def _reason(error: ClusterError) -> str:
    return f"not checked: {error.message}" + (f" ({error.hint})" if error.hint else "")


def read_registry(
    registry: Registry,
    names: Collection[str],
    owned_prefixes: Sequence[str] = (),
    desired: DesiredState | None = None,
    *,
    version_lists: bool = True,
) -> tuple[dict[str, LiveSubject], LiveRegistry]:
    """Every subject in ``names`` (and in the owned prefixes) with its latest version, its
    versions and its subject-level compatibility, concurrently.

    With ``desired``, only what its plan compares is read: the registry's API has no bulk
    read, so every request per subject counts. A subject the specs declare costs one
    request (its latest version) when its schema is unchanged; its compatibility is read
    too when the specs set one or when a new version will be registered (and checked at
    that level), and its version list when a reference pins one of its versions. Subjects
    only found in the owned prefixes (deletion candidates) are read in full.

    ``version_lists`` false: no version lists at all (``LiveSubject.versions`` holds only the
    latest), one request less per subject for a reader that needs none (import)."""
    full = set(names) if desired is None else set(names) - set(desired.subjects)
    levels_wanted = set() if desired is None else _levels_to_read(desired)
    versions_wanted = set() if desired is None else _versions_to_read(desired)
    ask = UntilUnreachable()

    def submit(
        pool: ThreadPoolExecutor, name: str, *, versions: bool, level: bool
    ) -> tuple[
        Future[RegisteredSchema | None], Future[list[int]] | None, Future[str | None] | None
    ]:
        return (
            pool.submit(ask, subject_address(name), registry.latest, name),
            pool.submit(ask, subject_address(name), registry.versions, name) if versions else None,
            pool.submit(ask, subject_address(name), registry.subject_compatibility, name)
            if level
            else None,
        )

    with ThreadPoolExecutor(max_workers=REGISTRY_WORKERS) as pool:
        listing = (
            pool.submit(ask, "registry", registry.list_subjects, owned_prefixes)
            if owned_prefixes
            else None
        )
        global_level = pool.submit(ask, "registry-config.global", registry.global_compatibility)
        reads = {
            name: submit(
                pool,
                name,
                versions=version_lists and (name in full or name in versions_wanted),
                level=name in full or name in levels_wanted,
            )
            for name in sorted(names)
        }
        # Results in name order: the first failure is reported, naming its subject.
        latest = {name: futures[0].result() for name, futures in reads.items()}
        owned = listing.result() if listing is not None else []
        extra = {
            name: submit(pool, name, versions=version_lists, level=True)
            for name in sorted(set(owned) - set(reads))
        }
        latest.update({name: futures[0].result() for name, futures in extra.items()})
        reads.update(extra)
        if desired is not None:
            # A new version will be registered: the level it is checked at is needed.
            later = {
                name: pool.submit(ask, subject_address(name), registry.subject_compatibility, name)
                for name, want in sorted(desired.subjects.items())
                if reads[name][2] is None and _registers(want, latest[name])
            }
            reads.update({name: (*reads[name][:2], future) for name, future in later.items()})
        versions = {n: f[1].result() for n, f in sorted(reads.items()) if f[1] is not None}
        levels = {n: f[2].result() for n, f in sorted(reads.items()) if f[2] is not None}
        level = global_level.result()
    subjects: dict[str, LiveSubject] = {}
    for name, schema in latest.items():
        if schema is None:
            continue
        subjects[name] = LiveSubject(
            name=name,
            version=schema.version,
            schema_id=schema.schema_id,
            schema_type=schema.schema_type,
            schema=schema.schema,
            references=tuple(
                LiveReference(r.name, r.subject, r.version) for r in schema.references
            ),
            versions=tuple(versions.get(name, ())) or (schema.version,),
        )
    return subjects, LiveRegistry(
        global_compatibility=level,
        # Apicurio reports the global level for a subject without its own: a level equal to
        # the global one is taken as "none set" (docs/schemas.md).
        subject_compatibility={
            name: None if subject_level == level else subject_level
            for name, subject_level in levels.items()
        },
        owned_subjects=tuple(owned),
    )


def _levels_to_read(desired: DesiredState) -> set[str]:
    return {name for name, want in desired.subjects.items() if want.compatibility is not None}


def _versions_to_read(desired: DesiredState) -> set[str]:
    """Subjects a reference pins a version of (the plan checks that the version exists)."""
    return {
        ref.subject
        for want in desired.subjects.values()
        for ref in want.references
        if ref.version is not None
    }


def _registers(want: DesiredSubject, have: RegisteredSchema | None) -> bool:
    """Will the plan register a new version of ``want``? Errs towards yes: subjects with
    references count as changing (their references are resolved by the diff)."""
    if have is None or have.references or want.references:
        return True
    return not same_schema(want, have.schema_type, have.schema)


def _may_reassign(metadata: Mapping[str, TopicMetadata], replication: Mapping[str, int]) -> bool:
    """Whether the plan needs the list of partition reassignments: some partition has a
    replica out of sync (as every partition being reassigned has), or a declared topic has
    partitions of another replication factor (the plan changes its replicas). Listing them
    takes a second client (kafka-python's) and its connection: most plans never need it."""
    return any(meta.out_of_sync for meta in metadata.values()) or any(
        len(replicas) != factor
        for name, factor in replication.items()
        if name in metadata
        for replicas in metadata[name].replicas
    )


def _list_reassignments(cluster: Cluster) -> tuple[dict[Partition, PartitionReassignment], bool]:
    """Reassignments in progress, and whether they could be listed at all: listing needs
    DESCRIBE on the cluster, which a read-only planning principal may lack (and a second
    client, kafka-python's, which may fail where confluent-kafka connects). Not knowing
    only matters for replica changes, where the plan then says so."""
    try:
        return cluster.list_reassignments(), True
    except ClusterError as exc:
        log.info("could not list partition reassignments: %s", exc)
        return {}, False


def _replication(
    replicas: tuple[tuple[int, ...], ...], reassigning: dict[int, PartitionReassignment] | None
) -> int:
    """The replication factor, counting a partition being reassigned at its target size."""
    if not reassigning:
        return max((len(r) for r in replicas), default=0)
    return max(
        (
            len(reassigning[p].target) if p in reassigning else len(r)
            for p, r in enumerate(replicas)
        ),
        default=0,
    )


def read_usage(
    cluster: Cluster,
    topics: Mapping[str, int],
    *,
    now_ms: int,
    window_ms: int,
    cuts: Mapping[str, int] | None = None,
    deleted: Collection[str] = (),
    watched: Collection[str] = (),
    acls: bool = False,
    leaders: Mapping[str, Sequence[int]] | None = None,
) -> LiveUsage:
    """Who uses the changed ``topics`` (name -> partition count) and where their partitions
    stand, for the plan's blast radius: one list-groups request, one offset fetch per group
    (librdkafka takes one group per request; all are sent at once), batched describe-groups,
    and one list-offsets submission per question (log ends; log starts and, per new
    retention ``cuts`` (topic -> retention ms), the offsets at ``now - retention``; for
    ``deleted`` and ``watched`` topics the offsets at ``now - window``). ``acls``: the live bindings are
    read too (the plan did not need them). Groups the principal may not list or describe
    leave ``groups_unread`` set instead of failing the plan. For the ``deleted`` topics and the
    retention ``cuts``, the partitions' sizes on disk are read (one DescribeLogDirs request
    per broker); the leader's replica counts (``leaders``: topic -> leader per partition)."""
    cuts = cuts or {}
    partitions = {name: [(name, p) for p in range(count)] for name, count in topics.items()}
    every = [tp for tps in partitions.values() for tp in tps]
    cut_tps = [tp for name in cuts if name in partitions for tp in partitions[name]]
    by_time: dict[int, list[Partition]] = {}
    for name, retention in cuts.items():
        by_time.setdefault(now_ms - retention, []).extend(partitions.get(name, []))
    doomed = [tp for name in deleted if name in partitions for tp in partitions[name]]
    sized = [*cut_tps, *(tp for tp in doomed if tp[0] not in cuts)]
    # Topics whose last grant to a principal the plan removes: written within the window?
    doomed += [
        tp
        for name in sorted(set(watched) - set(deleted))
        if name in partitions
        for tp in partitions[name]
    ]
    # Independent questions: sent at once, answered together.
    with ThreadPoolExecutor(max_workers=6, thread_name_prefix="kafkaplan-usage") as pool:
        acls_read = pool.submit(cluster.describe_acls) if acls else None
        groups_read = pool.submit(_read_groups, cluster, set(topics))
        asked: list[tuple[str, Future[dict[Partition, int]]]] = []
        if every:
            asked.append(("end", pool.submit(cluster.list_offsets, every, "latest")))
        if cut_tps:
            asked.append(("start", pool.submit(cluster.list_offsets, cut_tps, "earliest")))
        for at, tps in sorted(by_time.items()):
            if tps:
                asked.append(("cut", pool.submit(cluster.list_offsets, tps, at)))
        if doomed:
            asked.append(("recent", pool.submit(cluster.list_offsets, doomed, now_ms - window_ms)))
        sizes_read = pool.submit(cluster.describe_log_dirs, sized) if sized else None
        answers: dict[str, dict[Partition, int]] = {
            "end": {},
            "start": {},
            "cut": {},
            "recent": {},
        }
        for label, future in asked:
            answers[label].update(future.result())
        end, start, cut, recent = (answers[k] for k in ("end", "start", "cut", "recent"))
        uses, groups, unread = groups_read.result()
        sizes, sizes_unread = _leader_sizes(sizes_read, leaders or {})
        live_acls: frozenset[Binding] | None = None
        if acls_read is not None:
            try:
                live_acls = frozenset(acls_read.result()[0])
            except ClusterError as error:
                log.info("blast radius without the live ACLs: %s", error)
    return LiveUsage(
        topics={
            name: TopicUsage(
                groups=tuple(uses.get(name, ())),
                start={p: start[tp] for tp in tps if tp in start for p in [tp[1]]},
                end={p: end[tp] for tp in tps if tp in end for p in [tp[1]]},
                cut={p: cut[tp] for tp in tps if tp in cut for p in [tp[1]]},
                cut_ms=now_ms - cuts[name] if name in cuts else None,
                recent={p: recent[tp] for tp in tps if tp in recent for p in [tp[1]]},
                sizes={p: sizes[tp] for tp in tps if tp in sizes for p in [tp[1]]},
            )
            for name, tps in partitions.items()
        },
        read_at_ms=now_ms,
        window_ms=window_ms,
        groups_unread=unread,
        acls=live_acls,
        groups=groups,
        sizes_unread=sizes_unread,
    )


def _leader_sizes(
    asked: Future[dict[Partition, dict[int, int]]] | None, leaders: Mapping[str, Sequence[int]]
) -> tuple[dict[Partition, int], str | None]:
    """Per partition, the bytes of its leader's replica (of the largest replica when the leader
    is unknown or did not answer); why they could not be read."""
    if asked is None:
        return {}, None
    try:
        answered = asked.result()
    except ClusterError as error:
        log.info("blast radius without the partitions' sizes: %s", error)
        return {}, _reason(error)
    sizes = {}
    for (topic, partition), replicas in answered.items():
        known = leaders.get(topic, ())
        leader = known[partition] if partition < len(known) else -1
        sizes[(topic, partition)] = replicas.get(leader, max(replicas.values(), default=0))
    return sizes, None


def _read_groups(
    cluster: Cluster, topics: set[str]
) -> tuple[dict[str, list[GroupUse]], dict[str, GroupUse], str | None]:
    """Per topic, the groups with committed offsets on it or live members assigned to it;
    every group by id (its state and members)."""
    try:
        group_ids = cluster.list_consumer_groups()
        if not group_ids:
            return {}, {}, None
        offsets = cluster.list_group_offsets(group_ids)
        described = cluster.describe_consumer_groups(group_ids)
    except PermissionDenied as error:
        return {}, {}, _reason(error)
    every: dict[str, GroupUse] = {}
    uses: dict[str, list[GroupUse]] = {}
    for group_id in group_ids:
        group = described.get(group_id)
        committed: dict[str, dict[int, int]] = {}
        for (topic, partition), offset in offsets.get(group_id, {}).items():
            if topic in topics:
                committed.setdefault(topic, {})[partition] = offset
        members = group.members if group is not None else ()
        every[group_id] = GroupUse(
            group_id=group_id,
            state=group.state if group is not None else "UNKNOWN",
            members=tuple(sorted(_member_name(m) for m in members)),
        )
        assigned: dict[str, list[str]] = {}
        for member in members:
            for topic in sorted({t for t, _ in member.assigned if t in topics}):
                assigned.setdefault(topic, []).append(_member_name(member))
        for topic in sorted({*committed, *assigned}):
            uses.setdefault(topic, []).append(
                GroupUse(
                    group_id=group_id,
                    state=group.state if group is not None else "UNKNOWN",
                    members=tuple(sorted(_member_name(m) for m in members)),
                    assigned=tuple(sorted(assigned.get(topic, []))),
                    committed=committed.get(topic, {}),
                )
            )
    return uses, every, None


def _member_name(member: GroupMember) -> str:
    return f"{member.client_id or member.member_id}@{member.host.lstrip('/')}"
