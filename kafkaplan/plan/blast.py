"""The blast radius of a plan: who notices each changed topic, what is still in use, and
exactly how much a retention cut drops.

Pure, like the rest of ``compute_plan``: the consumer groups, their committed offsets and the
partitions' offsets (by position and by timestamp) were read before it, for the topics a
draft plan changes, into ``LiveState.usage`` (``kafkaplan.live.read.read_usage``).

- Principals: every ALLOW binding on the topic (literal, the ``*`` wildcard, or a prefix of
  its name) for WRITE (producers) or READ (consumers), or ALL (both), declared in the specs
  (with the role and the line that declared it) or live on the cluster.
- Groups: those with committed offsets on the topic, or live members assigned to it; their
  lag is the log end minus the committed offset, summed over the partitions.
- In use: a group with live members, or whose committed offsets are past the first record
  written within the window (Kafka does not say when an offset was committed; a group that
  has read records written within the window has committed within it). Deleting a topic in
  use is a plan error unless the run allows it (``--allow-in-use-deletes``).
- Retention cuts: the messages older than the new limit are the offsets before the first
  record written at ``now - retention`` (ListOffsets by timestamp), from the log start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kafkaplan.kinds import ResourceKind
from kafkaplan.live.state import GroupUse, LiveState, TopicUsage
from kafkaplan.plan.model import (
    Action,
    Affected,
    Change,
    DeleteTopic,
    GroupUsage,
    Message,
    Principal,
    Risk,
    RiskLabel,
    UpdateTopic,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec.acls import Binding, Operation, PatternType, Permission, ResourceType
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.units import format_duration_ms

# Group members and groups named in one in-use error before "and N more".
SHOWN_IN_ERROR = 5

_PRODUCE = frozenset({Operation.WRITE, Operation.ALL})
_CONSUME = frozenset({Operation.READ, Operation.ALL})


def changed_topics(changes: Iterable[Change], desired: DesiredState) -> dict[str, Action]:
    """The topics a plan changes, by name: its topic changes (not creations: nobody uses a
    topic that does not exist yet), and the topics of its schema changes."""
    topics: dict[str, Action] = {}
    for change in changes:
        topic = affected_topic(change, desired)
        if topic is None:
            continue
        if change.kind is ResourceKind.TOPIC:
            topics[topic] = change.action
        else:
            topics.setdefault(topic, Action.UPDATE)
    return {name: action for name, action in topics.items() if action is not Action.CREATE}


def affected_topic(change: Change, desired: DesiredState) -> str | None:
    """The topic a change is about: its own name, or the topic of a subject."""
    if change.kind is ResourceKind.TOPIC:
        return change.name
    if change.kind in (ResourceKind.SUBJECT, ResourceKind.SUBJECT_CONFIG):
        subject = desired.subjects.get(change.name)
        if subject is not None and subject.topic is not None:
            return subject.topic
        for suffix in ("-value", "-key"):
            if change.name.endswith(suffix) and change.name.removesuffix(suffix) in desired.topics:
                return change.name.removesuffix(suffix)
    return None


def retention_cuts(changes: Iterable[Change], live: LiveState) -> dict[str, int]:
    """Topic -> the new retention.ms of each update that shortens it."""
    cuts = {}
    for change in changes:
        if not isinstance(change.operation, UpdateTopic):
            continue
        target = change.operation.configs.get("retention.ms")
        topic = live.topics.get(change.name)
        current = topic.configs.get("retention.ms") if topic is not None else None
        if target is None or current is None or current.value is None or current.sensitive:
            continue
        old, new = int(current.value), int(target)
        if new >= 0 and (old < 0 or new < old):
            cuts[change.name] = new
    return cuts


def in_use_deletions(changes: Iterable[Change]) -> list[str]:
    return [c.name for c in changes if isinstance(c.operation, DeleteTopic)]


@dataclass
class _AclIndex:
    """ALLOW topic bindings, found by literal name, wildcard or prefix."""

    literal: dict[str, list[Binding]] = field(default_factory=dict)
    prefixed: list[Binding] = field(default_factory=list)

    @classmethod
    def of(cls, bindings: Iterable[Binding]) -> _AclIndex:
        index = cls()
        for binding in bindings:
            if binding.resource_type is not ResourceType.TOPIC:
                continue
            if binding.permission is not Permission.ALLOW:
                continue
            if binding.operation not in _PRODUCE | _CONSUME:
                continue
            if binding.pattern_type is PatternType.PREFIXED:
                index.prefixed.append(binding)
            else:
                index.literal.setdefault(binding.resource_name, []).append(binding)
        return index

    def on(self, topic: str) -> list[Binding]:
        found = [*self.literal.get(topic, ()), *self.literal.get("*", ())]
        found.extend(b for b in self.prefixed if topic.startswith(b.resource_name))
        return found


def blast_radius(
    changes: Sequence[Change], desired: DesiredState, live: LiveState, options: PlanOptions
) -> tuple[list[Change], list[Message], list[Message]]:
    """The changes with who is affected (``Change.affected``) and the exact data loss of
    retention cuts; and the errors (topics in use that would be deleted) and warnings."""
    usage = live.usage
    if usage is None:
        return list(changes), [], []
    declared = desired.acls.bindings
    live_bindings = usage.acls if usage.acls is not None else live.acls
    index = _AclIndex.of([*declared, *live_bindings])
    cuts = retention_cuts(changes, live)
    errors: list[Message] = []
    warnings: list[Message] = []
    result = []
    for change in changes:
        topic = affected_topic(change, desired)
        if topic is None:
            result.append(change)
            continue
        used = usage.topics.get(topic, TopicUsage())
        spec = desired.topics.get(topic)
        producers, consumers = _principals(index.on(topic), desired, frozenset(live_bindings))
        cut = cuts.get(topic) if change.kind is ResourceKind.TOPIC else None
        lost = _older_than_cut(used) if cut is not None and used.cut_ms is not None else None
        groups = [_group(group, used, usage.read_at_ms, cut is not None) for group in used.groups]
        notes = []
        if usage.groups_unread is not None and change.action is not Action.CREATE:
            notes.append(f"consumer groups {usage.groups_unread}")
        risks = list(change.risks)
        if lost is not None and cut is not None:
            risks = [_counted(risk, lost, cut) for risk in risks]
        if _to_compact(change, live):
            notes.append(
                "what compaction removes cannot be known before it runs: it depends on the "
                "keys of the records (only the latest record per key is kept), which kafkaplan "
                "does not read"
            )
        affected = Affected(
            topic=topic,
            owner=spec.owner if spec is not None else None,
            producers=producers,
            consumers=consumers,
            groups=groups,
            groups_read=usage.groups_unread is None,
            messages_lost=lost,
            notes=notes,
        )
        result.append(change.model_copy(update={"affected": affected, "risks": risks}))
        if isinstance(change.operation, DeleteTopic):
            active = [g for g in groups if g.active]
            if active:
                message = _in_use(topic, active, usage.window_ms)
                target = warnings if options.allow_in_use_deletes else errors
                target.append(
                    Message(
                        message=message
                        + (
                            " (deleted anyway: --allow-in-use-deletes)"
                            if target is warnings
                            else ""
                        ),
                        address=change.address,
                        source=change.source,
                        hint=None
                        if target is warnings
                        else "stop those consumers (and delete their offsets) first, or pass "
                        "--allow-in-use-deletes to delete it anyway",
                    )
                )
            elif usage.groups_unread is not None:
                warnings.append(
                    Message(
                        message="could not check whether consumer groups still read this "
                        f"topic: {usage.groups_unread}",
                        address=change.address,
                        hint="grant DESCRIBE on groups to the planning principal",
                    )
                )
    return result, errors, warnings


def _principals(
    bindings: Iterable[Binding], desired: DesiredState, live: frozenset[Binding]
) -> tuple[list[Principal], list[Principal]]:
    producers: dict[tuple[str, str], Principal] = {}
    consumers: dict[tuple[str, str], Principal] = {}
    for binding in bindings:
        source = desired.acls.bindings.get(binding)
        entry = Principal.model_construct(
            principal=binding.principal,
            binding=binding.describe(),
            role=desired.acls.roles.get(binding),
            declared=source is not None,
            source=source,
        )
        key = (binding.principal, entry.binding)
        if binding.operation in _PRODUCE:
            producers.setdefault(key, entry)
        if binding.operation in _CONSUME:
            consumers.setdefault(key, entry)
    return _sorted(producers), _sorted(consumers)


def _sorted(found: Mapping[tuple[str, str], Principal]) -> list[Principal]:
    return [found[key] for key in sorted(found)]


def _group(group: GroupUse, used: TopicUsage, now_ms: int, cut: bool) -> GroupUsage:
    lag = 0
    for partition, offset in group.committed.items():
        end = used.end.get(partition)
        if end is not None:
            lag += max(0, end - offset)
    recent = any(
        (first := used.recent.get(partition, -1)) >= 0 and offset > first
        for partition, offset in group.committed.items()
    )
    live_members = bool(group.members) and group.state not in ("EMPTY", "DEAD")
    unread_lost = None
    if cut and used.cut_ms is not None:
        unread_lost = 0
        for partition, offset in group.committed.items():
            start, end = used.start.get(partition, 0), used.end.get(partition, 0)
            first_kept = used.cut.get(partition, -1)
            boundary = end if first_kept < 0 else first_kept
            unread_lost += max(0, boundary - max(offset, start))
    # Built from values computed here: no validation needed (1,000s per plan).
    return GroupUsage.model_construct(
        group=group.group_id,
        state=group.state,
        members=list(group.members),
        lag=lag if group.committed else None,
        active=live_members or recent,
        unread_lost=unread_lost,
    )


def _older_than_cut(used: TopicUsage) -> int:
    """Messages before the first record written at or after the cut, from the log start."""
    lost = 0
    for partition, end in used.end.items():
        start = used.start.get(partition, 0)
        first_kept = used.cut.get(partition, -1)
        boundary = end if first_kept < 0 else first_kept
        lost += max(0, boundary - start)
    return lost


def _counted(risk: Risk, lost: int, cut: int) -> Risk:
    if risk.label is not RiskLabel.DATA_LOSS or not risk.message.startswith("retention.ms "):
        return risk
    return risk.model_copy(
        update={
            "message": risk.message.replace(
                "records beyond the new limit are deleted",
                f"{lost:,} message(s) older than {format_duration_ms(cut)} are deleted",
            )
        }
    )


def _to_compact(change: Change, live: LiveState) -> bool:
    if not isinstance(change.operation, UpdateTopic):
        return False
    target = change.operation.configs.get("cleanup.policy")
    topic = live.topics.get(change.name)
    current = topic.configs.get("cleanup.policy") if topic is not None else None
    before = set((current.value or "delete").split(",")) if current is not None else {"delete"}
    return target is not None and "compact" in target.split(",") and "compact" not in before


def _in_use(topic: str, active: list[GroupUsage], window_ms: int) -> str:
    described = []
    for group in active[:SHOWN_IN_ERROR]:
        members = ", ".join(group.members[:SHOWN_IN_ERROR])
        if len(group.members) > SHOWN_IN_ERROR:
            members += f" and {len(group.members) - SHOWN_IN_ERROR} more"
        who = f"members {members}" if group.members else "no live members, read recently"
        lag = f", lag {group.lag:,}" if group.lag is not None else ""
        described.append(f"{group.group} ({who}{lag})")
    more = len(active) - SHOWN_IN_ERROR
    tail = f" and {more} more group(s)" if more > 0 else ""
    return (
        f"topic {topic} is still in use by consumer group(s) {'; '.join(described)}{tail}: "
        f"they have live members or have read records written in the last "
        f"{format_duration_ms(window_ms)}, and break when it is deleted"
    )
