"""After an apply: wait until the cluster reports what was done.

CreateTopics, DeleteTopics, CreateAcls and DeleteAcls are answered once the KRaft controller
has committed the change. A broker answers Metadata and DescribeAcls from its metadata
image, which applies the change a little later: milliseconds usually, seconds after
thousands of changes on a busy broker (measured on Kafka 4.1). Topic config changes are the
same: IncrementalAlterConfigs is committed by the controller, and DescribeConfigs answers
from the broker's image (a plan right after an apply was seen reading the old value, on
Kafka 3.9 and 4.1). An apply that returned at once could be followed by a plan that still
shows part of the work as missing or unchanged, or by a client that is still refused. So
apply waits, bounded, until the cluster reports the topics, ACL bindings and topic configs
it created, changed and deleted, the group configs it changed (DescribeConfigs of the GROUP
resource is answered the same way) and the client quotas it set and removed
(DescribeClientQuotas answers from the broker's image too); what it does not report by then
is named in a warning, never an error (the controller acknowledged the change).

SCRAM credential changes likewise: apply waits until DescribeUserScramCredentials shows each
user's mechanisms and iterations as planned (a password change itself cannot be seen).

Registry writes are not awaited: the registry is read-your-writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from msgspec import Struct, field

from kafkaplan.apply.runner import ApplyReport, Status, binding_of, quota_changes
from kafkaplan.errors import ClusterError
from kafkaplan.kinds import ResourceKind, group_address, topic_address, user_address
from kafkaplan.live.cluster import Cluster
from kafkaplan.live.state import LiveConfig
from kafkaplan.plan.model import Action, AlterGroupConfigs, Plan, SetScramCredentials, UpdateTopic
from kafkaplan.plan.quotas import same_value
from kafkaplan.spec.acls import Binding, acl_address
from kafkaplan.spec.quotas import QuotaEntity, quota_address
from kafkaplan.spec.topic_configs import values_equal

# Polls start quickly (the usual lag is milliseconds) and back off to this interval.
MAX_INTERVAL_SECONDS = 0.5
# Outstanding ACL bindings up to this many are asked for one by one (exact filters); more
# are read with every other binding, once the last of them shows (see _outstanding_acls).
EXACT_ACL_READS = 50


class Expected(Struct, frozen=True):
    """What the cluster should report once the apply's acknowledged changes are applied."""

    topics: dict[str, bool]  # name -> should exist
    acls: dict[Binding, bool]  # binding -> should exist
    # topic -> config -> the value it should have as a topic override (None: no override)
    configs: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # SCRAM user -> mechanism -> iterations it should show (None: the credential is gone)
    users: dict[str, dict[str, int | None]] = field(default_factory=dict)
    # group id -> config -> the value the group should have as its own (None: none)
    groups: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # quota entity -> key -> the value it should have (None: not set)
    quotas: dict[QuotaEntity, dict[str, float | None]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.topics or self.acls or self.configs or self.users or self.groups or self.quotas
        )

    def addresses(self) -> list[str]:
        return sorted(
            {
                *map(topic_address, self.topics),
                *map(acl_address, self.acls),
                *map(topic_address, self.configs),
                *map(user_address, self.users),
                *map(group_address, self.groups),
                *map(quota_address, self.quotas),
            }
        )


def expected(plan: Plan, report: ApplyReport) -> Expected:
    done = {o.address for o in report.outcomes if o.status is Status.DONE}
    topics: dict[str, bool] = {}
    acls: dict[Binding, bool] = {}
    configs: dict[str, dict[str, str | None]] = {}
    users: dict[str, dict[str, int | None]] = {}
    groups: dict[str, dict[str, str | None]] = {}
    quotas: dict[QuotaEntity, dict[str, float | None]] = {}
    for change in plan.changes:
        if change.address not in done:
            continue
        if change.kind is ResourceKind.USER:
            users[change.name] = _user_expected(change.operation)
            continue
        if change.kind is ResourceKind.QUOTA:
            quotas.update(quota_changes([change]))
            continue
        exists = change.action is not Action.DELETE
        if change.kind is ResourceKind.TOPIC and (
            change.action is Action.CREATE or change.action is Action.DELETE
        ):
            topics[change.name] = exists
        elif change.kind is ResourceKind.ACL:
            acls[binding_of(change)] = exists
        elif isinstance(change.operation, UpdateTopic) and change.operation.configs:
            configs[change.name] = dict(change.operation.configs)
        elif isinstance(change.operation, AlterGroupConfigs):
            groups[change.name] = dict(change.operation.configs)
    # In the order applied (apply.runner.PHASES): the created bindings, then the deleted.
    acls = dict(sorted(acls.items(), key=lambda item: not item[1]))
    return Expected(topics, acls, configs, users, groups, quotas)


def _user_expected(operation: object) -> dict[str, int | None]:
    if isinstance(operation, SetScramCredentials):
        shows: dict[str, int | None] = dict(operation.upserts)
        shows.update(dict.fromkeys(operation.deletions))
        return shows
    return dict.fromkeys(getattr(operation, "mechanisms", ()))


def outstanding(cluster: Cluster, want: Expected) -> Expected:
    """The part of ``want`` the cluster does not report yet (reading only what that needs:
    the topics still outstanding, not the whole metadata; no ACL request once every binding
    shows)."""
    topics: dict[str, bool] = {}
    acls: dict[Binding, bool] = {}
    configs: dict[str, dict[str, str | None]] = {}
    if want.topics:
        present = cluster.topics_exist(sorted(want.topics))
        topics = {name: ok for name, ok in want.topics.items() if present.get(name) != ok}
    if want.acls:
        acls = _outstanding_acls(cluster, want.acls)
    if want.configs:
        described = cluster.describe_topic_configs(sorted(want.configs))
        for name, keys in want.configs.items():
            found = described.get(name)
            if isinstance(found, ClusterError) or found is None:
                configs[name] = keys  # not readable now: still outstanding
                continue
            left = {key: value for key, value in keys.items() if not _shows(found, key, value)}
            if left:
                configs[name] = left
    users: dict[str, dict[str, int | None]] = {}
    if want.users:
        live_users = cluster.describe_user_scram_credentials()
        for name, credentials in want.users.items():
            shown = live_users.get(name, {})
            left_users = {m: i for m, i in credentials.items() if shown.get(m) != i}
            if left_users:
                users[name] = left_users
    groups: dict[str, dict[str, str | None]] = {}
    if want.groups:
        found_groups = cluster.describe_group_configs(sorted(want.groups))
        for group_id, keys in want.groups.items():
            group = found_groups.get(group_id)
            if isinstance(group, ClusterError) or group is None:
                groups[group_id] = keys
                continue
            left = {k: v for k, v in keys.items() if group.overrides.get(k) != v}
            if left:
                groups[group_id] = left
    quotas: dict[QuotaEntity, dict[str, float | None]] = {}
    if want.quotas:
        live_quotas = cluster.describe_quotas()
        for entity, quota_keys in want.quotas.items():
            have = live_quotas.get(entity, {})
            left_quota = {k: v for k, v in quota_keys.items() if not same_value(have.get(k), v)}
            if left_quota:
                quotas[entity] = left_quota
    return Expected(topics, acls, configs, users, groups, quotas)


def _outstanding_acls(cluster: Cluster, want: dict[Binding, bool]) -> dict[Binding, bool]:
    """The bindings of ``want`` not shown as wanted yet. A few are asked for by exact
    filters. Many (thousands after a large apply) would cost a read of every binding of the
    cluster on every poll, tens of thousands on a large estate; instead the last of them (in
    the order applied) is asked for first: a broker applies the metadata log in order, so
    until it shows that one, the others need not be read. Only a full read settles them."""
    if len(want) <= EXACT_ACL_READS:
        shown = cluster.acls_exist(list(want))
        return {binding: ok for binding, ok in want.items() if shown[binding] != ok}
    last = next(reversed(want))
    if cluster.acls_exist([last])[last] != want[last]:
        return want
    live = set(cluster.describe_acls()[0])
    return {binding: ok for binding, ok in want.items() if (binding in live) != ok}


def _shows(configs: Mapping[str, LiveConfig], key: str, value: str | None) -> bool:
    """Whether the described configs show ``key`` as the apply set it (a sensitive value is
    never shown: taken as applied)."""
    config = configs.get(key)
    if value is None:
        return config is None or not config.is_override
    if config is None or not config.is_override:
        return False
    return config.sensitive or values_equal(key, config.value, value)


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
    deleted topics and ACL bindings, its topic and group config changes, SCRAM credential
    changes and client quota changes; return the addresses it still does not report (as
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
