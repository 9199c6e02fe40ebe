"""Ctrl-C (or SIGTERM) at random points of a multi-batch apply, against the real broker and
registry.

Each trial plans topics to create, topic configs to update, partitions to add, ACLs to
create and subjects to register, in batches of two (a dozen batches over five phases), runs
``kafkaplan apply`` as a subprocess and sends it SIGINT or SIGTERM (drawn too) at a point
drawn from a seeded
random generator: once the run has printed a chosen line (its plan, or its n-th outcome),
plus a random extra delay, which is the point of interruption, not a synchronisation.

After every interrupt: the run ended with exit 130 (or 0 with "Apply complete" when it
finished before the signal reached it), with no traceback; what it says is true ("nothing
was changed" only when nothing of the trial exists; otherwise that changes may have been
made); the apply lease was given back (the next apply takes it without waiting) or the
run said it could not; the next ``plan`` shows every change reported failed or skipped
and none reported done; ``apply`` converges; and a last plan shows no changes.

``KAFKAPLAN_INTERRUPT_TRIALS`` (default 10) and ``KAFKAPLAN_INTERRUPT_SEED`` choose the
trials.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from tests.integration.conftest import (
    EXIT_BOUND_SECONDS,
    Project,
    Registry,
    eventually,
    kafkaplan_command,
    partition_count,
    reported_outcomes,
    topic_configs,
)

pytestmark = pytest.mark.integration

TRIALS = int(os.environ.get("KAFKAPLAN_INTERRUPT_TRIALS", "10"))
SEED = int(os.environ.get("KAFKAPLAN_INTERRUPT_SEED", "20261201"))
NEW_TOPICS, UPDATED, GROWN, SUBJECTS = 6, 2, 2, 3
# 6 creates, 2 config updates, 2 partition increases, 12 bindings (two per producer role)
# and 3 subjects: in batches of two, 13 batches over five phases.
CHANGES = NEW_TOPICS + UPDATED + GROWN + 2 * NEW_TOPICS + SUBJECTS
OLD_RETENTION, NEW_RETENTION = "86400000", "172800000"
# The stack's admin with a short lease, so that a lease left behind expires quickly.
LEASE = "lease:\n  ttl: 5s\n  topic: __kafkaplan_lease.{prefix}\n"
START_BOUND_SECONDS = 60  # until the chosen line appears; the run is failed beyond it


@pytest.fixture(scope="module")
def registry(stack: dict[str, str]) -> Registry:
    return Registry(stack["KAFKAPLAN_SCHEMA_REGISTRY_URL"])


@dataclass
class Trial:
    index: int
    # Which line of the run's output starts the countdown: -1 the process start, 0 the plan,
    # n > 0 the n-th outcome line.
    after_line: int
    delay: float  # seconds after that line until the signal
    # Ctrl-C, or a cancelled CI job's SIGTERM (which apply takes as the same).
    signum: signal.Signals = signal.SIGINT


def make_trial(index: int, changes: int) -> Trial:
    rng = random.Random(SEED * 1000 + index)
    after, delay = rng.randint(-1, changes - 1), round(rng.uniform(0.0, 0.4), 3)
    return Trial(index, after, delay, rng.choice([signal.SIGINT, signal.SIGTERM]))


class Reader:
    """The process's stdout line by line (None at its end) and its stderr, read by threads
    so that the test can wait for a line with a bound."""

    def __init__(self, process: subprocess.Popen[str]):
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        assert process.stdout is not None
        assert process.stderr is not None
        out, err = process.stdout, process.stderr

        def pump_out() -> None:
            for line in out:
                self.lines.put(line)
            self.lines.put(None)

        def pump_err() -> None:
            self.err.extend(err)

        self.threads = [threading.Thread(target=f, daemon=True) for f in (pump_out, pump_err)]
        for thread in self.threads:
            thread.start()

    def rest(self) -> tuple[list[str], str]:
        """Once the process ended: the stdout lines not taken yet, and all of stderr."""
        for thread in self.threads:
            thread.join(timeout=10)
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        return rest, "".join(self.err)


@dataclass
class Estate:
    """What a trial's plan changes, and how to tell what is in effect."""

    project: Project
    admin: AdminClient
    registry: Registry
    principal: str

    @property
    def new(self) -> list[str]:
        return [self.project.name(f"new{i}") for i in range(NEW_TOPICS)]

    @property
    def updated(self) -> list[str]:
        return [self.project.name(f"old{i}") for i in range(UPDATED)]

    @property
    def grown(self) -> list[str]:
        return [self.project.name(f"grow{i}") for i in range(GROWN)]

    @property
    def subjects(self) -> list[str]:
        return [f"{self.project.prefix}s{i}-value" for i in range(SUBJECTS)]

    def acl_filter(self) -> AclBindingFilter:
        anything: Any = None
        return AclBindingFilter(
            ResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            self.principal,
            anything,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )

    def anything_changed(self) -> list[str]:
        """What of the plan is in effect (an empty list: nothing)."""
        live = self.admin.list_topics(timeout=10).topics
        found = [name for name in self.new if name in live]
        found += [
            name
            for name in self.updated
            if topic_configs(self.admin, name)["retention.ms"][0] == NEW_RETENTION
        ]
        found += [name for name in self.grown if partition_count(self.admin, name) != 1]
        if self.admin.describe_acls(self.acl_filter(), request_timeout=10).result():
            found.append(f"ACLs of {self.principal}")
        registered = set(self.registry.subjects())
        found += [subject for subject in self.subjects if subject in registered]
        return found

    def spec(self) -> str:
        topics = "".join(
            f"  - name: {name}\n    configs: {{retention.ms: {NEW_RETENTION}}}\n"
            for name in [*self.new, *self.updated]
        ) + "".join(f"  - name: {name}\n    partitions: 3\n" for name in self.grown)
        acls = "".join(
            f"  - principal: {self.principal}\n    role: producer\n    topics: [{name}]\n"
            for name in self.new
        )
        subjects = "".join(
            f"  - name: {subject}\n    file: s{i}.avsc\n" for i, subject in enumerate(self.subjects)
        )
        return f"topics:\n{topics}acls:\n{acls}subjects:\n{subjects}"

    def set_up(self) -> None:
        existing = [
            NewTopic(name, 1, 1, config={"retention.ms": OLD_RETENTION}) for name in self.updated
        ] + [NewTopic(name, 1, 1) for name in self.grown]
        for future in self.admin.create_topics(existing).values():
            future.result()

        def visible() -> None:
            live = self.admin.list_topics(timeout=10).topics
            assert all(topic.topic in live for topic in existing)

        eventually(visible)
        for i in range(SUBJECTS):
            self.project.write(
                f"specs/s{i}.avsc",
                json.dumps(
                    {
                        "type": "record",
                        "name": f"Event{i}",
                        "namespace": f"it.{self.project.prefix}",
                        "fields": [{"name": "id", "type": "string"}],
                    }
                ),
            )
        self.project.specs(self.spec())

    def tear_down(self) -> None:
        for future in self.admin.delete_acls([self.acl_filter()]).values():
            future.result()
        self.registry.purge(self.project.prefix)


@pytest.fixture
def estate(
    make_project: Callable[..., Project], admin: AdminClient, registry: Registry
) -> Iterator[Estate]:
    project = make_project()
    project_file = project.root / "kafkaplan.yaml"
    text = project_file.read_text()
    head = text[: text.index("lease:\n")]
    project_file.write_text(head + LEASE.format(prefix=project.prefix))
    estate = Estate(project, admin, registry, f"User:it-{project.prefix}")
    estate.set_up()
    try:
        yield estate
    finally:
        estate.tear_down()


def planned_addresses(project: Project) -> set[str]:
    plan = project.run("plan", "--format", "json")
    assert plan.code == 0, plan.out + plan.err
    return {change["address"] for change in json.loads(plan.out)["changes"]}


@pytest.mark.parametrize("index", range(TRIALS))
def test_interrupt_at_a_random_point_tells_the_truth(
    estate: Estate, stack: dict[str, str], index: int
) -> None:
    project = estate.project
    trial = make_trial(index, CHANGES)

    process = subprocess.Popen(
        kafkaplan_command(
            project.root, "apply", "--auto-approve", "--batch-size", "2", "--lease-wait", "0s"
        ),
        env={**stack, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = Reader(process)
    lines = reader.lines
    seen: list[str] = []
    outcomes = 0
    deadline = time.monotonic() + START_BOUND_SECONDS
    reached = trial.after_line < 0
    while not reached:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            pytest.fail(f"trial {index}: no line {trial.after_line} within the bound:\n{seen}")
        if line is None:
            lines.put(None)  # for reader.rest()
            break  # the run ended before the chosen line
        seen.append(line)
        if trial.after_line == 0 and line.startswith("Plan:"):
            reached = True
        elif reported_outcomes(line):
            outcomes += 1
            reached = outcomes >= trial.after_line > 0
    signalled = False
    if reached:
        time.sleep(trial.delay)  # the point of interruption, drawn at random
        if process.poll() is None:
            process.send_signal(trial.signum)
            signalled = True
    try:
        process.wait(timeout=EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"kafkaplan did not end within {EXIT_BOUND_SECONDS}s after {trial.signum!r}")
    rest, err = reader.rest()
    out = "".join(seen + rest)
    everything = out + err
    assert "Traceback" not in everything, everything
    assert "Exception ignored" not in everything, everything
    assert "Internal error" not in everything, everything

    if process.returncode == 0:
        # The run finished before the interrupt reached it.
        assert "Apply complete" in out, everything
    else:
        assert signalled, everything
        assert process.returncode == 130, f"exit {process.returncode}\n{everything}"
        if "nothing was changed" in everything:
            assert estate.anything_changed() == [], everything
        else:
            assert "may have been made" in err or "Apply interrupted (interrupted)" in out, (
                everything
            )

    # Whatever the run said it did is what the next plan sees: nothing it reported done
    # is planned again, everything it reported failed or skipped is.
    reported = reported_outcomes(out)

    def next_plan_agrees() -> set[str]:
        left = planned_addresses(project)
        again = {a for a, status in reported.items() if status == "done" and a in left}
        assert not again, f"reported done, planned again: {sorted(again)}\n{everything}"
        missing = {
            a for a, status in reported.items() if status in ("failed", "skipped") and a not in left
        }
        assert not missing, f"reported not done, not planned: {sorted(missing)}\n{everything}"
        return left

    left = eventually(next_plan_agrees, timeout=30)
    assert len(reported) in (0, CHANGES), everything  # a report names every change, or none

    # The lease was given back (the next apply takes it at once) or the run said so.
    kept = "could not give back the apply lease" in err
    applied = project.run("apply", "--auto-approve", "--lease-wait", "30s" if kept else "0s")
    assert applied.code == 0, applied.out + applied.err + "\n--- interrupted run:\n" + everything
    assert kept or "took over an expired apply lease" not in applied.err, applied.err
    final = project.run("plan", "--detailed-exitcode")
    assert final.code == 0, final.out + final.err
    print(
        f"trial {index}: after line {trial.after_line} + {trial.delay}s: "
        f"exit {process.returncode}, {len(reported)} outcome(s) reported "
        f"{sorted(set(reported.values()))}, {len(left)} of {CHANGES} change(s) left"
    )
