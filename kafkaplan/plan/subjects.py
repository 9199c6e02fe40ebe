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

from typing import Any

from kafkaplan.live.state import LiveRegistry, LiveState, LiveSubject, fingerprint
from kafkaplan.plan.model import Action, Change, FieldChange, Message, Risk, RiskLabel
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

GLOBAL_ADDRESS = "registry-config.global"
# A reference version the plan cannot know yet: the version it registers for that subject.
PENDING = "latest"


def subject_address(name: str) -> str:
    return f"subject.{name}"


def subject_config_address(name: str) -> str:
    return f"subject-config.{name}"


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


def diff_subjects(desired: DesiredState, live: LiveState, options: PlanOptions) -> PlanPart:
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
                resource_type="registry-config",
                name="global",
                actions=[Action.UPDATE],
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
        references, problems = _references(want, live, registered, depends)
        part.errors.extend(problems)
        if problems:
            continue
        level = want.compatibility or override or planned_global
        current = override or live_global
        change = _subject_change(want, live.subjects.get(name), references, level, current, depends)
        if change is not None:
            registered.add(name)
            part.changes.append(change)

    _owned(desired, live, registry, part, options)
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
        resource_type="subject-config",
        name=want.name,
        actions=[Action.UPDATE if override is not None else Action.CREATE],
        before={"compatibility": override} if override is not None else None,
        after={"compatibility": target},
        fields=[FieldChange(path="compatibility", before=current, after=target)],
        risks=[risk] if risk else [],
        source=str(want.source),
    )


def _references(
    want: DesiredSubject, live: LiveState, registered: set[str], depends: list[str]
) -> tuple[dict[str, dict[str, Any]], list[Message]]:
    """Each reference's subject and version: "latest" is the live latest version, or
    PENDING when this plan registers a new version of that subject."""
    resolved: dict[str, dict[str, Any]] = {}
    problems = []
    for ref in want.references:
        have = live.subjects.get(ref.subject)
        version: int | str
        if ref.version is None:
            if ref.subject in registered:
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
    common = {
        "address": subject_address(want.name),
        "resource_type": "subject",
        "name": want.name,
        "after": after,
        "source": str(want.source),
        "depends_on": sorted(set(depends)),
    }
    if have is None:
        return Change(actions=[Action.CREATE], **common)
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
    return Change(actions=[Action.UPDATE], before=before, fields=fields, risks=risks, **common)


def _show_ref(ref: dict[str, Any] | None) -> str | None:
    return None if ref is None else f"{ref['subject']} version {ref['version']}"


def _owned(
    desired: DesiredState,
    live: LiveState,
    registry: LiveRegistry,
    part: PlanPart,
    options: PlanOptions,
) -> None:
    """Owned subjects no spec declares: deletes when the run allows them, else kept with a
    warning. Subjects a declared schema refers to are kept (and listed as unmanaged)."""
    referenced = {ref.subject for s in desired.subjects.values() for ref in s.references}
    extra = [
        name
        for name in registry.owned_subjects
        if name not in desired.subjects and desired.registry.owns(name)
    ]
    doomed = [name for name in extra if name not in referenced]
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
        part.fingerprints[subject_address(name)] = subject_digest(live, name)
        have = live.subjects.get(name)
        hard = desired.registry.hard_delete
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
        # Subjects referring to this one are deleted first.
        referrers = sorted(
            other
            for other in doomed
            if other != name
            and (other_live := live.subjects.get(other)) is not None
            and any(r.subject == name for r in other_live.references)
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
                resource_type="subject",
                name=name,
                actions=[Action.DELETE],
                before=before,
                risks=[risk],
                depends_on=[subject_address(other) for other in referrers],
            )
        )
