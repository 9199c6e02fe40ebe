"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replication); one batched
describe-configs submission reads the configs of the managed topics that exist. Topics
outside the specs are listed but their configs are not read.

Subjects: only the managed ones (and the ones they refer to, and those in the project's
owned prefixes) are read, each with its latest version, its versions and its subject-level
compatibility, concurrently over a thread pool; the registry's subject list is only read
for the owned prefixes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from kafkaplan.cluster import Cluster
from kafkaplan.registry import RegisteredSchema, Registry
from kafkaplan.state import LiveReference, LiveRegistry, LiveState, LiveSubject, LiveTopic

REGISTRY_WORKERS = 8


def read_live(
    cluster: Cluster,
    managed_topics: Collection[str],
    registry: Registry | None = None,
    managed_subjects: Collection[str] = (),
    owned_prefixes: Sequence[str] = (),
) -> LiveState:
    """Live state, with configs read for the managed topics that exist, and (given a
    registry) the managed subjects."""
    info, metadata = cluster.describe()
    managed = [name for name in managed_topics if name in metadata]
    configs = cluster.describe_topic_configs(managed) if managed else {}
    topics = {
        name: LiveTopic(
            name=name,
            partitions=meta.partitions,
            replication_factor=meta.replication_factor,
            configs=configs.get(name, {}),
        )
        for name, meta in metadata.items()
    }
    subjects: dict[str, LiveSubject] = {}
    live_registry = None
    if registry is not None:
        subjects, live_registry = read_registry(registry, managed_subjects, owned_prefixes)
    return LiveState(
        cluster_id=info.cluster_id,
        broker_count=info.broker_count,
        topics=topics,
        subjects=subjects,
        registry=live_registry,
    )


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
