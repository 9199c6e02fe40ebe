"""Carry out a plan, exactly as planned, and report what happened to each change.

The applier never re-decides: it groups the plan's changes into phases, in an order that
keeps clients working (topics are created before anything refers to them), and runs each
phase as batched admin requests. A failure in one change does not stop independent ones;
every change ends as ``done``, ``failed`` (with the broker's reason) or ``skipped`` (because
something it depends on failed). A re-run after a failure plans only what is left.

Each phase runs in batches of at most ``batch_size`` changes, and every change is reported
as soon as its batch is answered, so an interruption at any point leaves a true record of
what was done. When the broker stops answering, a change it did not answer for ends as
``unknown`` (it may or may not have been made; the next plan shows which) and the apply
stops: the changes after it end as ``skipped`` (not attempted). Nothing is written locally,
so a crash of kafkaplan itself leaves nothing to repair: the next plan shows what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from kafkaplan.cluster import Cluster, NewTopicRequest
from kafkaplan.errors import ClusterError, ClusterTransient, KafkaplanError
from kafkaplan.plan import Action, Change, Plan

DEFAULT_BATCH_SIZE = 25


class Status(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    # Sent, but the broker did not answer: it may or may not have been made.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Outcome:
    address: str
    actions: tuple[Action, ...]
    status: Status
    detail: str = ""


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)
    # Why the apply stopped before the end (the broker stopped answering, the lease was
    # lost, an interrupt), or None when every change was attempted.
    interrupted: str | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not Status.DONE]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        done = sum(o.status is Status.DONE for o in self.outcomes)
        failed = sum(o.status is Status.FAILED for o in self.outcomes)
        unknown = sum(o.status is Status.UNKNOWN for o in self.outcomes)
        skipped = sum(o.status is Status.SKIPPED for o in self.outcomes)
        text = f"{done} of {len(self.outcomes)} changes applied"
        if failed:
            text += f", {failed} failed"
        if unknown:
            text += f", {unknown} with unknown outcome"
        if skipped:
            text += f", {skipped} skipped"
        return text


ProgressCallback = Callable[[int, int, int], None]  # done, total, failed
OutcomeCallback = Callable[[Outcome], None]


@dataclass
class Targets:
    cluster: Cluster


def _reason(error: KafkaplanError) -> str:
    return error.message + (f" (hint: {error.hint})" if error.hint else "")


def _unknown_detail(error: KafkaplanError) -> str:
    return f"no answer ({_reason(error)}); it may or may not have been made"


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
    outcomes = []
    for change in changes:
        problems = []
        applied = []
        unknown = False
        for part, results in (("configs", config_results), ("partitions", partition_results)):
            if change.name not in results:
                continue
            error = results[change.name]
            if error is None:
                applied.append(part)
            elif isinstance(error, ClusterTransient):
                unknown = True
                problems.append(f"{part}: {_unknown_detail(error)}")
            else:
                problems.append(f"{part}: {_reason(error)}")
        if problems:
            detail = "; ".join(problems)
            if applied:
                detail += f" ({' and '.join(applied)} applied)"
            status = Status.UNKNOWN if unknown else Status.FAILED
            outcomes.append(Outcome(change.address, tuple(change.actions), status, detail))
        else:
            outcomes.append(Outcome(change.address, tuple(change.actions), Status.DONE))
    return outcomes


def _delete_topics(changes: Sequence[Change], targets: Targets) -> list[Outcome]:
    results = targets.cluster.delete_topics([c.name for c in changes])
    return [_outcome(change, results.get(change.name)) for change in changes]


def _outcome(change: Change, error: ClusterError | None) -> Outcome:
    if error is None:
        return Outcome(change.address, tuple(change.actions), Status.DONE)
    if isinstance(error, ClusterTransient):
        return Outcome(
            change.address, tuple(change.actions), Status.UNKNOWN, _unknown_detail(error)
        )
    return Outcome(change.address, tuple(change.actions), Status.FAILED, _reason(error))


Phase = tuple[str, str, Action, Callable[[Sequence[Change], Targets], list[Outcome]]]

# (name, resource type, action, runner), in the order they run.
PHASES: list[Phase] = [
    ("create topics", "topic", Action.CREATE, _create_topics),
    ("update topics", "topic", Action.UPDATE, _update_topics),
    ("delete topics", "topic", Action.DELETE, _delete_topics),
]


def _batches(changes: Sequence[Change], size: int) -> list[Sequence[Change]]:
    return [changes[i : i + size] for i in range(0, len(changes), size)]


def apply_plan(
    plan: Plan,
    targets: Targets,
    *,
    progress: ProgressCallback | None = None,
    on_outcome: OutcomeCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    before_batch: Callable[[], None] | None = None,
) -> ApplyReport:
    """Run the plan's changes phase by phase, in batches of at most ``batch_size``.

    ``before_batch`` runs before each batch (the apply lease is renewed there); if it raises
    a ``KafkaplanError`` the apply stops before that batch. ``on_outcome`` is called for
    each change as soon as its outcome is known.
    """
    report = ApplyReport()
    total = len(plan.changes)
    failed = 0

    def record(outcomes: Sequence[Outcome]) -> None:
        report.outcomes.extend(outcomes)
        if on_outcome is not None:
            for outcome in outcomes:
                on_outcome(outcome)

    for _name, resource_type, action, runner in PHASES:
        batch = [
            c for c in plan.changes if c.resource_type == resource_type and c.actions == [action]
        ]
        for chunk in _batches(batch, max(1, batch_size)):
            if report.interrupted:
                break
            try:
                if before_batch is not None:
                    before_batch()
            except KafkaplanError as exc:
                report.interrupted = str(exc)
                break
            try:
                outcomes = runner(chunk, targets)
            except ClusterTransient as exc:
                outcomes = [
                    Outcome(c.address, tuple(c.actions), Status.UNKNOWN, _unknown_detail(exc))
                    for c in chunk
                ]
            except ClusterError as exc:
                outcomes = [
                    Outcome(c.address, tuple(c.actions), Status.FAILED, _reason(exc)) for c in chunk
                ]
            except KeyboardInterrupt:
                outcomes = [
                    Outcome(
                        c.address,
                        tuple(c.actions),
                        Status.UNKNOWN,
                        "interrupted while the request was in flight; it may or may not "
                        "have been made",
                    )
                    for c in chunk
                ]
                report.interrupted = "interrupted"
            record(outcomes)
            failed += sum(o.status is Status.FAILED for o in outcomes)
            if progress is not None:
                progress(len(report.outcomes), total, failed)
            if not report.interrupted and any(o.status is Status.UNKNOWN for o in outcomes):
                report.interrupted = "the broker stopped answering"
    handled = {o.address for o in report.outcomes}
    record(
        [
            Outcome(
                change.address,
                tuple(change.actions),
                Status.SKIPPED,
                f"not attempted: the apply stopped ({report.interrupted})"
                if report.interrupted
                else "no applier for this kind of change in this version",
            )
            for change in plan.changes
            if change.address not in handled
        ]
    )
    return report
