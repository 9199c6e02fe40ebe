"""SCRAM users end to end against the in-memory cluster: spec checks, plans, apply,
rotation, deletion, drift, import, and that no password reaches any output."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kafkaplan import commands
from kafkaplan.apply.runner import ApplyReport, Outcome, Status
from kafkaplan.apply.settle import settle
from kafkaplan.errors import ClusterTransient, SpecError
from kafkaplan.live.cluster import ScramChange
from kafkaplan.live.retry import RetryingCluster, RetryPolicy
from kafkaplan.live.state import LiveState
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.drift import compute_drift
from kafkaplan.plan.model import Action, Plan, SetScramCredentials
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.conftest import PROJECT, MakeProject
from tests.conftest import run_cli as run
from tests.fakes import Fault, MemoryCluster

PASSWORD = "s3cr3t-Horse-battery-9f2c"
NEW_PASSWORD = "n3w-Staple-correct-77aa"

USERS = """\
users:
  - name: billing
    mechanism: SCRAM-SHA-512
    iterations: 8192
    password_env: BILLING_PASSWORD
  - name: reports
    mechanism: [SCRAM-SHA-256, SCRAM-SHA-512]
    password_env: REPORTS_PASSWORD
"""


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    fake = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    return fake


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_PASSWORD", PASSWORD)
    monkeypatch.setenv("REPORTS_PASSWORD", PASSWORD + "-r")


def _plan(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Plan:
    code, out, err = run(project, "plan", "--format", "json", *args, capsys=capsys)
    assert code in (0, 1), err
    return Plan.model_validate_json(out)


# -- spec -----------------------------------------------------------------------------------


def test_user_spec_problems_are_reported_at_their_line(make_project: MakeProject) -> None:
    project = make_project(
        {
            "u.yaml": """\
            users:
              - name: a
                iterations: 4095
                password_env: A_PASSWORD
              - name: b
                password_env: not a variable
              - name: c
                password_env: C_PASSWORD
              - name: c
                password_env: C_PASSWORD
              - name: d
                mechanism: SCRAM-SHA-1
                password_env: D_PASSWORD
            """
        }
    )
    with pytest.raises(SpecError) as raised:
        load_desired(load_project(project), None)
    lines = sorted({d.line or 0 for d in raised.value.diagnostics})
    assert lines == [3, 6, 9, 12], raised.value.diagnostics
    messages = " | ".join(str(d) for d in raised.value.diagnostics)
    assert "specs/u.yaml:3" in messages
    assert "4096" in messages
    assert "'not a variable' is not an environment variable name" in messages
    assert "user 'c' is declared twice (hint: first declared at specs/u.yaml:7)" in messages
    assert "specs/u.yaml:12: users.4.mechanism" in messages


def test_users_default_to_sha512_at_4096_iterations(make_project: MakeProject) -> None:
    project = make_project({"u.yaml": "users:\n  - name: a\n    password_env: A_PW\n"})
    _, _, desired = load_desired(load_project(project), None)
    assert dict(desired.users["a"].mechanisms) == {"SCRAM-SHA-512": 4096}


# -- plan and apply -------------------------------------------------------------------------


def test_a_new_user_is_created_with_the_password_of_its_variable(
    make_project: MakeProject,
    cluster: MemoryCluster,
    passwords: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"u.yaml": USERS})

    code, out, _ = run(project, "plan", capsys=capsys)

    assert code == 0
    assert "+ user.billing   (specs/u.yaml:2)" in out
    assert "mechanisms.SCRAM-SHA-512  8192" in out
    assert "password                  set from $BILLING_PASSWORD" in out
    assert run(project, "apply", "--auto-approve", capsys=capsys)[0] == 0
    assert cluster.scram_users == {
        "billing": {"SCRAM-SHA-512": 8192},
        "reports": {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 4096},
    }
    assert cluster.scram_passwords[("billing", "SCRAM-SHA-512")] == PASSWORD
    assert cluster.scram_passwords[("reports", "SCRAM-SHA-256")] == PASSWORD + "-r"
    code, out, _ = run(project, "plan", capsys=capsys)
    assert "No changes." in out


def test_an_existing_users_password_is_never_set_again_without_rotation(
    make_project: MakeProject,
    cluster: MemoryCluster,
    passwords: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"u.yaml": USERS})
    assert run(project, "apply", "--auto-approve", capsys=capsys)[0] == 0
    monkeypatch.setenv("BILLING_PASSWORD", NEW_PASSWORD)

    assert not _plan(project, capsys).changes
    assert run(project, "apply", "--auto-approve", capsys=capsys)[0] == 0
    assert cluster.scram_passwords[("billing", "SCRAM-SHA-512")] == PASSWORD

    rotation = _plan(project, capsys, "--rotate-passwords", "--target", "user.billing")
    assert [(c.address, c.action) for c in rotation.changes] == [("user.billing", Action.UPDATE)]
    operation = rotation.changes[0].operation
    assert isinstance(operation, SetScramCredentials)
    assert (operation.rotate, operation.upserts) == (True, {"SCRAM-SHA-512": 8192})
    assert [r.label.value for r in rotation.changes[0].risks] == ["access-loss"]
    code, _, _ = run(
        project,
        "apply",
        "--auto-approve",
        "--rotate-passwords",
        "--target",
        "user.billing",
        capsys=capsys,
    )
    assert code == 0
    assert cluster.scram_passwords[("billing", "SCRAM-SHA-512")] == NEW_PASSWORD
    assert cluster.scram_passwords[("reports", "SCRAM-SHA-512")] == PASSWORD + "-r"


def test_mechanism_and_iteration_changes_are_upserts_that_need_the_password(
    make_project: MakeProject,
    cluster: MemoryCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster.scram_users = {
        "billing": {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 4096},
        "reports": {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 4096},
    }
    project = make_project({"u.yaml": USERS})

    plan = _plan(project, capsys)

    assert [m.message for m in plan.errors] == [
        "user 'billing' needs its password (its mechanisms or iterations change, which sets "
        "the password again), but environment variable BILLING_PASSWORD is not set"
    ]
    assert plan.errors[0].source == "specs/u.yaml:2"
    change = plan.changes[0]
    assert isinstance(change.operation, SetScramCredentials)
    assert change.operation.upserts == {"SCRAM-SHA-512": 8192}
    assert change.operation.deletions == ["SCRAM-SHA-256"]
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("mechanisms.SCRAM-SHA-256", 4096, None),
        ("mechanisms.SCRAM-SHA-512", 4096, 8192),
        ("password", "(never shown)", "set from $BILLING_PASSWORD"),
    ]
    monkeypatch.setenv("BILLING_PASSWORD", PASSWORD)
    assert run(project, "apply", "--auto-approve", capsys=capsys)[0] == 0
    assert cluster.scram_users["billing"] == {"SCRAM-SHA-512": 8192}


def test_a_missing_variable_for_a_new_user_is_a_plan_error_naming_both(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"u.yaml": USERS})
    code, out, _ = run(project, "plan", capsys=capsys)
    assert code == 1
    assert (
        "specs/u.yaml:2: user.billing: user 'billing' needs its password (it is created), "
        "but environment variable BILLING_PASSWORD is not set (hint: export BILLING_PASSWORD"
    ) in out
    assert cluster.scram_users == {}


def test_a_saved_plan_reads_the_password_when_applied(
    make_project: MakeProject,
    cluster: MemoryCluster,
    passwords: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"u.yaml": USERS})
    planfile = tmp_path / "plan.json"
    assert run(project, "plan", "--out", str(planfile), capsys=capsys)[0] == 0
    monkeypatch.delenv("BILLING_PASSWORD")

    code, out, err = run(project, "apply", str(planfile), capsys=capsys)

    assert code == 1
    assert "user.billing" in out + err
    assert "environment variable BILLING_PASSWORD, which is not set" in out + err
    assert "billing" not in cluster.scram_users
    assert cluster.scram_users["reports"] == {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 4096}


OWNED = PROJECT + "owned_user_prefixes: [svc-]\nprotect: [user.svc-keep*]\n"


def test_undeclared_owned_users_are_deleted_only_with_allow_deletes_and_never_if_protected(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.scram_users = {
        "svc-old": {"SCRAM-SHA-512": 4096},
        "svc-keep": {"SCRAM-SHA-256": 4096},
        "other": {"SCRAM-SHA-512": 4096},
    }
    project = make_project({"u.yaml": "topics: []\n"}, project=OWNED)

    kept = _plan(project, capsys)
    assert not kept.changes
    assert {w.address for w in kept.warnings} == {"user.svc-keep", "user.svc-old"}
    assert kept.unmanaged == ["user.other"]

    deleting = _plan(project, capsys, "--allow-deletes")
    assert {(c.address, c.action) for c in deleting.changes} == {
        ("user.svc-keep", Action.DELETE),
        ("user.svc-old", Action.DELETE),
    }
    assert [e.address for e in deleting.errors] == ["user.svc-keep"]
    assert (
        "protected from deletion (project pattern 'user.svc-keep*')" in deleting.errors[0].message
    )

    cluster.scram_users.pop("svc-keep")
    assert run(project, "apply", "--auto-approve", "--allow-deletes", capsys=capsys)[0] == 0
    assert cluster.scram_users == {"other": {"SCRAM-SHA-512": 4096}}


def test_the_user_kafkaplan_connects_as_is_never_a_deletion_candidate(
    make_project: MakeProject, cluster: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    project_text = PROJECT.replace(
        "bootstrap_servers: 127.0.0.1:1",
        "bootstrap_servers: 127.0.0.1:1\n      security_protocol: SASL_PLAINTEXT\n"
        "      sasl_mechanism: SCRAM-SHA-512\n"
        "      sasl_username: svc-kafkaplan\n      sasl_password_env: KP_PW",
    )
    cluster.scram_users = {"svc-kafkaplan": {"SCRAM-SHA-512": 4096}}
    project = make_project(
        {"u.yaml": "topics: []\n"}, project=project_text + "owned_user_prefixes: [svc-]\n"
    )
    _, _, desired = load_desired(load_project(project), None)
    live = LiveState(cluster_id="c", broker_count=1, topics={}, users=cluster.scram_users)
    plan = compute_plan(desired, live, PlanOptions(allow_deletes=True))
    assert plan.changes == []
    assert plan.unmanaged == ["user.svc-kafkaplan"]


# -- drift and import -----------------------------------------------------------------------


def test_drift_sees_existence_mechanisms_and_iterations(make_project: MakeProject) -> None:
    project = make_project({"u.yaml": USERS}, project=PROJECT + "owned_user_prefixes: [x-]\n")
    _, _, desired = load_desired(load_project(project), None)
    live = LiveState(
        cluster_id="c",
        broker_count=1,
        topics={},
        users={"billing": {"SCRAM-SHA-512": 4096}, "x-extra": {"SCRAM-SHA-256": 4096}},
    )

    report = compute_drift(desired, live)

    assert [(i.kind.value, i.address) for i in report.items] == [
        ("changed", "user.billing"),
        ("missing", "user.reports"),
        ("unmanaged", "user.x-extra"),
    ]
    assert [f.path for f in report.items[0].fields] == ["mechanisms.SCRAM-SHA-512", "password"]


def test_import_writes_placeholders_and_round_trips(
    make_project: MakeProject,
    cluster: MemoryCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster.scram_users = {
        "billing": {"SCRAM-SHA-512": 8192},
        "reports": {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 4096},
    }
    cluster.scram_passwords = {("billing", "SCRAM-SHA-512"): PASSWORD}
    project = make_project({})
    out = tmp_path / "imported"

    code, _, err = run(project, "import", "--out", str(out), "--resources", "users", capsys=capsys)

    assert code == 0, err
    text = (out / "users.yaml").read_text()
    assert "password_env: KAFKAPLAN_PASSWORD_BILLING" in text
    assert "mechanism: [SCRAM-SHA-256, SCRAM-SHA-512]" in text
    assert PASSWORD not in text
    model = load_project(project).model.model_copy(update={"specs": [str(out)]})
    (project.parent / "kafkaplan.yaml").write_text(
        project.read_text().replace("specs: [specs]", f"specs: [{out}]")
    )
    assert model.specs == [str(out)]
    assert not _plan(project, capsys).changes


# -- secrecy --------------------------------------------------------------------------------


def test_no_output_file_or_log_line_holds_a_password(
    make_project: MakeProject,
    cluster: MemoryCluster,
    passwords: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every way a plan or an apply can be shown or saved, with debug logging on, and
    an apply that fails: the password read is in none of them."""
    caplog.set_level(logging.DEBUG)
    project = make_project({"u.yaml": USERS})
    planfile = tmp_path / "plan.json"
    seen: list[str] = []
    for args in (
        ("plan",),
        ("plan", "--format", "json"),
        ("plan", "--format", "markdown"),
        ("plan", "--out", str(planfile)),
        ("--debug", "plan", "--rotate-passwords"),
    ):
        seen.extend(run(project, *args, capsys=capsys)[1:])
    seen.append(planfile.read_text())
    seen.extend(run(project, "--debug", "apply", str(planfile), capsys=capsys)[1:])
    monkeypatch.setenv("BILLING_PASSWORD", NEW_PASSWORD)
    seen.extend(
        run(project, "--debug", "apply", "--auto-approve", "--rotate-passwords", capsys=capsys)[1:]
    )
    # A refused apply: the broker's error text goes into the outcome.
    cluster.denied_operations.add("alter_scram")
    seen.extend(run(project, "apply", "--auto-approve", "--rotate-passwords", capsys=capsys)[1:])
    seen.extend(run(project, "drift", "--format", "json", capsys=capsys)[1:])
    seen.append(caplog.text)
    seen.append(json.dumps([r.getMessage() for r in caplog.records]))
    shown = "\n".join(seen)

    assert "set from $BILLING_PASSWORD" in shown
    assert cluster.scram_passwords[("billing", "SCRAM-SHA-512")] == NEW_PASSWORD
    for secret in (PASSWORD, NEW_PASSWORD, PASSWORD + "-r"):
        assert secret not in shown
    assert repr(cluster).count(PASSWORD) == 0


# -- retries and convergence ----------------------------------------------------------------


def test_a_deletion_resent_after_a_lost_answer_is_rechecked_not_failed() -> None:
    fake = MemoryCluster(scram_users={"svc": {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 4096}})
    lost = ClusterTransient("no answer", resource="user.svc", code="_TIMED_OUT")
    fake.faults.append(Fault("alter_user_scram_credentials", lost, applied=True))
    cluster = RetryingCluster(fake, RetryPolicy.of(2, sleep=lambda _: None))

    results = cluster.alter_user_scram_credentials(
        {"svc": ScramChange(deletions=("SCRAM-SHA-256",))}
    )

    assert results == {"svc": None}
    assert fake.scram_users == {"svc": {"SCRAM-SHA-512": 4096}}
    assert fake.calls.count("alter_user_scram_credentials:1") == 2


def test_an_upsert_without_an_answer_is_sent_again_with_the_same_password() -> None:
    fake = MemoryCluster()
    lost = ClusterTransient("no answer", resource="user.svc", code="_TIMED_OUT")
    fake.faults.append(Fault("alter_user_scram_credentials", lost))
    cluster = RetryingCluster(fake, RetryPolicy.of(2, sleep=lambda _: None))

    results = cluster.alter_user_scram_credentials(
        {"svc": ScramChange(upserts={"SCRAM-SHA-512": 4096}, password=PASSWORD)}
    )

    assert results == {"svc": None}
    assert fake.scram_passwords == {("svc", "SCRAM-SHA-512"): PASSWORD}
    assert PASSWORD not in repr(ScramChange(password=PASSWORD))


def test_apply_waits_until_the_credentials_show(make_project: MakeProject) -> None:
    project = make_project({"u.yaml": USERS})
    _, _, desired = load_desired(load_project(project), None)
    plan = compute_plan(desired, LiveState(cluster_id="c", broker_count=1, topics={}))
    report = ApplyReport(outcomes=[Outcome(c.address, c.action, Status.DONE) for c in plan.changes])
    shown = MemoryCluster()
    ticks = iter(range(100))

    assert settle(
        shown, plan, report, timeout=3, sleep=lambda _: None, clock=lambda: next(ticks)
    ) == [
        "user.billing",
        "user.reports",
    ]
    shown.scram_users = {
        "billing": {"SCRAM-SHA-512": 8192},
        "reports": {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 4096},
    }
    assert settle(shown, plan, report, timeout=3, sleep=lambda _: None) == []
