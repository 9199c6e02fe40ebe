"""Schema Registry subjects: register new schemas and versions, set compatibility levels,
delete owned subjects no spec declares (only when the run allows deletes).

Schemas are compared in canonical form (``kafkaplan.spec.schemas``), so formatting never shows
up as a change and any real change does. Whether the registry accepts a new version is
not decided here (that needs the network): ``kafkaplan.commands.registry_preflight`` asks
the registry after this pure diff and adds its verdict to the plan.

Addresses: ``subject.<name>`` (its schema), ``subject-config.<name>`` (its compatibility
level), ``registry-config.global`` (the registry's default level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafkaplan.kinds import GLOBAL_ADDRESS, ResourceKind, subject_address, subject_config_address
from kafkaplan.live.checks import Checks, Referrers
from kafkaplan.live.state import LiveRegistry, LiveState, LiveSubject, fingerprint
from kafkaplan.plan.model import (
    Action,
    Change,
    DeleteSubject,
    FieldChange,
    Message,
    Reference,
    RegisterSchema,
    Risk,
    RiskLabel,
    RollBackSchema,
    SetCompatibility,
)
from kafkaplan.plan.options import PlanOptions
from kafkaplan.plan.part import ABSENT, PlanPart
from kafkaplan.spec.desired import DesiredState, DesiredSubject
from kafkaplan.spec.schemas import (
    dependency_order,
    field_changes,
    implies,
    may_break,
    parse_lenient,
    same_schema,
)

# A reference version the plan cannot know yet: the version it registers for that subject.
PENDING = "latest"


def subject_digest(live: LiveState, name: str) -> str:
    subject = live.subjects.get(name)
    return subject.digest() if subject else ABSENT


def subject_config_digest(live: LiveState, name: str) -> str:
    if live.registry is None:
        return ABSENT
    return fingerprint({"compatibility": live.registry.subject_compatibility.get(name)})


def registry_config_digest(live: LiveState, name: str) -> str:
    if live.registry is None:
        return ABSENT
    return fingerprint({"compatibility": live.registry.global_compatibility})


def lowering_risk(before: str | None, after: str, what: str) -> Risk | None:
    """A schema-break risk when ``after`` lets through changes ``before`` refused."""
    if before is None or implies(after, before):
        return None
    if after == "NONE":
        consequence = "the registry will accept any new schema, compatible or not"
    else:
        consequence = f"the registry will accept changes {before} refuses"
    return Risk(
        label=RiskLabel.SCHEMA_BREAK,
        message=f"{what} lowered {before} -> {after}: {consequence}; producers and consumers "
        "can then break on the next schema change",
    )


def diff_subjects(
    desired: DesiredState, live: LiveState, options: PlanOptions, checks: Checks | None = None
) -> PlanPart:
    part = PlanPart()
    if not desired.uses_registry:
        return part
    registry = live.registry
    if registry is None:
        part.errors.append(
            Message(
                message="the specs manage Schema Registry subjects, but the registry was not read",
                hint="configure `schema_registry` for this environment in kafkaplan.yaml",
            )
        )
        return part
    live_global = registry.global_compatibility
    wanted_global = desired.registry.compatibility
    planned_global = wanted_global or live_global
    global_change = None
    if wanted_global is not None:
        part.fingerprints[GLOBAL_ADDRESS] = registry_config_digest(live, "global")
        if wanted_global != live_global:
            risk = lowering_risk(live_global, wanted_global, "the registry's global compatibility")
            global_change = Change(
                address=GLOBAL_ADDRESS,
                kind=ResourceKind.REGISTRY_CONFIG,
                name="global",
                action=Action.UPDATE,
                operation=SetCompatibility(level=wanted_global),
                before={"compatibility": live_global},
                after={"compatibility": wanted_global},
                fields=[FieldChange(path="compatibility", before=live_global, after=wanted_global)],
                risks=[risk] if risk else [],
            )
            part.changes.append(global_change)

    order = dependency_order(
        {name: [r.subject for r in s.references] for name, s in desired.subjects.items()}
    )
    registered: set[str] = set()
    # Subjects this plan rolls back: the version that is their latest afterwards.
    rolled_back: dict[str, int] = {}
    for name in order:
        want = desired.subjects[name]
        override = registry.subject_compatibility.get(name)
        depends: list[str] = []
        part.fingerprints[subject_address(name)] = subject_digest(live, name)
        if want.compatibility is None and override is None and global_change is not None:
            depends.append(GLOBAL_ADDRESS)  # its level is the global one, changing first
        if want.compatibility is not None:
            part.fingerprints[subject_config_address(name)] = subject_config_digest(live, name)
            config = _config_change(want, override, live_global, planned_global)
            if config is not None:
                part.changes.append(config)
                depends.append(config.address)
        references, problems = _references(want, live, registered, rolled_back, depends)
        part.errors.extend(problems)
        if problems:
            continue
        level = want.compatibility or override or planned_global
        current = override or live_global
        have = live.subjects.get(name)
        change = _subject_change(want, have, references, level, current, depends)
        if change is None:
            continue
        if checks is not None and have is not None and change.action is Action.UPDATE:
            change = _checked(change, have, current, level, checks, options, part)
            if change is None:
                continue
            if isinstance(change.operation, RollBackSchema):
                rolled_back[name] = change.operation.version
                part.changes.append(change)
                continue
        registered.add(name)
        part.changes.append(change)

    _owned(desired, live, registry, part, options, checks)
    return part


def _config_change(
    want: DesiredSubject, override: str | None, live_global: str | None, planned_global: str | None
) -> Change | None:
    target = want.compatibility
    assert target is not None
    # What the subject would have without this change (after any global change).
    effective = override or planned_global
    if target == effective:
        return None
    current = override or live_global
    risk = lowering_risk(current, target, f"subject {want.name!r} compatibility")
    return Change(
        address=subject_config_address(want.name),
        kind=ResourceKind.SUBJECT_CONFIG,
        name=want.name,
        action=Action.UPDATE if override is not None else Action.CREATE,
        operation=SetCompatibility(level=target),
        before={"compatibility": override} if override is not None else None,
        after={"compatibility": target},
        fields=[FieldChange(path="compatibility", before=current, after=target)],
        risks=[risk] if risk else [],
        source=str(want.source),
    )


def _references(
    want: DesiredSubject,
    live: LiveState,
    registered: set[str],
    rolled_back: dict[str, int],
    depends: list[str],
) -> tuple[dict[str, dict[str, Any]], list[Message]]:
    """Each reference's subject and version: "latest" is the live latest version, the
    version a rollback in this plan returns to, or PENDING when this plan registers a new
    version of that subject."""
    resolved: dict[str, dict[str, Any]] = {}
    problems = []
    for ref in want.references:
        have = live.subjects.get(ref.subject)
        version: int | str
        if ref.version is None:
            if ref.subject in rolled_back:
                version = rolled_back[ref.subject]
                depends.append(subject_address(ref.subject))
            elif ref.subject in registered:
                version = PENDING
                depends.append(subject_address(ref.subject))
            elif have is not None:
                version = have.version
            else:
                problems.append(
                    Message(
                        message=f"reference {ref.name!r}: subject {ref.subject!r} does not exist "
                        "in the registry and no spec declares it",
                        address=subject_address(want.name),
                        source=str(ref.source),
                        hint="declare that subject in the specs, or fix the reference",
                    )
                )
                continue
        else:
            version = ref.version
            known = set(have.versions) if have else set()
            if ref.subject in registered:
                depends.append(subject_address(ref.subject))
                known.add((have.version if have else 0) + 1)
            if version not in known:
                problems.append(
                    Message(
                        message=f"reference {ref.name!r}: subject {ref.subject!r} has no version "
                        f"{version}",
                        address=subject_address(want.name),
                        source=str(ref.source),
                        hint=f"versions in the registry: {sorted(have.versions) if have else 'none'}"
                        "; or use `version: latest`",
                    )
                )
                continue
        resolved[ref.name] = {"subject": ref.subject, "version": version}
    return resolved, problems


def _subject_value(
    want: DesiredSubject, references: dict[str, dict[str, Any]], level: str | None
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "schema_type": want.schema_type,
        "file": want.file,
        "compatibility": level,
    }
    if references:
        value["references"] = references
    value["fields"] = dict(want.fields)
    value["schema_text"] = want.schema
    return value


def _live_references(have: LiveSubject) -> dict[str, dict[str, Any]]:
    return {r.name: {"subject": r.subject, "version": r.version} for r in have.references}


def _subject_change(
    want: DesiredSubject,
    have: LiveSubject | None,
    references: dict[str, dict[str, Any]],
    level: str | None,
    current_level: str | None,
    depends: list[str],
) -> Change | None:
    """``level``: the compatibility level the registration will be checked at (after this
    plan's level changes); ``current_level``: the one set now."""
    after = _subject_value(want, references, level)
    registration = RegisterSchema(
        schema_type=want.schema_type,
        schema_text=want.schema,
        references=[
            Reference(
                name=name,
                subject=str(ref["subject"]),
                version=None if ref["version"] == PENDING else int(ref["version"]),
            )
            for name, ref in sorted(references.items())
        ],
        latest=have.version if have is not None else None,
    )
    common: dict[str, Any] = {
        "address": subject_address(want.name),
        "kind": ResourceKind.SUBJECT,
        "name": want.name,
        "operation": registration,
        "after": after,
        "source": str(want.source),
        "depends_on": sorted(set(depends)),
    }
    if have is None:
        return Change(action=Action.CREATE, **common)
    live_references = _live_references(have)
    unchanged = same_schema(want, have.schema_type, have.schema)
    if unchanged and live_references == references:
        return None
    parsed = parse_lenient(have.schema_type, have.schema)
    fields: list[FieldChange] = []
    if have.schema_type != want.schema_type:
        fields.append(
            FieldChange(path="schema_type", before=have.schema_type, after=want.schema_type)
        )
    else:
        fields.extend(
            FieldChange(path=f"fields.{path}", before=old, after=new)
            for path, old, new in field_changes(parsed.fields, want.fields)
        )
    for ref_name in sorted(set(live_references) | set(references)):
        old_ref, new_ref = live_references.get(ref_name), references.get(ref_name)
        if old_ref != new_ref:
            fields.append(
                FieldChange(
                    path=f"references.{ref_name}",
                    before=_show_ref(old_ref),
                    after=_show_ref(new_ref),
                )
            )
    if not unchanged and not any(f.path.startswith(("fields.", "schema_type")) for f in fields):
        fields.append(
            FieldChange(
                path="schema",
                before=f"version {have.version}",
                after="changed outside the field summary (names, order, options, ...)",
            )
        )
    risks = []
    if level == "NONE" and not unchanged:
        reasons = may_break(parsed.fields, want.fields)
        if reasons or have.schema_type != want.schema_type:
            shown = "; ".join(reasons[:5]) or "the schema type changes"
            risks.append(
                Risk(
                    label=RiskLabel.SCHEMA_BREAK,
                    message=f"compatibility is NONE, so the registry accepts this unchecked: "
                    f"{shown}",
                )
            )
    before = {
        "version": have.version,
        "id": have.schema_id,
        "schema_type": have.schema_type,
        "compatibility": current_level,
    }
    if live_references:
        before["references"] = live_references
    return Change(action=Action.UPDATE, before=before, fields=fields, risks=risks, **common)


def _show_ref(ref: dict[str, Any] | None) -> str | None:
    return None if ref is None else f"{ref['subject']} version {ref['version']}"


def _owned(
    desired: DesiredState,
    live: LiveState,
    registry: LiveRegistry,
    part: PlanPart,
    options: PlanOptions,
    checks: Checks | None,
) -> None:
    """Owned subjects no spec declares: deletes when the run allows them, else kept with a
    warning. Subjects a declared schema refers to are kept (and listed as unmanaged), and so
    are those the registry says other schemas still refer to (``_still_referred``)."""
    referenced = {ref.subject for s in desired.subjects.values() for ref in s.references}
    extra = [
        name
        for name in registry.owned_subjects
        if name not in desired.subjects and desired.registry.owns(name)
    ]
    hard = desired.registry.hard_delete
    answers = checks.subject_referrers if checks is not None else {}
    candidates = [name for name in extra if name not in referenced]
    held = _still_referred(set(candidates), answers, hard=hard)
    doomed = [name for name in candidates if name not in held]
    for name in sorted(extra):
        if name in referenced:
            part.unmanaged.append(subject_address(name))
            continue
        if not options.allow_deletes:
            part.warnings.append(
                Message(
                    message="in the owned subject scope but in no spec: kept, because deletes "
                    "are not enabled for this run",
                    address=subject_address(name),
                    hint="declare it, or pass --allow-deletes to plan its deletion",
                )
            )
            continue
        if name in held:
            refer = "refers" if len(held[name]) == 1 else "refer"
            part.warnings.append(
                Message(
                    message="in the owned subject scope but in no spec: kept, because "
                    f"{_schemas(held[name], answers[name])} still {refer} to it, and the "
                    "registry refuses to delete a subject a schema refers to",
                    address=subject_address(name),
                    hint="declare it again; it can go once what refers to it is deleted (on "
                    "Apicurio, deleted for good: `schemas.hard_delete: true` does that for "
                    "the subjects kafkaplan deletes)",
                )
            )
            continue
        answer = answers.get(name)
        if answer is not None and answer.unchecked is not None:
            part.warnings.append(
                Message(
                    message="could not check which schemas refer to it (the registry answered: "
                    f"{answer.unchecked}); it refuses the delete at apply if one does",
                    address=subject_address(name),
                )
            )
        part.fingerprints[subject_address(name)] = subject_digest(live, name)
        have = live.subjects.get(name)
        before: dict[str, Any] = {"delete": "hard" if hard else "soft"}
        if have is not None:
            before.update(
                {
                    "version": have.version,
                    "id": have.schema_id,
                    "versions": list(have.versions),
                    "schema_type": have.schema_type,
                }
            )
        # Subjects referring to this one (by their latest version, or any the registry
        # named) are deleted first.
        named: set[str] = set()
        if answer is not None:
            named = {s for i in answer.schema_ids for s, _ in answer.usages.get(i, ())}
        referrers = sorted(
            other
            for other in doomed
            if other != name
            and (
                other in named
                or (
                    (other_live := live.subjects.get(other)) is not None
                    and any(r.subject == name for r in other_live.references)
                )
            )
        )
        if hard:
            risk = Risk(
                label=RiskLabel.DATA_LOSS,
                message="hard delete: every version and its schema id are removed for good; "
                "records written with them can no longer be decoded by consumers that have not "
                "cached the schema",
            )
        else:
            risk = Risk(
                label=RiskLabel.SCHEMA_BREAK,
                message="soft delete: producers and consumers that look the subject up by name "
                "fail; its schemas stay readable by id, and registering the same schema again "
                "brings it back",
            )
        part.changes.append(
            Change(
                address=subject_address(name),
                kind=ResourceKind.SUBJECT,
                name=name,
                action=Action.DELETE,
                operation=DeleteSubject(permanent=hard),
                before=before,
                risks=[risk],
                depends_on=[subject_address(other) for other in referrers],
            )
        )


def _still_referred(
    candidates: set[str], answers: Mapping[str, Referrers], *, hard: bool
) -> dict[str, tuple[int, ...]]:
    """The deletion candidates the registry would refuse to delete, with the schemas that
    still refer to them: every referrer the registry lists, except (with ``hard``, when
    referrers are deleted first and for good) a schema only other candidates have. A
    candidate that is kept keeps those it refers to in turn."""
    deletable = set(candidates)
    held: dict[str, tuple[int, ...]] = {}
    while True:
        newly = {}
        for name in sorted(deletable):
            answer = answers.get(name)
            if answer is None:
                continue
            gone = deletable - {name} if hard else set()
            left = tuple(
                i
                for i in answer.schema_ids
                if not (usages := answer.usages.get(i))
                or any(subject not in gone for subject, _ in usages)
            )
            if left:
                newly[name] = left
        if not newly:
            return held
        held.update(newly)
        deletable -= set(newly)


def _schemas(schema_ids: Sequence[int], answer: Referrers) -> str:
    """``schema id 5 (orders-value version 1)``, and the others after it."""
    said = []
    for schema_id in schema_ids:
        usages = answer.usages.get(schema_id, ())
        named = ", ".join(f"{subject} version {version}" for subject, version in usages)
        said.append(f"schema id {schema_id}" + (f" ({named})" if named else ""))
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


def _checked(
    change: Change,
    have: LiveSubject,
    current: str | None,
    target: str | None,
    checks: Checks,
    options: PlanOptions,
    part: PlanPart,
) -> Change | None:
    """A new version of an existing subject, decided with the registry's answers
    (``kafkaplan.live.checks``): registered as planned (with the registry's compatibility
    verdict as errors, warnings or risks), rolled back to the older version the subject
    already has the declared schema as, or kept (None) with a warning."""
    if change.name in checks.unchecked_registrations:
        part.warnings.append(
            Message(
                message="compatibility is checked at apply: the schema refers to a version "
                "this plan registers",
                address=change.address,
                source=change.source,
            )
        )
        return change
    check = checks.schemas.get(change.name)
    if check is None:
        return change
    if check.registered_as is not None and check.registered_as < have.version:
        return _older(change, have, check.registered_as, list(check.versions), options, part)
    if check.denied:
        part.warnings.append(
            Message(
                message="could not check compatibility (permission denied); the registry "
                "checks it at apply",
                address=change.address,
            )
        )
        return change
    if check.unchecked is not None:
        part.warnings.append(
            Message(
                message="compatibility could not be checked: the registry cannot check a "
                f"schema with references (it answered: {check.unchecked}); it enforces the "
                "subject's level when the version is registered at apply",
                address=change.address,
                source=change.source,
            )
        )
        return change
    if check.refusal is not None:
        part.errors.append(
            Message(
                message=f"the registry refuses this schema: {check.refusal.message}",
                address=change.address,
                hint=check.refusal.hint,
            )
        )
        return change
    if check.compatible is None:
        return change
    return _verdict(change, check.compatible, check.reasons, current, target, part)


def _incompatible_hint(change: Change) -> str:
    """What to do about an incompatible schema, true for its format and change: "new fields
    need a default" only for an Avro schema that adds a field without one (the registries
    give no reason for JSON Schema and Protobuf refusals, Apicurio none at all)."""
    after = change.after or {}
    lower = "or lower the subject's compatibility deliberately"
    kind = after.get("schema_type", "AVRO")
    if kind == "AVRO":
        # A field the plan adds, shown as "type" or "type = default".
        added = sorted(
            f.path.removeprefix("fields.")
            for f in change.fields
            if f.path.startswith("fields.")
            and f.before is None
            and f.after is not None
            and " = " not in str(f.after)
        )
        if added:
            verb = "has" if len(added) == 1 else "have"
            return f"new fields need a default ({', '.join(added)} {verb} none), {lower}"
        return (
            "make the change compatible (a field added or removed needs a default, a "
            f"changed type must be one Avro promotes, such as int to long), {lower}"
        )
    if kind == "PROTOBUF":
        return (
            "make the change compatible (keep each field's number and type; reserve the "
            f"numbers of removed fields), {lower}"
        )
    return (
        "make the change compatible (a new version must accept the documents the old one "
        f"accepted under BACKWARD, and the reverse under FORWARD), {lower}"
    )


def _verdict(
    change: Change,
    compatible: bool,
    reasons: tuple[str, ...],
    current: str | None,
    target: str | None,
    part: PlanPart,
) -> Change:
    """The registry checked the schema at the current level; the registration runs at the
    level the plan sets (docs/schemas.md)."""
    reason = "; ".join(reasons) or "the registry gave no reason"
    file = (change.after or {}).get("file")
    where = f"{file}: " if file else ""

    def message(text: str, hint: str | None = None) -> Message:
        return Message(
            message=where + text, address=change.address, source=change.source, hint=hint
        )

    if current is None or target is None or current == target:
        if not compatible:
            part.errors.append(
                message(
                    f"incompatible with the latest registered version under {current}: {reason}",
                    hint=_incompatible_hint(change),
                )
            )
        return change
    if compatible:
        if not implies(current, target):  # the new level is stricter: known only at apply
            part.warnings.append(
                message(
                    f"compatible under the current level {current}; the registry checks it "
                    f"under {target} only when this plan has set that level (at apply)"
                )
            )
        return change
    # Incompatible under the current level.
    if implies(target, current):  # the new level is at least as strict: incompatible there too
        part.errors.append(
            message(
                f"incompatible under {current}, and so under the stricter {target} this plan "
                f"sets: {reason}",
                hint="make the change compatible, or keep a weaker compatibility level",
            )
        )
        return change
    risk = Risk(
        label=RiskLabel.SCHEMA_BREAK,
        message=f"allowed only because compatibility goes {current} -> {target}: under "
        f"{current} the registry refuses it ({reason})",
    )
    if target != "NONE":
        part.warnings.append(
            message(
                f"incompatible under the current level {current} ({reason}); whether "
                f"{target} accepts it is only known at apply, when this plan has set that level"
            )
        )
    return change.model_copy(update={"risks": [*change.risks, risk]})


def _older(
    change: Change,
    have: LiveSubject,
    version: int,
    versions: list[int],
    options: PlanOptions,
    part: PlanPart,
) -> Change | None:
    """The declared schema is an older version of the subject: registries answer a
    registration of it with that version and keep the newer ones. Making it the latest
    again means soft-deleting the newer versions: planned only when the run allows deletes;
    otherwise the subject is kept as it is, with a warning."""
    doomed = sorted(v for v in versions if v > version)
    shown = ("version " if len(doomed) == 1 else "versions ") + ", ".join(map(str, doomed))
    if not options.allow_deletes:
        were = "was" if len(doomed) == 1 else "were"
        part.warnings.append(
            Message(
                message=f"the declared schema is version {version} of this subject; "
                f"{shown} {were} registered outside the specs: kept, because deletes are not "
                "enabled for this run",
                address=change.address,
                source=change.source,
                hint="pass --allow-deletes to soft-delete the newer versions so that "
                f"version {version} is the latest again, or declare the newer schema",
            )
        )
        return None
    risk = Risk(
        label=RiskLabel.SCHEMA_BREAK,
        message=f"soft-deletes {shown}, registered outside the specs: clients that "
        f"use the latest version get version {version} again; records written with the newer "
        "versions stay readable by their schema ids",
    )
    return change.model_copy(
        update={
            "operation": RollBackSchema(version=version, delete_versions=doomed),
            "fields": [
                FieldChange(path="version", before=have.version, after=f"{version} (rollback)"),
                *change.fields,
            ],
            "risks": [*change.risks, risk],
        }
    )
