"""Read the live state of everything the specs manage, in as few requests as possible.

One metadata request lists every topic (with partitions and replication); one batched
describe-configs submission reads the configs of the managed topics that exist (and of the
topics that may be deleted); one list-offsets submission counts the messages of the topics
that may be deleted. Other topics are listed, but nothing more is read about them. When
the project manages ACLs, one describe-ACLs request with an any-filter reads every binding.

Plans need everything they compare, so a read error fails them. Drift reads tolerantly:
what it may not read is recorded in ``LiveState.not_checked`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from kafkaplan.acls import Binding
from kafkaplan.cluster import Cluster
from kafkaplan.errors import ClusterError
from kafkaplan.state import DesiredState, LiveConfig, LiveState, LiveTopic

ACLS_NOT_CHECKED = "acl"


def read_live(cluster: Cluster, desired: DesiredState, *, tolerant: bool = False) -> LiveState:
    """The live state a plan (or, with ``tolerant``, a drift report) for ``desired`` needs."""
    return _read(
        cluster,
        lambda live: [n for n in desired.topics if n in live],
        desired.deletion_candidates,
        acls=desired.acls.managed,
        probe=list(desired.topics) if tolerant else None,
    )


def read_addresses(cluster: Cluster, addresses: Collection[str]) -> LiveState:
    """The live state of the given resource addresses (to check a saved plan against)."""
    names = {address.partition(".")[2] for address in addresses if address.startswith("topic.")}
    return _read(
        cluster,
        lambda live: [n for n in names if n in live],
        None,
        acls=any(address.startswith("acl.") for address in addresses),
    )


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
) -> LiveState:
    info, metadata = cluster.describe()
    doomed = deletion_candidates(metadata.keys()) if deletion_candidates else []
    described = sorted({*configs_for(metadata.keys()), *doomed})
    not_checked: dict[str, str] = {}
    configs: dict[str, dict[str, LiveConfig]] = {}
    for name, result in (cluster.describe_topic_configs(described) if described else {}).items():
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
    messages = (
        cluster.topic_message_counts({n: metadata[n].partitions for n in doomed}) if doomed else {}
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
    topics = {
        name: LiveTopic(
            name=name,
            partitions=meta.partitions,
            replication_factor=meta.replication_factor,
            configs=configs.get(name, {}),
            messages=messages.get(name),
        )
        for name, meta in metadata.items()
        if f"topic.{name}" not in not_checked
    }
    return LiveState(
        cluster_id=info.cluster_id,
        broker_count=info.broker_count,
        topics=topics,
        not_checked=not_checked,
        acls=frozenset(bindings),
        unreadable_acls=tuple(unreadable),
    )


def _reason(error: ClusterError) -> str:
    return f"not checked: {error.message}" + (f" ({error.hint})" if error.hint else "")
