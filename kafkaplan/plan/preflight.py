"""Checks that need the network and run after ``compute_plan``, adding errors, warnings
and risks to the plan without changing anything: the broker's dry run of every topic
creation, what this cluster client can do with ACLs, and the registry's compatibility check
of every new schema version (with rollbacks planned where a declared schema is an older
version)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kafkaplan.apply.runner import binding_of, topic_request
from kafkaplan.errors import (
    PermissionDenied,
    RegistryAuthenticationFailed,
    RegistryError,
    RegistryPermissionDenied,
    RegistryUnreachable,
)
from kafkaplan.live.cluster import Cluster
from kafkaplan.live.read import REGISTRY_WORKERS, UntilUnreachable
from kafkaplan.live.registry import CompatibilityResult, Registry, SchemaPayload, SchemaReference
from kafkaplan.plan.model import Action, Change, FieldChange, Message, Plan, Risk, RiskLabel
from kafkaplan.plan.subjects import PENDING
from kafkaplan.spec.schemas import implies


def preflight(plan: Plan, cluster: Cluster) -> tuple[list[Message], list[Message]]:
    """Ask the broker to validate every topic creation without making it (a dry run).

    Returns (errors, warnings). A principal allowed to plan but not to create topics (a
    read-only CI job on pull requests) gets a warning, not an error: the broker's own
    validation then only runs at apply.
    """
    creates = [
        c for c in plan.changes if c.resource_type == "topic" and c.actions == [Action.CREATE]
    ]
    results = cluster.create_topics([topic_request(c) for c in creates], validate_only=True)
    by_name = {c.name: c for c in creates}
    errors, warnings = [], []
    for name, error in sorted(results.items()):
        if error is None:
            continue
        change = by_name[name]
        if isinstance(error, PermissionDenied):
            warnings.append(
                Message(
                    message="could not dry-run the creation (no CREATE permission for this "
                    "principal); the broker validates it at apply",
                    address=change.address,
                    source=change.source,
                )
            )
        else:
            errors.append(
                Message(
                    message=f"the broker would refuse this topic: {error.message}",
                    address=change.address,
                    source=change.source,
                    hint=error.hint,
                )
            )
    return errors, warnings


def acl_preflight(plan: Plan, cluster: Cluster) -> list[Message]:
    """Errors for ACL changes this cluster client cannot carry out (delegation tokens with
    librdkafka, for one), so they fail the plan rather than the apply."""
    errors = []
    for change in plan.changes:
        if change.resource_type != "acl":
            continue
        reason = cluster.acl_unsupported(binding_of(change))
        if reason is not None:
            errors.append(
                Message(
                    message=f"cannot {change.actions[0].value} this binding: {reason}",
                    address=change.address,
                    source=change.source,
                    hint="manage it with kafka-acls.sh and keep it out of the specs",
                )
            )
    return errors


def _payload(change: Change) -> SchemaPayload | None:
    """What registering ``change`` would send; None when a reference's version is one this
    plan registers (not known before apply)."""
    after = change.after or {}
    references = []
    for name, ref in sorted(after.get("references", {}).items()):
        if ref["version"] == PENDING:
            return None
        references.append(SchemaReference(name, str(ref["subject"]), int(ref["version"])))
    return SchemaPayload(str(after["schema_type"]), str(after["schema_text"]), tuple(references))


def _verdict(
    change: Change, result: CompatibilityResult
) -> tuple[Message | None, Message | None, Change]:
    """(error, warning, change with risks) from the registry's check at the current level,
    for a registration that runs at the level the plan sets (docs/schemas.md)."""
    after, before = change.after or {}, change.before or {}
    current, target = before.get("compatibility"), after.get("compatibility")
    reason = "; ".join(result.messages) or "the registry gave no reason"
    where = f"{after.get('file')}: " if after.get("file") else ""

    def message(text: str, hint: str | None = None) -> Message:
        return Message(
            message=where + text, address=change.address, source=change.source, hint=hint
        )

    if current is None or target is None or current == target:
        if result.compatible:
            return None, None, change
        return (
            message(
                f"incompatible with the latest registered version under {current}: {reason}",
                hint="make the change compatible (new fields need a default), or lower the "
                "subject's compatibility deliberately",
            ),
            None,
            change,
        )
    if result.compatible:
        if implies(current, target):  # the new level is weaker: compatible there too
            return None, None, change
        return (
            None,
            message(
                f"compatible under the current level {current}; the registry checks it "
                f"under {target} only when this plan has set that level (at apply)"
            ),
            change,
        )
    # Incompatible under the current level.
    if implies(target, current):  # the new level is at least as strict: incompatible there too
        return (
            message(
                f"incompatible under {current}, and so under the stricter {target} this plan "
                f"sets: {reason}",
                hint="make the change compatible, or keep a weaker compatibility level",
            ),
            None,
            change,
        )
    risk = Risk(
        label=RiskLabel.SCHEMA_BREAK,
        message=f"allowed only because compatibility goes {current} -> {target}: under "
        f"{current} the registry refuses it ({reason})",
    )
    warning = None
    if target != "NONE":
        warning = message(
            f"incompatible under the current level {current} ({reason}); whether {target} "
            "accepts it is only known at apply, when this plan has set that level"
        )
    return None, warning, change.model_copy(update={"risks": [*change.risks, risk]})


def registry_preflight(
    plan: Plan, registry: Registry, *, allow_deletes: bool = False
) -> tuple[list[Message], list[Message], Plan]:
    """Ask the registry whether each new version of an existing subject is compatible,
    without registering anything. Returns (errors, warnings, the plan with risks added).

    The registry checks at the subject's current level; when the plan changes the level,
    ``_verdict`` says what the answer means for the new one (docs/schemas.md).

    A declared schema the subject already has as an older version (someone registered
    newer ones outside the specs) cannot be registered again: registries answer with the
    old version. Making it the latest again means soft-deleting the newer versions, which
    is planned only with ``allow_deletes`` (``_rollback``); otherwise it is kept, with a
    warning."""
    candidates = [
        c for c in plan.changes if c.resource_type == "subject" and c.actions == [Action.UPDATE]
    ]
    errors: list[Message] = []
    warnings: list[Message] = []
    checks = {}
    lookups = {}
    ask = UntilUnreachable()
    with ThreadPoolExecutor(max_workers=REGISTRY_WORKERS) as pool:
        for change in candidates:
            payload = _payload(change)
            if payload is None:
                warnings.append(
                    Message(
                        message="compatibility is checked at apply: the schema refers to a "
                        "version this plan registers",
                        address=change.address,
                        source=change.source,
                    )
                )
                continue
            checks[change.address] = pool.submit(
                ask, change.address, registry.check_compatibility, change.name, payload
            )
            lookups[change.address] = (
                pool.submit(ask, change.address, registry.lookup, change.name, payload),
                pool.submit(ask, change.address, registry.versions, change.name),
            )
        results = {}
        for address, future in checks.items():
            try:
                results[address] = future.result()
            except (RegistryUnreachable, RegistryAuthenticationFailed):
                raise
            except RegistryPermissionDenied:
                warnings.append(
                    Message(
                        message="could not check compatibility (permission denied); the "
                        "registry checks it at apply",
                        address=address,
                    )
                )
            except RegistryError as exc:
                if exc.status is not None and exc.status >= 500:
                    raise
                errors.append(
                    Message(
                        message=f"the registry refuses this schema: {exc.message}",
                        address=address,
                        hint=exc.hint,
                    )
                )
        older: dict[str, tuple[int, list[int]]] = {}
        by_address = {c.address: c for c in candidates}
        for address, (found, versions) in lookups.items():
            try:
                registered, numbers = found.result(), versions.result()
            except (RegistryUnreachable, RegistryAuthenticationFailed):
                raise
            except RegistryError:
                continue  # the compatibility check reports what matters
            latest = (by_address[address].before or {}).get("version")
            if registered is not None and isinstance(latest, int) and registered.version < latest:
                older[address] = (registered.version, numbers)
    changes = []
    for planned in plan.changes:
        if planned.address in older:
            version, numbers = older[planned.address]
            rollback = _rollback(planned, version, numbers)
            if allow_deletes:
                changes.append(rollback)
            else:
                warnings.append(
                    Message(
                        message=f"the declared schema is version {version} of this subject; "
                        f"{_newer(rollback)} registered outside the specs: kept, because "
                        "deletes are not enabled for this run",
                        address=planned.address,
                        source=planned.source,
                        hint="pass --allow-deletes to soft-delete the newer versions so that "
                        f"version {version} is the latest again, or declare the newer schema",
                    )
                )
            continue
        result = results.get(planned.address)
        if result is None or planned.resource_type != "subject":
            changes.append(planned)
            continue
        error, warning, checked = _verdict(planned, result)
        errors.extend([error] if error else [])
        warnings.extend([warning] if warning else [])
        changes.append(checked)
    return errors, warnings, plan.model_copy(update={"changes": changes})


def _newer(change: Change) -> str:
    doomed = (change.after or {})["rollback"]["delete_versions"]
    if len(doomed) == 1:
        return f"version {doomed[0]} was"
    return f"versions {', '.join(str(v) for v in doomed)} were"


def _rollback(change: Change, version: int, versions: list[int]) -> Change:
    """``change`` as a return to ``version``: the newer versions are soft-deleted."""
    doomed = sorted(v for v in versions if v > version)
    latest = (change.before or {}).get("version")
    after = {**(change.after or {}), "rollback": {"version": version, "delete_versions": doomed}}
    shown = ("version " if len(doomed) == 1 else "versions ") + ", ".join(map(str, doomed))
    risk = Risk(
        label=RiskLabel.SCHEMA_BREAK,
        message=f"soft-deletes {shown}, registered outside the specs: clients that "
        f"use the latest version get version {version} again; records written with the newer "
        "versions stay readable by their schema ids",
    )
    return change.model_copy(
        update={
            "after": after,
            "fields": [
                FieldChange(path="version", before=latest, after=f"{version} (rollback)"),
                *change.fields,
            ],
            "risks": [*change.risks, risk],
        }
    )
