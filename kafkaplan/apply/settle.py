"""After an apply: wait until the cluster reports what was done.

CreateTopics, DeleteTopics, CreateAcls and DeleteAcls are answered once the KRaft controller
has committed the change. A broker answers Metadata and DescribeAcls from its metadata
image, which applies the change a little later: milliseconds usually, seconds after
thousands of changes on a busy broker (measured on Kafka 4.1). An apply that returned at
once could be followed by a plan that still shows part of the work as missing, or by a
client that is still refused. So apply waits, bounded, until the cluster reports the topics
and ACL bindings it created and deleted; what it does not report by then is named in a
warning, never an error (the controller acknowledged the change).

Config changes and registry writes are not awaited: the registry is read-your-writes, and
a config change is in effect for every later DescribeConfigs once its broker applied it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafkaplan.apply.runner import ApplyReport, Status, binding_of
from kafkaplan.errors import ClusterError
from kafkaplan.kinds import ResourceKind, topic_address
from kafkaplan.live.cluster import Cluster
from kafkaplan.plan.model import Action, Plan
from kafkaplan.spec.acls import Binding, acl_address

# Polls start quickly (the usual lag is milliseconds) and back off to this interval.
MAX_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class Expected:
    """What the cluster should report once the apply's acknowledged changes are applied."""

    topics: dict[str, bool]  # name -> should exist
    acls: dict[Binding, bool]  # binding -> should exist

    def __bool__(self) -> bool:
        return bool(self.topics or self.acls)

    def addresses(self) -> list[str]:
        return sorted([*map(topic_address, self.topics), *map(acl_address, self.acls)])


def expected(plan: Plan, report: ApplyReport) -> Expected:
    done = {o.address for o in report.outcomes if o.status is Status.DONE}
    topics: dict[str, bool] = {}
    acls: dict[Binding, bool] = {}
    for change in plan.changes:
        if change.address not in done:
            continue
        exists = change.action is not Action.DELETE
        if change.kind is ResourceKind.TOPIC and (
            change.action is Action.CREATE or change.action is Action.DELETE
        ):
            topics[change.name] = exists
        elif change.kind is ResourceKind.ACL:
            acls[binding_of(change)] = exists
    return Expected(topics, acls)


def outstanding(cluster: Cluster, want: Expected) -> Expected:
    """The part of ``want`` the cluster does not report yet (reading only what that needs:
    no metadata request once every topic change shows, no ACL request once every binding
    does)."""
    topics: dict[str, bool] = {}
    acls: dict[Binding, bool] = {}
    if want.topics:
        _, metadata = cluster.describe()
        topics = {name: ok for name, ok in want.topics.items() if (name in metadata) != ok}
    if want.acls:
        live = set(cluster.describe_acls()[0])
        acls = {binding: ok for binding, ok in want.acls.items() if (binding in live) != ok}
    return Expected(topics, acls)


def settle(
    cluster: Cluster,
    plan: Plan,
    report: ApplyReport,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """Wait up to ``timeout`` seconds until the cluster reports the apply's created and
    deleted topics and ACL bindings; return the addresses it still does not report (as
    last read, if the cluster stopped answering)."""
    want = expected(plan, report)
    if not want or report.interrupted:
        return []
    deadline = clock() + timeout
    interval = 0.05
    while True:
        try:
            want = outstanding(cluster, want)
        except ClusterError:
            return want.addresses()  # as last known: the apply's own errors were reported
        if not want or clock() >= deadline:
            return want.addresses()
        sleep(min(interval, max(0.0, deadline - clock())))
        interval = min(interval * 2, MAX_INTERVAL_SECONDS)
