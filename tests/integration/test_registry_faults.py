"""Faults of the Schema Registry in the middle of an apply, against a private stack.

Each trial applies a spec that creates a few topics with value schemas and the shared
subjects those schemas refer to (one with a subject-level compatibility, one referring to
another), so cluster and registry changes are mixed and registrations must follow the
references. ``kafkaplan apply`` runs as a subprocess, and the registry is disturbed once a
randomly chosen number of the trial's subjects exist (observed by polling the registry's
ccompat API from the test, so the product has no test hooks):

- ``stop-registry``: SIGSTOP of the registry (it hangs: kafkaplan's requests time out)
  until kafkaplan has ended, then SIGCONT;
- ``kill-registry``: SIGKILL of the registry, started again on the same storage (the
  private stack keeps its subjects in an H2 file) once kafkaplan has ended.

Then, for every trial: kafkaplan ended within a bounded time, without a traceback; with the
registry at fault it ended with a message saying the apply was interrupted (with an outcome
for every change) or, when the registry stopped before the plan was read, an error naming
the registry; every change reported ``done`` is in effect, and so is every change it
depends on; every change reported ``failed`` or ``skipped`` is not (``unknown`` may be
either); the next ``plan`` shows exactly the work that is left; ``apply`` converges; and a
last plan shows no changes.

``KAFKAPLAN_REGISTRY_FAULT_TRIALS`` (default 4) and ``KAFKAPLAN_REGISTRY_FAULT_SEED`` choose
the trials.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.conftest import (
    EXIT_BOUND_SECONDS,
    Launch,
    PrivateStack,
    assert_done_in_effect,
    assert_not_done_not_in_effect,
    call,
    eventually,
    kafkaplan_command,
    quote,
    reported_outcomes,
    run_kafkaplan,
    transient,
    wait_for_exit,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIALS = int(os.environ.get("KAFKAPLAN_REGISTRY_FAULT_TRIALS", "4"))
SEED = int(os.environ.get("KAFKAPLAN_REGISTRY_FAULT_SEED", "20261128"))
# Fault kinds in rotation, so that every run covers each of them.
KINDS = ["stop-registry", "kill-registry"]
# The level the shared Money subject declares (the registry's global level is BACKWARD).
MONEY_LEVEL = "FULL"

PROJECT = """\
specs: [specs]
default_environment: it
# The other trials' topics share the broker: this project sees only its own prefix.
ignore_topics: ['^(?!PREFIX)']
policy:
  naming:
    pattern: '^[a-z][a-z0-9-]*\\.[a-z][a-z0-9_-]*\\.v[0-9]+$'
lease:
  topic: __kafkaplan_lease.registry-faults
  ttl: 3s
environments:
  it:
    kafka:
      bootstrap_servers: ${env:KAFKAPLAN_BOOTSTRAP_SERVERS}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: admin
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
      timeout: 5s
    schema_registry:
      url: ${env:KAFKAPLAN_SCHEMA_REGISTRY_URL}
      timeout: 5s
    defaults:
      partitions: 1
      replication_factor: 1
"""


@dataclass
class Trial:
    index: int
    kind: str
    prefix: str  # of every topic and subject name, and the Avro namespace
    topics: list[str]  # new topics, each with a value schema
    uses: dict[str, list[str]]  # each subject -> the shared subjects its schema refers to
    batch_size: int | None  # --batch-size, or None for the default
    stop_at: int  # disturb the registry once this many of the subjects exist

    @property
    def money(self) -> str:
        return f"{self.prefix}.Money"

    @property
    def subjects(self) -> list[str]:
        return list(self.uses)

    def addresses(self) -> list[str]:
        """Every change the trial's first plan holds."""
        return [
            *(f"topic.{name}" for name in self.topics),
            f"subject-config.{self.money}",
            *(f"subject.{name}" for name in self.subjects),
        ]

    def depends_on(self, address: str) -> list[str]:
        """What a change needs done first: a subject, the subjects its schema refers to
        (and Money its own level)."""
        kind, _, name = address.partition(".")
        if kind != "subject":
            return []
        needs = [f"subject.{used}" for used in self.uses[name]]
        if name == self.money:
            needs.append(f"subject-config.{name}")
        return needs


def make_trial(index: int) -> Trial:
    rng = random.Random(SEED * 1000 + index)
    prefix = f"r{index}x{uuid.uuid4().hex[:6]}"
    money, address, customer = (f"{prefix}.{t}" for t in ("Money", "Address", "Customer"))
    topics = [f"{prefix}t{i}.events.v1" for i in range(rng.randint(2, 5))]
    uses = {money: [], address: [], customer: [address]}
    for topic in topics:
        uses[f"{topic}-value"] = sorted(rng.sample([money, customer], rng.randint(0, 2)))
    return Trial(
        index=index,
        kind=KINDS[index % len(KINDS)],
        prefix=prefix,
        topics=topics,
        uses=uses,
        batch_size=rng.choice([1, 2, None]),
        stop_at=rng.randint(0, len(uses)),
    )


def record(name: str, namespace: str, fields: list[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": namespace,
            "fields": [{"name": n, "type": t} for n, t in fields],
        },
        indent=2,
    )


def write_project(root: Path, trial: Trial) -> None:
    """The project, the spec and a schema file per subject; references are left to
    kafkaplan's detection (an Avro type used but not defined)."""
    schemas = root / "specs" / "schemas"
    schemas.mkdir(parents=True)
    (root / "kafkaplan.yaml").write_text(PROJECT.replace("PREFIX", trial.prefix))
    p = trial.prefix
    (schemas / "money.avsc").write_text(
        record("Money", p, [("cents", "long"), ("currency", "string")])
    )
    (schemas / "address.avsc").write_text(record("Address", p, [("street", "string")]))
    (schemas / "customer.avsc").write_text(
        record("Customer", p, [("name", "string"), ("address", f"{p}.Address")])
    )
    spec = ["topics:"]
    for i, topic in enumerate(trial.topics):
        fields = [("id", "string")] + [
            (used.rpartition(".")[2].lower(), used) for used in trial.uses[f"{topic}-value"]
        ]
        (schemas / f"event{i}.avsc").write_text(record(f"Event{i}", p, fields))
        spec += [f"  - name: {topic}", f"    value_schema: schemas/event{i}.avsc"]
    spec += [
        "subjects:",
        f"  - name: {trial.money}",
        "    file: schemas/money.avsc",
        f"    compatibility: {MONEY_LEVEL}",
        f"  - name: {p}.Address",
        "    file: schemas/address.avsc",
        f"  - name: {p}.Customer",
        "    file: schemas/customer.avsc",
    ]
    (root / "specs" / "main.yaml").write_text("\n".join(spec) + "\n")


def count_existing(stack: PrivateStack, subjects: list[str]) -> int:
    status, body = call(f"{stack.registry_url}/subjects", timeout=5)
    assert status == 200, (status, body)
    return len(set(subjects) & set(body))


def ground_truth(stack: PrivateStack, admin: AdminClient, trial: Trial) -> dict[str, bool]:
    """Per address of the trial: is its planned change in effect?"""
    live = admin.list_topics(timeout=10).topics
    truth = {f"topic.{name}": name in live for name in trial.topics}
    for subject in trial.subjects:
        status, body = call(
            f"{stack.registry_url}/subjects/{quote(subject)}/versions/latest", timeout=5
        )
        assert status in (200, 404), (subject, status, body)
        truth[f"subject.{subject}"] = status == 200
    status, body = call(f"{stack.registry_url}/config/{quote(trial.money)}", timeout=5)
    assert status in (200, 404), (trial.money, status, body)
    truth[f"subject-config.{trial.money}"] = (
        status == 200 and body.get("compatibilityLevel") == MONEY_LEVEL
    )
    return truth


@pytest.mark.parametrize("index", range(TRIALS))
def test_registry_fault_during_apply_converges(
    private_stack: PrivateStack, tmp_path: Path, index: int
) -> None:
    trial = make_trial(index)
    stack = private_stack
    admin = stack.admin()
    root = tmp_path / "project"
    write_project(root, trial)
    stack.wait_registry_ready()

    batches = [] if trial.batch_size is None else ["--batch-size", str(trial.batch_size)]
    started = time.monotonic()
    process = subprocess.Popen(
        kafkaplan_command(root, "apply", "--auto-approve", "--lease-wait", "10s", *batches),
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Disturb the registry once `stop_at` of the trial's subjects exist.
    disturbed = stopped = False
    launch: Launch | None = None
    try:
        # (A run that never gets that far is left to wait_for_exit's bound.)
        while process.poll() is None and time.monotonic() - started < EXIT_BOUND_SECONDS:
            try:
                existing = count_existing(stack, trial.subjects)
            except (OSError, http.client.HTTPException) as exc:
                if not transient(exc):
                    raise
                existing = -1  # the registry is busy: poll again
            if existing >= trial.stop_at:
                disturbed = True
                if trial.kind == "stop-registry":
                    stack.signal("registry", signal.SIGSTOP)
                    stopped = True
                else:
                    launch = stack.kill("registry")
                break
            time.sleep(0.01)
        out, err, _ = wait_for_exit(process)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
        if stopped:
            stack.signal("registry", signal.SIGCONT)
        if launch is not None:
            stack.restart("registry", launch)
    stack.wait_registry_ready()
    assert "Traceback" not in out + err, out + err

    reported = reported_outcomes(out)
    if disturbed and process.returncode != 0:
        # The run ends with a message naming what was done and what was not, or, when the
        # registry stopped answering before the plan was read, with an error saying so.
        if "Apply interrupted (" in out:
            assert "Apply interrupted (the registry stopped answering)" in out, out + err
            assert sorted(reported) == sorted(trial.addresses()), out
        else:
            assert "Error: " in err, out + err
            assert "registry" in err, err
            assert reported == {}, out
    else:
        assert process.returncode == 0, out + err
        assert "Apply complete" in out, out + err
        assert sorted(reported) == sorted(trial.addresses()), out
        assert set(reported.values()) == {"done"}, out

    # A change reported done is in effect, and what it depends on was reported done first.
    for address, status in reported.items():
        if status == "done":
            for needed in trial.depends_on(address):
                assert reported[needed] == "done", f"{address} done before {needed}\n{out}"

    def reported_done_in_effect() -> dict[str, bool]:
        truth = ground_truth(stack, admin, trial)
        assert_done_in_effect(reported, truth, out)
        return truth

    eventually(reported_done_in_effect, timeout=30)

    # The next plan shows exactly what is left (a request the registry took before it
    # stopped may still land after SIGCONT: poll until the plan and the registry agree).
    def plan_shows_what_is_left() -> tuple[dict[str, str], dict[str, bool]]:
        plan = run_kafkaplan(stack, root, "plan", "--format", "json")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        planned = {c["address"]: c["action"] for c in json.loads(plan.stdout)["changes"]}
        truth = ground_truth(stack, admin, trial)
        assert sorted(planned) == sorted(a for a, made in truth.items() if not made)
        for address, action in planned.items():
            if not address.startswith("subject-config."):
                assert action == "create", (address, action)
        return planned, truth

    planned, truth = eventually(plan_shows_what_is_left, timeout=30)
    assert_not_done_not_in_effect(reported, truth, out)

    # apply converges, then nothing is left.
    again = run_kafkaplan(stack, root, "apply", "--auto-approve", "--lease-wait", "20s")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    converged = reported_outcomes(again.stdout)
    assert set(converged) <= set(planned), again.stdout
    assert set(converged.values()) <= {"done"}, again.stdout

    def all_in_effect() -> None:
        assert all(ground_truth(stack, admin, trial).values())

    eventually(all_in_effect)
    final = run_kafkaplan(stack, root, "plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr

    counts = {s: sum(v == s for v in reported.values()) for s in sorted(set(reported.values()))}
    print(
        f"trial {index}: {trial.kind} at {trial.stop_at}/{len(trial.subjects)} subjects "
        f"(+{len(trial.topics)} topics, batches of {trial.batch_size or 'default'}): "
        f"{'disturbed' if disturbed else 'finished first'}, exit {process.returncode} "
        f"after {took:.1f}s; reported {counts or 'nothing'}; "
        f"{len(planned)} change(s) left, converged"
    )
    if os.environ.get("KAFKAPLAN_FAULT_SHOW"):
        print(out, err)
