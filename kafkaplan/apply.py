"""Carry out a plan, exactly as planned, and report what happened to each change.

The applier never re-decides: it groups the plan's changes into phases, in an order that
keeps clients working (topics are created before anything refers to them), and runs each
phase as batched admin requests. A failure in one change does not stop independent ones;
every change ends as ``done``, ``failed`` (with the broker's reason) or ``skipped`` (because
something it depends on failed). A re-run after a failure plans only what is left.

Big phases run in chunks (``CHUNK`` changes per request) so that progress is reported as
the work goes; replication-factor changes report their progress while replicas catch up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from kafkaplan.cluster import Cluster, NewTopicRequest
from kafkaplan.errors import ClusterError
from kafkaplan.plan import Action, Change, Plan
from kafkaplan.project import ReassignmentSettings

# Changes per request in a phase: big batches are split so that progress moves.
CHUNK = 200


class Status(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    address: str
    actions: tuple[Action, ...]
    status: Status
    detail: str = ""


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not Status.DONE]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        done = sum(o.status is Status.DONE for o in self.outcomes)
        failed = sum(o.status is Status.FAILED for o in self.outcomes)
        skipped = sum(o.status is Status.SKIPPED for o in self.outcomes)
        text = f"{done} of {len(self.outcomes)} changes applied"
        if failed:
            text += f", {failed} failed"
        if skipped:
            text += f", {skipped} skipped"
        return text


class ProgressCallback(Protocol):
    """Told after every chunk of changes, and while long steps wait (``note`` says on what)."""

    def __call__(self, done: int, total: int, failed: int, *, note: str = "") -> None: ...


@dataclass
class Targets:
    cluster: Cluster
    # How replication-factor changes are carried out (throttle, timeout).
    reassignment: ReassignmentSettings = field(default_factory=ReassignmentSettings)
    # Long steps (waiting for a reassignment) say what they wait for through this.
    note: Callable[[str], None] = field(default=lambda text: None)


def _reason(error: ClusterError) -> str:
    return error.message + (f" (hint: {error.hint})" if error.hint else "")


def topic_request(change: Change) -> NewTopicRequest:
    """The create-topics request a planned topic creation stands for."""
    after = change.after or {}
    return NewTopicRequest(
        name=change.name,
        partitions=int(after["partitions"]),
        replication_factor=int(after["replication_factor"]),
        configs={k: str(v) for k, v in after.get("configs", {}).items()},
    )


def _create_topics(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    results = targets.cluster.create_topics([topic_request(c) for c in changes])
    return [_outcome(change, results.get(change.name)) for change in changes]


def _update_topics(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    from kafkaplan.reassign import is_reassignment, reassign

    configs: dict[str, dict[str, str | None]] = {}
    partitions: dict[str, int] = {}
    for change in changes:
        for item in change.fields:
            if item.path.startswith("configs."):
                key = item.path.removeprefix("configs.")
                configs.setdefault(change.name, {})[key] = (
                    None if item.after is None else str(item.after)
                )
            elif item.path == "partitions":
                partitions[change.name] = int(item.after)
    config_results = targets.cluster.alter_topic_configs(configs)
    partition_results = targets.cluster.create_partitions(partitions)
    problems_of: dict[str, list[str]] = {}
    applied_of: dict[str, list[str]] = {}
    for change in changes:
        problems = problems_of.setdefault(change.address, [])
        applied = applied_of.setdefault(change.address, [])
        for part, results in (("configs", config_results), ("partitions", partition_results)):
            if change.name not in results:
                continue
            error = results[change.name]
            if error is None:
                applied.append(part)
            else:
                problems.append(f"{part}: {_reason(error)}")
    # Replica changes once configs and partitions are in place (new partitions included).
    moving = [c for c in changes if is_reassignment(c) and not problems_of[c.address]]
    if moving:
        for address, problem in reassign(moving, targets).items():
            if problem is None:
                applied_of[address].append("replicas")
            else:
                problems_of[address].append(f"replicas: {problem}")
    outcomes = []
    for change in changes:
        problems = problems_of[change.address]
        applied = applied_of[change.address]
        if problems:
            detail = "; ".join(problems)
            if applied:
                detail += f" ({' and '.join(applied)} applied)"
            outcomes.append(Outcome(change.address, tuple(change.actions), Status.FAILED, detail))
        else:
            outcomes.append(Outcome(change.address, tuple(change.actions), Status.DONE))
    return outcomes


def _delete_topics(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    results = targets.cluster.delete_topics([c.name for c in changes])
    return [_outcome(change, results.get(change.name)) for change in changes]


def _outcome(change: Change, error: ClusterError | None) -> Outcome:
    if error is None:
        return Outcome(change.address, tuple(change.actions), Status.DONE)
    return Outcome(change.address, tuple(change.actions), Status.FAILED, _reason(error))


def _update_brokers(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    configs = {
        int(change.name): {
            item.path.removeprefix("configs."): None if item.after is None else str(item.after)
            for item in change.fields
            if item.path.startswith("configs.")
        }
        for change in changes
    }
    results = targets.cluster.alter_broker_configs(configs)
    return [_outcome(change, results.get(change.name)) for change in changes]


Phase = tuple[str, str, Action, Callable[[Sequence[Change], Targets], list[Outcome]]]

# (name, resource type, action, runner), in the order they run. Leftover broker throttles
# go before the topics' updates: those may start (and finish) a reassignment of their own.
PHASES: list[Phase] = [
    ("create topics", "topic", Action.CREATE, _create_topics),
    ("update brokers", "broker", Action.UPDATE, _update_brokers),
    ("update topics", "topic", Action.UPDATE, _update_topics),
    ("delete topics", "topic", Action.DELETE, _delete_topics),
]


def _prefixed(tell: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    def note(text: str) -> None:
        tell(f"{prefix}: {text}")

    return note


def _chunks(changes: Sequence[Change], size: int) -> Iterator[Sequence[Change]]:
    for start in range(0, len(changes), size):
        yield changes[start : start + size]


def apply_plan(
    plan: Plan, targets: Targets, *, progress: ProgressCallback | None = None
) -> ApplyReport:
    report = ApplyReport()
    total = len(plan.changes)
    failed = 0

    def tell(note: str) -> None:
        if progress is not None:
            progress(len(report.outcomes), total, failed, note=note)

    for name, resource_type, action, runner in PHASES:
        batch = [
            c for c in plan.changes if c.resource_type == resource_type and c.actions == [action]
        ]
        phase_targets = dataclasses.replace(targets, note=_prefixed(tell, name))
        for chunk in _chunks(batch, CHUNK):
            try:
                outcomes = runner(chunk, phase_targets)
            except ClusterError as exc:
                outcomes = [
                    Outcome(c.address, tuple(c.actions), Status.FAILED, _reason(exc)) for c in chunk
                ]
            report.outcomes.extend(outcomes)
            failed += sum(o.status is not Status.DONE for o in outcomes)
            tell(name)
    handled = {o.address for o in report.outcomes}
    for change in plan.changes:
        if change.address not in handled:
            report.outcomes.append(
                Outcome(
                    change.address,
                    tuple(change.actions),
                    Status.SKIPPED,
                    "no applier for this kind of change in this version",
                )
            )
    return report
