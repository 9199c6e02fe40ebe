"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replicas) and one
describe-cluster request the brokers' racks; one batched describe-configs submission reads
the configs of the managed topics that exist (and of the topics that may be deleted); one
list-offsets submission counts the messages of the topics that may be deleted; one
list-partition-reassignments request, sent while the configs are read, finds reassignments
in progress. Other topics are listed, but nothing more is read about them. Only when a
managed topic is being reassigned or carries leftover replication throttles are the
brokers' throttle rates read as well. When the project manages ACLs, one describe-ACLs
request with an any-filter reads every binding.

Subjects: only the managed ones (and the ones they refer to, and those in the project's
owned prefixes) are read, each with its latest version, its versions and its subject-level
compatibility, concurrently over a thread pool; the registry's subject list is only read
for the owned prefixes.

Plans need everything they compare, so a read error fails them. Drift reads tolerantly:
what it may not read is recorded in ``LiveState.not_checked`` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from kafkaplan.acls import Binding
from kafkaplan.cluster import Cluster, Partition
from kafkaplan.errors import ClusterError, RegistryError
from kafkaplan.registry import RegisteredSchema, Registry
from kafkaplan.state import (
    DesiredState,
    LiveConfig,
    LiveReference,
    LiveRegistry,
    LiveState,
    LiveSubject,
    LiveTopic,
    PartitionReassignment,
)

log = logging.getLogger("kafkaplan.read")

ACLS_NOT_CHECKED = "acl"
REGISTRY_WORKERS = 8


def read_live(
    cluster: Cluster,
    desired: DesiredState,
    registry: Registry | None = None,
    *,
    tolerant: bool = False,
) -> LiveState:
    """The live state a plan (or, with ``tolerant``, a drift report) for ``desired`` needs.
    The registry is read only if the specs use it, while the cluster is being read."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkaplan-registry") as pool:
        registry_read = None
        if registry is not None and desired.uses_registry:
            registry_read = pool.submit(
                read_registry, registry, managed_subjects(desired), desired.registry.owned_prefixes
            )
        live = _read(
            cluster,
            lambda live: [n for n in desired.topics if n in live],
            desired.deletion_candidates,
            acls=desired.acls.managed,
            probe=list(desired.topics) if tolerant else None,
        )
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
    )
    if registry is None:
        return live
    subjects = [
        a.partition(".")[2] for a in addresses if a.startswith(("subject.", "subject-config."))
    ]
    found, live_registry = read_registry(registry, subjects)
    return replace(live, subjects=found, registry=live_registry)


def read_selected(
    cluster: Cluster, select: Callable[[str], bool], *, acls: bool = False
) -> LiveState:
    """The live state with the configs of every live topic ``select`` accepts (for import)."""
    return _read(cluster, lambda live: [n for n in live if select(n)], None, acls=acls)


def _read(
    cluster: Cluster,
    configs_for: Callable[[Collection[str]], list[str]],
    deletion_candidates: Callable[[Collection[str]], list[str]] | None,
    *,
    acls: bool,
    probe: list[str] | None = None,
    throttled_brokers: list[int] | None = None,
) -> LiveState:
    info, metadata = cluster.describe()
    doomed = deletion_candidates(metadata.keys()) if deletion_candidates else []
    described = sorted({*configs_for(metadata.keys()), *doomed})
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkaplan-read") as pool:
        # Independent of the configs: overlap the round trips.
        listing = pool.submit(_list_reassignments, cluster)
        described_configs = cluster.describe_topic_configs(described) if described else {}
        messages = (
            cluster.topic_message_counts({n: metadata[n].partitions for n in doomed})
            if doomed
            else {}
        )
        reassignments, known = listing.result()
    not_checked: dict[str, str] = {}
    configs: dict[str, dict[str, LiveConfig]] = {}
    for name, result in described_configs.items():
        if isinstance(result, ClusterError):
            if probe is None:
                raise result
            not_checked[f"topic.{name}"] = _reason(result)
        else:
            configs[name] = result
    if probe is not None:
        hidden = cluster.probe_topics([n for n in probe if n not in metadata])
        not_checked.update(
            {f"topic.{n}": _reason(error) for n, error in hidden.items() if error is not None}
        )
    bindings: Iterable[Binding] = ()
    unreadable: Iterable[str] = ()
    if acls:
        try:
            bindings, unreadable = cluster.describe_acls()
        except ClusterError as error:
            if probe is None:
                raise
            not_checked[ACLS_NOT_CHECKED] = _reason(error)
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
    )


def _reason(error: ClusterError) -> str:
    return f"not checked: {error.message}" + (f" ({error.hint})" if error.hint else "")


def read_registry(
    registry: Registry, managed_subjects: Collection[str], owned_prefixes: Sequence[str] = ()
) -> tuple[dict[str, LiveSubject], LiveRegistry]:
    Reads = tuple[Future[RegisteredSchema | None], Future[list[int]], Future[str | None]]

    def read(pool: ThreadPoolExecutor, names: Collection[str]) -> dict[str, Reads]:
        return {
            name: (
                pool.submit(registry.latest, name),
                pool.submit(registry.versions, name),
                pool.submit(registry.subject_compatibility, name),
            )
            for name in sorted(names)
        }

    with ThreadPoolExecutor(max_workers=REGISTRY_WORKERS) as pool:
        listing = pool.submit(registry.list_subjects, owned_prefixes) if owned_prefixes else None
        reads = read(pool, set(managed_subjects))
        global_level = pool.submit(registry.global_compatibility)
        # Results in name order: the first failure is reported, naming its subject.
        results = {name: tuple(f.result() for f in futures) for name, futures in reads.items()}
        owned = listing.result() if listing is not None else []
        more = read(pool, set(owned) - set(reads))
        results.update({name: tuple(f.result() for f in futures) for name, futures in more.items()})
        level = global_level.result()
    subjects: dict[str, LiveSubject] = {}
    subject_levels: dict[str, str | None] = {}
    for name, (latest, versions, subject_level) in results.items():
        assert latest is None or isinstance(latest, RegisteredSchema)
        assert isinstance(versions, list)
        assert subject_level is None or isinstance(subject_level, str)
        # Apicurio reports the global level for a subject without its own: a level equal to
        # the global one is taken as "none set" (docs/schemas.md).
        subject_levels[name] = None if subject_level == level else subject_level
        if latest is None:
            continue
        subjects[name] = LiveSubject(
            name=name,
            version=latest.version,
            schema_id=latest.schema_id,
            schema_type=latest.schema_type,
            schema=latest.schema,
            references=tuple(
                LiveReference(r.name, r.subject, r.version) for r in latest.references
            ),
            versions=tuple(versions) or (latest.version,),
        )
    return subjects, LiveRegistry(
        global_compatibility=level,
        subject_compatibility=subject_levels,
        owned_subjects=tuple(owned),
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
