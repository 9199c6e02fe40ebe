"""Faults in the middle of an apply, at randomly chosen points, against a private stack.

Each trial applies a spec (new topics and config updates) with `kafkaplan apply` run as a
subprocess, and interrupts it once a randomly chosen number of the new topics exist on the
broker (observed by polling the broker from the test, so the product has no test hooks):

- ``kill-kafkaplan``: SIGKILL of kafkaplan itself;
- ``stop-broker``: SIGSTOP of the broker until kafkaplan has given up, then SIGCONT;
- ``kill-broker``: SIGKILL of the broker, restarted on the same data once kafkaplan ended.

Then, for every trial: kafkaplan ended within a bounded time; with the broker at fault it
ended with a message saying the apply was interrupted and what was and was not done;
every change it reported ``done`` is in effect and every change it reported ``failed`` or
``skipped`` is not; the next ``plan`` shows exactly the work that is left; ``apply``
converges (taking over the lease an interrupted run could not give back); and a last plan
shows no changes.

``KAFKAPLAN_FAULT_TRIALS`` (default 10) and ``KAFKAPLAN_FAULT_SEED`` choose the trials.
"""

from __future__ import annotations

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
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.conftest import (
    Launch,
    PrivateStack,
    assert_done_in_effect,
    assert_not_done_not_in_effect,
    eventually,
    kafkaplan_command,
    reported_outcomes,
    run_kafkaplan,
    topic_configs,
    wait_for_exit,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIALS = int(os.environ.get("KAFKAPLAN_FAULT_TRIALS", "10"))
SEED = int(os.environ.get("KAFKAPLAN_FAULT_SEED", "20261128"))
# Fault kinds in rotation, so that every run covers each of them.
KINDS = ["kill-kafkaplan", "stop-broker", "kill-kafkaplan", "kill-broker"]
OLD_RETENTION, NEW_RETENTION = "86400000", "172800000"

PROJECT = """\
specs: [specs]
default_environment: it
policy:
  naming:
    pattern: '^[a-z][a-z0-9-]*\\.[a-z][a-z0-9_-]*\\.v[0-9]+$'
lease:
  ttl: 3s
environments:
  it:
    kafka:
      bootstrap_servers: ${env:KAFKAPLAN_BOOTSTRAP_SERVERS}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: admin
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
      timeout: 2s
      retries: 1
    defaults:
      partitions: 1
      replication_factor: 1
"""


@dataclass
class Trial:
    index: int
    kind: str
    new: list[str]
    updated: list[str]
    batch_size: int
    kill_at: int  # interrupt once this many of the new topics exist


def make_trial(index: int) -> Trial:
    rng = random.Random(SEED * 1000 + index)
    prefix = f"f{index}x{uuid.uuid4().hex[:6]}"
    count = rng.randint(4, 10)
    return Trial(
        index=index,
        kind=KINDS[index % len(KINDS)],
        new=[f"{prefix}new{i}.events.v1" for i in range(count)],
        updated=[f"{prefix}old{i}.events.v1" for i in range(rng.randint(1, 3))],
        batch_size=rng.randint(1, 3),
        kill_at=rng.randint(0, count),
    )


def count_existing(admin: AdminClient, names: list[str]) -> int:
    live = admin.list_topics(timeout=5).topics
    return sum(name in live for name in names)


def ground_truth(admin: AdminClient, trial: Trial) -> dict[str, bool]:
    """Per topic of the trial: is its planned change in effect on the broker?"""
    live = admin.list_topics(timeout=10).topics
    truth = {name: name in live for name in trial.new}
    for name in trial.updated:
        truth[name] = topic_configs(admin, name)["retention.ms"][0] == NEW_RETENTION
    return truth


@pytest.mark.parametrize("index", range(TRIALS))
def test_interrupted_apply_converges(
    private_stack: PrivateStack, tmp_path: Path, index: int
) -> None:
    trial = make_trial(index)
    stack = private_stack
    admin = stack.admin()
    root = tmp_path / "project"
    (root / "specs").mkdir(parents=True)
    (root / "kafkaplan.yaml").write_text(PROJECT)
    existing = [
        NewTopic(name, 1, 1, config={"retention.ms": OLD_RETENTION}) for name in trial.updated
    ]

    def set_up() -> None:
        # The broker may still be recovering from the previous trial's fault.
        for future in admin.create_topics(existing).values():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise AssertionError(f"setting up the trial: {exc}") from exc

    eventually(set_up, timeout=60)
    spec = "topics:\n" + "".join(
        f"  - name: {name}\n    configs: {{retention.ms: {NEW_RETENTION}}}\n"
        for name in [*trial.new, *trial.updated]
    )
    (root / "specs" / "main.yaml").write_text(spec)

    # Interrupt the apply once `kill_at` new topics exist.
    process = subprocess.Popen(
        kafkaplan_command(
            root,
            "apply",
            "--auto-approve",
            "--batch-size",
            str(trial.batch_size),
            "--lease-wait",
            "10s",
        ),
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    interrupted = False
    broker_launch: Launch | None = None
    while process.poll() is None:
        if count_existing(admin, trial.new) >= trial.kill_at:
            interrupted = True
            if trial.kind == "kill-kafkaplan":
                process.kill()
            elif trial.kind == "stop-broker":
                stack.signal("kafka", signal.SIGSTOP)
            else:
                broker_launch = stack.kill("kafka")
            break
        time.sleep(0.01)
    try:
        out, err, took = wait_for_exit(process)
    finally:
        if trial.kind == "stop-broker" and interrupted:
            stack.signal("kafka", signal.SIGCONT)
        if broker_launch is not None:
            stack.restart("kafka", broker_launch)
    stack.wait_ready()
    assert "Traceback" not in out + err, out + err

    reported = {
        address.removeprefix("topic."): status for address, status in reported_outcomes(out).items()
    }
    broker_fault = interrupted and trial.kind != "kill-kafkaplan"
    if broker_fault and process.returncode != 0:
        # The run ends with a message naming what was done and what was not.
        assert "Apply interrupted (" in out or "Error: " in err, out + err
        if "Apply interrupted (" in out:
            assert len(reported) == len(trial.new) + len(trial.updated), out
    if not interrupted or (trial.kind != "kill-kafkaplan" and process.returncode == 0):
        assert "Apply complete" in out, out + err

    # What was reported is true: done is in effect, failed and skipped are not. (Config
    # changes reach DescribeConfigs through the metadata log: allow it a moment.)
    def reported_done_in_effect() -> dict[str, bool]:
        truth = ground_truth(admin, trial)
        assert_done_in_effect(reported, truth, out)
        return truth

    truth = eventually(reported_done_in_effect)
    assert_not_done_not_in_effect(reported, truth, out)

    # The next plan shows exactly what is left.
    def plan_shows_what_is_left() -> dict[str, str]:
        plan = run_kafkaplan(stack, root, "plan", "--format", "json")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        planned = {c["name"]: c["action"] for c in json.loads(plan.stdout)["changes"]}
        truth = ground_truth(admin, trial)
        left = {
            name: "create" if name in trial.new else "update"
            for name, made in truth.items()
            if not made
        }
        assert planned == left
        return planned

    planned = eventually(plan_shows_what_is_left)

    # apply converges (taking over the lease a killed run left behind), then nothing is left.
    again = run_kafkaplan(stack, root, "apply", "--auto-approve", "--lease-wait", "20s")
    assert again.returncode == 0, again.stdout + again.stderr

    def all_in_effect() -> None:
        assert all(ground_truth(admin, trial).values())

    eventually(all_in_effect)
    final = run_kafkaplan(stack, root, "plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr

    print(
        f"trial {index}: {trial.kind} at {trial.kill_at}/{len(trial.new)} new topics "
        f"(+{len(trial.updated)} updates, batches of {trial.batch_size}): "
        f"{'interrupted' if interrupted else 'finished first'}, exit {process.returncode} "
        f"after {took:.1f}s; reported {sorted(set(reported.values()))}; "
        f"{len(planned)} change(s) left, converged"
    )
    if os.environ.get("KAFKAPLAN_FAULT_SHOW"):
        print(out, err)
