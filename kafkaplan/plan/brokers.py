"""Brokers: only replication throttle rates left behind by an interrupted reassignment.

kafkaplan sets ``leader/follower.replication.throttled.rate`` on the brokers while a
reassignment copies data and removes them when it completes. A rate still set when no
reassignment is in progress anywhere on the cluster was left behind (the apply was
killed): the plan removes it. While any reassignment runs, rates are left alone.
"""

from __future__ import annotations

from kafkaplan.kinds import ResourceKind, broker_address
from kafkaplan.live.checks import Checks
from kafkaplan.live.state import LiveState, fingerprint
from kafkaplan.plan.model import (
    Action,
    AlterBrokerConfigs,
    Change,
    FieldChange,
    Message,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import PlanPart
from kafkaplan.spec.desired import DesiredState


def broker_digest(live: LiveState, name: str) -> str:
    return fingerprint(dict(live.broker_throttles.get(int(name), {})))


def diff_brokers(
    desired: DesiredState, live: LiveState, options: PlanOptions, checks: Checks | None = None
) -> PlanPart:
    part = PlanPart()
    if live.reassignments:
        return part
    for broker, throttles in sorted(live.broker_throttles.items()):
        if not throttles:
            continue
        address = broker_address(broker)
        part.fingerprints[address] = broker_digest(live, str(broker))
        part.changes.append(
            Change(
                address=address,
                kind=ResourceKind.BROKER,
                name=str(broker),
                action=Action.UPDATE,
                operation=AlterBrokerConfigs(configs=dict.fromkeys(sorted(throttles))),
                before={"configs": dict(sorted(throttles.items()))},
                after={"configs": {}},
                fields=[
                    FieldChange(path=f"configs.{key}", before=value, after=None)
                    for key, value in sorted(throttles.items())
                ],
            )
        )
        part.warnings.append(
            Message(
                message="replication throttle rate left behind by an interrupted reassignment: "
                "apply removes it",
                address=address,
            )
        )
    return part
