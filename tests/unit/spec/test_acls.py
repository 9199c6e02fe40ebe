"""ACLs: role expansion, validation with file:line, the set diff, ownership, delete gating,
apply order and convergence — against the in-memory cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaplan.apply.runner import Status, Targets, apply_plan
from kafkaplan.errors import SpecError
from kafkaplan.kinds import ResourceKind
from kafkaplan.live.read import read_addresses, read_live
from kafkaplan.plan.compute import compute_plan, live_fingerprints
from kafkaplan.plan.model import Action, Plan, RiskLabel
from kafkaplan.plan.options import PlanOptions
from kafkaplan.render import render_markdown, render_text
from kafkaplan.spec.acls import (
    Binding,
    DesiredAcls,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    Scope,
    acl_address,
)
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.conftest import PROJECT, MakeProject
from tests.conftest import run_cli as run
from tests.fakes import MemoryCluster

T, G, C, X = (
    ResourceType.TOPIC,
    ResourceType.GROUP,
    ResourceType.CLUSTER,
    ResourceType.TRANSACTIONAL_ID,
)
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
Op = Operation
ALLOW, DENY = Permission.ALLOW, Permission.DENY


def b(
    principal: str,
    resource_type: ResourceType,
    pattern: PatternType,
    name: str,
    operation: Operation,
    permission: Permission = ALLOW,
    host: str = "*",
) -> Binding:
    return Binding(principal, resource_type, pattern, name, operation, permission, host)


def bindings_of(make_project: MakeProject, spec: str, project: str = PROJECT) -> set[Binding]:
    _, _, desired = load_desired(load_project(make_project({"a.yaml": spec}, project)), None)
    return set(desired.acls.bindings)


def problems(make_project: MakeProject, spec: str, project: str = PROJECT) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_desired(load_project(make_project({"a.yaml": spec}, project)), None)
    return [str(d) for d in info.value.diagnostics]


# --- Roles expand to exactly the bindings a client needs -------------------------------------


def test_consumer_role(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: User:billing
        role: consumer
        topics: [orders.created.v1]
        topic_prefixes: [payments.]
        group: billing
    """
    assert bindings_of(make_project, spec) == {
        b("User:billing", T, LIT, "orders.created.v1", Op.READ),
        b("User:billing", T, LIT, "orders.created.v1", Op.DESCRIBE),
        b("User:billing", T, PRE, "payments.", Op.READ),
        b("User:billing", T, PRE, "payments.", Op.DESCRIBE),
        b("User:billing", G, LIT, "billing", Op.READ),
    }


def test_consumer_group_by_prefix(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: User:billing
        role: consumer
        topics: [orders.created.v1]
        group_prefix: billing-
    """
    assert b("User:billing", G, PRE, "billing-", Op.READ) in bindings_of(make_project, spec)


def test_producer_role_needs_nothing_for_idempotence(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: User:checkout
        role: producer
        topic_prefixes: [orders.]
    """
    # No IDEMPOTENT_WRITE on the cluster: since Kafka 3.0 (KIP-679) WRITE on a topic implies
    # it; tests/integration/test_acls.py checks an idempotent producer against Kafka 4.1.
    assert bindings_of(make_project, spec) == {
        b("User:checkout", T, PRE, "orders.", Op.WRITE),
        b("User:checkout", T, PRE, "orders.", Op.DESCRIBE),
    }


def test_transactional_producer_role(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: User:gateway
        role: transactional-producer
        topics: [payments.authorized.v1]
        transactional_id: gateway-tx
    """
    assert bindings_of(make_project, spec) == {
        b("User:gateway", T, LIT, "payments.authorized.v1", Op.WRITE),
        b("User:gateway", T, LIT, "payments.authorized.v1", Op.DESCRIBE),
        b("User:gateway", X, LIT, "gateway-tx", Op.WRITE),
        b("User:gateway", X, LIT, "gateway-tx", Op.DESCRIBE),
    }


def test_streams_role(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: User:fraud
        role: streams
        application_id: fraud-detector
        input_topics: [orders.created.v1]
        output_prefixes: [fraud.]
        exactly_once: true
    """
    internal = [Op.READ, Op.WRITE, Op.CREATE, Op.DELETE, Op.DESCRIBE, Op.DESCRIBE_CONFIGS]
    assert bindings_of(make_project, spec) == {
        b("User:fraud", T, LIT, "orders.created.v1", Op.READ),
        b("User:fraud", T, LIT, "orders.created.v1", Op.DESCRIBE),
        b("User:fraud", T, PRE, "fraud.", Op.WRITE),
        b("User:fraud", T, PRE, "fraud.", Op.DESCRIBE),
        *(b("User:fraud", T, PRE, "fraud-detector-", op) for op in internal),
        b("User:fraud", G, LIT, "fraud-detector", Op.READ),
        b("User:fraud", X, PRE, "fraud-detector-", Op.WRITE),
        b("User:fraud", X, PRE, "fraud-detector-", Op.DESCRIBE),
    }
    without_eos = bindings_of(make_project, spec.replace("true", "false"))
    assert not any(binding.resource_type is X for binding in without_eos)


def test_compact_raw_form_expands_to_every_combination(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: User:ops
        resource_type: topic
        pattern_type: prefixed
        names: [orders., payments.]
        operations: [describe, DescribeConfigs]
        hosts: ["*", 10.0.0.1]
      - principal: User:ops
        resource_type: cluster
        operations: DESCRIBE
      - principal: User:intruder
        resource_type: Topic
        names: "*"
        operations: ALL
        permission: Deny
    """
    found = bindings_of(make_project, spec)
    assert len(found) == 2 * 2 * 2 + 2
    assert b("User:ops", T, PRE, "payments.", Op.DESCRIBE_CONFIGS, host="10.0.0.1") in found
    assert b("User:ops", C, LIT, "kafka-cluster", Op.DESCRIBE) in found
    assert b("User:intruder", T, LIT, "*", Op.ALL, DENY) in found


def test_example_specs_declare_their_bindings() -> None:
    repo = Path(__file__).resolve().parents[3]
    _, _, desired = load_desired(load_project(repo / "kafkaplan.yaml"), "local")
    found = desired.acls.bindings
    assert found[b("User:billing", G, LIT, "billing", Op.READ)] == "specs/services/checkout.yaml:9"
    assert b("User:checkout", T, PRE, "orders.", Op.WRITE) in found
    assert desired.acls.protected_principals == {"User:admin"}
    assert [s.team for s in desired.acls.scopes] == ["commerce", "data-platform"]


# --- Bad input: every problem with its file and line -----------------------------------------


def test_every_acl_problem_has_its_line(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: billing
        role: consumer
        topics: [orders.created.v1]
        group: billing
      - principal: User:billing
        role: consumer
        topics: [orders.created.v1]
      - principal: User:ops
        resource_type: cluster
        operations: [READ, DESCRIBE]
      - principal: User:ops
        resource_type: cluster
        names: my-cluster
        operations: DESCRIBE
      - principal: user:ops
        resource_type: group
        names: [ops]
        operations: [READ]
      - principal: User:ops
        resource_type: topic
        names: [orders.created.v1]
        operations: [READ, FLY]
        hosts: [ops.example.com]
      - principal: User:ops
        resource_type: transactional-id
        names: [tx]
        operations: [READ]
      - principal: User:app
        role: producer
        topics: [orders.created.v1]
        group: app
      - principal: User:app
        role: admin
    """
    found = problems(make_project, spec)
    expected = [
        "specs/a.yaml:2: malformed principal 'billing': it must be `Type:name`",
        "specs/a.yaml:6: role consumer needs its consumer group",
        "specs/a.yaml:11: READ is not an operation on a cluster resource",
        "specs/a.yaml:14: the cluster resource is named 'kafka-cluster' (literal), not 'my-cluster'",
        "specs/a.yaml:16: unknown principal type 'user' in 'user:ops'",
        "specs/a.yaml:23: unknown operation 'FLY'",
        "specs/a.yaml:24: host 'ops.example.com' is not an IP address",
        "specs/a.yaml:28: READ is not an operation on a transactional-id resource",
        "specs/a.yaml:32: `group` is not used by role producer",
        "specs/a.yaml:34: acls.8.role: Input should be 'consumer', 'producer',",
    ]
    for message in expected:
        assert any(p.startswith(message) for p in found), (message, found)
    assert len(found) == len(expected), found
    assert any("did you mean User:ops?" in p for p in found)
    assert any("valid on a cluster: ALL, ALTER, ALTER_CONFIGS, CLUSTER_ACTION" in p for p in found)


def test_validate_reports_acl_problems(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    from kafkaplan.cli import main

    project = make_project(
        {
            "a.yaml": "acls:\n  - principal: User:x\n    resource_type: cluster\n    operations: READ\n"
        }
    )
    assert main(["--project", str(project), "validate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("specs/a.yaml:4: READ is not an operation on a cluster resource")


OWNERSHIP = (
    PROJECT
    + """\
acls:
  ownership:
    - team: checkout
      principals: [User:checkout]
      resource_prefixes: [orders.]
    - team: payments
      external: true
      resource_prefixes: [orders.payments.]
    - team: platform
      principals: [User:connect]
      resource_prefixes: [connect-]
    - team: empty
    - team: greedy
      resource_prefixes: ["*"]
"""
)


def test_overlapping_and_malformed_ownership(make_project: MakeProject) -> None:
    with pytest.raises(SpecError) as info:
        load_project(make_project({}, OWNERSHIP))
    found = [str(d).partition("/kafkaplan.yaml:")[2] for d in info.value.diagnostics]
    assert found[0].startswith(
        "19: ownership scope of team 'payments' overlaps the scope of team 'checkout' (line 16)"
    ), found
    assert found[1].startswith("25: ownership scope of team 'empty' names no principals"), found
    assert found[2].startswith("27: resource prefix '*' would claim every resource"), found
    assert len(found) == 3, found


def test_owned_scopes_may_overlap_each_other(make_project: MakeProject) -> None:
    """Owned scopes are all managed by this project: only overlaps with another team's
    external scope (managed elsewhere) are conflicts."""
    project = (
        PROJECT
        + """\
acls:
  ownership:
    - team: checkout
      principals: [User:checkout]
    - team: payments
      resource_prefixes: [orders.payments.]
    - team: data-platform
      external: true
      principals: [User:connect]
      resource_prefixes: [connect-]
"""
    )
    load_project(make_project({}, project))


def test_specs_cannot_grant_inside_an_external_scope(make_project: MakeProject) -> None:
    project = (
        PROJECT
        + """\
acls:
  ownership:
    - team: data-platform
      external: true
      principals: [User:connect]
"""
    )
    spec = """\
    acls:
      - principal: User:connect
        role: producer
        topics: [orders.created.v1]
    """
    [problem] = problems(make_project, spec, project)
    assert problem.startswith(
        "specs/a.yaml:2: ALLOW WRITE on topic 'orders.created.v1' for User:connect is inside "
        "the scope of team 'data-platform', which manages its ACLs elsewhere"
    )


# --- The diff --------------------------------------------------------------------------------

SRC = Source("specs/a.yaml", 3)


def desired(
    *bindings: Binding,
    scopes: tuple[Scope, ...] = (),
    protected: frozenset[str] = frozenset(),
    topics: tuple[DesiredTopic, ...] = (),
) -> DesiredState:
    return DesiredState(
        topics={t.name: t for t in topics},
        acls=DesiredAcls(
            bindings=dict.fromkeys(bindings, str(SRC)),
            scopes=scopes,
            protected_principals=protected,
        ),
    )


def plan_for(
    cluster: MemoryCluster,
    state: DesiredState,
    *,
    allow_deletes: bool = True,
    max_destroy: int | None = None,
) -> Plan:
    options = PlanOptions(allow_deletes=allow_deletes, max_destroy=max_destroy)
    return compute_plan(state, read_live(cluster, state), options)


READ_ORDERS = b("User:billing", T, LIT, "orders.created.v1", Op.READ)


def test_missing_binding_is_created_with_address_and_source() -> None:
    plan = plan_for(MemoryCluster(), desired(READ_ORDERS))
    [change] = plan.changes
    assert change.address == "acl.User:billing.topic.literal.orders.created.v1.READ.ALLOW.*"
    assert change.kind is ResourceKind.ACL
    assert change.action is Action.CREATE
    assert change.after == {
        "principal": "User:billing",
        "permission": "ALLOW",
        "operation": "READ",
        "resource_type": "topic",
        "pattern_type": "literal",
        "resource_name": "orders.created.v1",
        "host": "*",
    }
    assert change.source == "specs/a.yaml:3"
    assert plan.resource_fingerprints == {change.address: "absent"}


def test_spelling_and_order_make_no_diff(make_project: MakeProject) -> None:
    spec = """\
    acls:
      - principal: User:billing
        resource_type: TOPIC
        pattern_type: Literal
        names: [orders.created.v1, orders.cancelled.v1]
        operations: [describe, Read]
        permission: ALLOW
    """
    _, _, state = load_desired(load_project(make_project({"a.yaml": spec})), None)
    live = {
        b("User:billing", T, LIT, name, op)
        for name in ("orders.cancelled.v1", "orders.created.v1")
        for op in (Op.READ, Op.DESCRIBE)
    }
    assert set(state.acls.bindings) == live
    plan = plan_for(MemoryCluster(acls=live), state)
    assert plan.changes == []
    assert plan.errors == []


def test_principals_and_names_stay_case_sensitive() -> None:
    cluster = MemoryCluster(acls={b("User:Billing", T, LIT, "Orders.created.v1", Op.READ)})
    plan = plan_for(cluster, desired(READ_ORDERS))
    assert [c.action for c in plan.changes] == [Action.CREATE]
    assert plan.unmanaged == ["acl.User:Billing.topic.literal.Orders.created.v1.READ.ALLOW.*"]


CHECKOUT = Scope("checkout", frozenset({"User:billing"}), ("orders.",))


def test_owned_scope_deletes_and_everything_else_is_unmanaged() -> None:
    stale = b("User:billing", T, LIT, "orders.cancelled.v1", Op.READ)
    other_principal = b("User:audit", T, LIT, "orders.created.v1", Op.READ)
    other_resource = b("User:billing", T, LIT, "payments.settled.v1", Op.READ)
    external = b("User:connect", T, PRE, "connect-", Op.ALL)
    cluster = MemoryCluster(acls={READ_ORDERS, stale, other_principal, other_resource, external})
    scopes = (CHECKOUT, Scope("data", frozenset({"User:connect"}), (), external=True))
    plan = plan_for(cluster, desired(READ_ORDERS, scopes=scopes))
    [change] = plan.changes
    assert change.action is Action.DELETE
    assert change.address == acl_address(stale)
    assert change.before == {**stale.as_dict(), "owner": "checkout"}
    assert [(r.label, r.message) for r in change.risks] == [
        (
            RiskLabel.ACCESS_LOSS,
            "User:billing loses READ on topic 'orders.cancelled.v1' (unless another binding "
            "allows it)",
        )
    ]
    assert plan.unmanaged == [acl_address(other_principal), acl_address(other_resource)]
    assert plan.errors == []


def test_without_ownership_nothing_is_deleted() -> None:
    extra = b("User:billing", T, LIT, "orders.cancelled.v1", Op.READ)
    plan = plan_for(MemoryCluster(acls={extra}), desired(READ_ORDERS))
    assert [c.action for c in plan.changes] == [Action.CREATE]
    assert plan.unmanaged == [acl_address(extra)]


def test_deletes_need_to_be_enabled() -> None:
    stale = b("User:billing", T, LIT, "orders.cancelled.v1", Op.READ)
    plan = plan_for(MemoryCluster(acls={stale}), desired(scopes=(CHECKOUT,)), allow_deletes=False)
    assert plan.changes == []
    assert plan.errors == []
    [warning] = plan.warnings
    assert warning.message == (
        "1 ACL binding in the owned scope is in no spec: kept, because deletes are not enabled "
        f"for this run ({acl_address(stale)})"
    )
    assert "--allow-deletes" in (warning.hint or "")


def test_max_destroy_refuses() -> None:
    live = {b("User:billing", T, LIT, f"orders.x{i}.v1", Op.READ) for i in range(3)}
    state = desired(scopes=(CHECKOUT,))
    [error] = plan_for(MemoryCluster(acls=live), state, max_destroy=2).errors
    assert error.message == "this plan deletes 3 resources, more than the limit of 2"
    assert "--max-destroy" in (error.hint or "")
    assert plan_for(MemoryCluster(acls=live), state, max_destroy=3).errors == []


def test_own_principal_bindings_are_never_deleted() -> None:
    mine = b("User:kafkaplan", C, LIT, "kafka-cluster", Op.ALTER)
    scope = Scope("platform", frozenset({"User:kafkaplan"}))
    state = desired(scopes=(scope,), protected=frozenset({"User:kafkaplan"}))
    plan = plan_for(MemoryCluster(acls={mine}), state)
    [error] = plan.errors
    assert error.address == acl_address(mine)
    assert error.message == (
        "refusing to delete a binding of kafkaplan's own principal User:kafkaplan: kafkaplan "
        "could lock itself out"
    )


def test_new_deny_is_flagged_as_access_loss() -> None:
    deny = b("User:billing", T, LIT, "orders.created.v1", Op.READ, DENY)
    [change] = plan_for(MemoryCluster(), desired(deny)).changes
    assert [r.label for r in change.risks] == [RiskLabel.ACCESS_LOSS]
    assert "is denied READ on topic 'orders.created.v1'" in change.risks[0].message


def test_unsupported_bindings_fail_the_plan_not_the_apply(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kafkaplan import cli, commands

    fake = MemoryCluster(brokers=1, unsupported_acl_types={ResourceType.DELEGATION_TOKEN})
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    spec = """\
    acls:
      - principal: User:ops
        resource_type: delegation-token
        names: [token-1]
        operations: [DESCRIBE]
    """
    project = make_project({"a.yaml": spec})
    code = cli.main(["--project", str(project), "--no-color", "apply", "--auto-approve"])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "specs/a.yaml:2: acl.User:ops.delegation-token.literal.token-1.DESCRIBE.ALLOW.*: "
        "cannot create this binding: this client cannot manage delegation-token ACLs"
    ) in out
    assert fake.acls == set()


def test_unreadable_live_bindings_are_a_warning() -> None:
    cluster = MemoryCluster(unreadable_acls=["User:x ALLOW DESCRIBE on UNKNOWN 'tok'"])
    plan = plan_for(cluster, desired(READ_ORDERS))
    [warning] = plan.warnings
    assert "1 ACL binding(s) of a kind this Kafka client cannot read were left alone" in str(
        warning
    )


def test_acls_are_only_read_when_managed() -> None:
    cluster = MemoryCluster(acls={READ_ORDERS})
    plan = plan_for(cluster, DesiredState(topics={}))
    assert "describe_acls" not in cluster.calls
    assert plan.unmanaged == []


def test_acl_fingerprints_detect_out_of_band_changes() -> None:
    stale = b("User:billing", T, LIT, "orders.cancelled.v1", Op.READ)
    cluster = MemoryCluster(acls={stale})
    plan = plan_for(cluster, desired(READ_ORDERS, scopes=(CHECKOUT,)))
    assert plan.resource_fingerprints == {
        acl_address(READ_ORDERS): "absent",
        acl_address(stale): "present",
    }
    cluster.acls = {READ_ORDERS}  # someone else made both changes meanwhile
    now = live_fingerprints(
        read_addresses(cluster, plan.resource_fingerprints), plan.resource_fingerprints
    )
    assert now == {acl_address(READ_ORDERS): "present", acl_address(stale): "absent"}


# --- Apply -----------------------------------------------------------------------------------


def test_apply_order_topics_then_acl_creates_then_deletes() -> None:
    topic = DesiredTopic("orders.created.v1", 3, 1, {}, SRC)
    stale = b("User:billing", T, LIT, "orders.cancelled.v1", Op.READ)
    cluster = MemoryCluster(acls={stale})
    plan = plan_for(cluster, desired(READ_ORDERS, scopes=(CHECKOUT,), topics=(topic,)))
    cluster.calls.clear()
    report = apply_plan(plan, Targets(cluster=cluster))
    assert report.ok, report.outcomes
    assert cluster.calls == ["create_topics:1:False", "create_acls:1", "delete_acls:1"]
    assert cluster.acls == {READ_ORDERS}


def test_deletes_are_kept_when_the_principals_new_bindings_fail() -> None:
    stale = b("User:billing", T, LIT, "orders.cancelled.v1", Op.READ)
    other = b("User:billing2", T, LIT, "orders.old.v1", Op.READ)
    scope = Scope("checkout", frozenset(), ("orders.",))
    cluster = MemoryCluster(acls={stale, other}, denied_acl_principals={"User:billing"})
    plan = plan_for(cluster, desired(READ_ORDERS, scopes=(scope,)))
    cluster.denied_acl_principals.clear()
    cluster.denied_acl_principals.add("User:billing")
    report = apply_plan(plan, Targets(cluster=cluster))
    by_address = {o.address: o for o in report.outcomes}
    assert by_address[acl_address(READ_ORDERS)].status is Status.FAILED
    assert by_address[acl_address(stale)].status is Status.SKIPPED
    assert "creating new ACLs for User:billing failed" in by_address[acl_address(stale)].detail
    assert by_address[acl_address(other)].status is Status.DONE
    assert cluster.acls == {stale}


# --- Rendering -------------------------------------------------------------------------------


def test_renderers_group_acl_changes_by_principal() -> None:
    stale = b("User:billing", T, LIT, "orders.cancelled.v1", Op.READ)
    write = b("User:checkout", T, PRE, "orders.", Op.WRITE)
    cluster = MemoryCluster(acls={stale})
    plan = plan_for(cluster, desired(write, READ_ORDERS, scopes=(CHECKOUT,)))
    text = render_text(plan)
    billing = text.index("ACLs of User:billing: 1 to create, 1 to delete")
    checkout = text.index("ACLs of User:checkout: 1 to create")
    assert billing < text.index(f"+ {acl_address(READ_ORDERS)}") < checkout
    assert billing < text.index(f"- {acl_address(stale)}") < checkout
    assert "(in team checkout's scope, in no spec)" in text
    assert "! access-loss: User:billing loses READ on topic 'orders.cancelled.v1'" in text
    markdown = render_markdown(plan)
    assert (
        "<details><summary>ACLs of <code>User:billing</code>: 1 to create, 1 to delete "
        "⚠️ access-loss</summary>"
    ) in markdown
    assert "| **+** | ALLOW | READ | topic `orders.created.v1` |" in markdown
    assert "| acl | 2 | 0 | 1 |" in markdown


def test_markdown_splits_large_acl_groups_to_fit() -> None:
    many = [b("User:big", T, LIT, f"t{i:04}.x.v1", Op.READ) for i in range(1000)]
    plan = plan_for(MemoryCluster(), desired(*many))
    markdown = render_markdown(plan, max_chars=20_000)
    assert "(bindings 1-100 of 1000)" in markdown
    assert "more change(s) not shown" in markdown
    assert len(markdown) < 20_000


# --- Convergence -----------------------------------------------------------------------------

principals = st.sampled_from(["User:a", "User:b", "User:kafkaplan"])
universe = st.builds(
    Binding,
    principals,
    st.sampled_from([T, G]),
    st.sampled_from([LIT, PRE]),
    st.sampled_from(["orders.", "orders.x.v1", "pay.y.v1"]),
    st.sampled_from([Op.READ, Op.DESCRIBE]),
    st.sampled_from([ALLOW, DENY]),
    st.sampled_from(["*", "10.0.0.1"]),
)
scopes = st.lists(
    st.builds(
        Scope,
        st.just("team"),
        st.frozensets(st.sampled_from(["User:a", "User:b"]), max_size=1),
        st.sampled_from([(), ("orders.",), ("pay.",)]),
    ).filter(lambda s: bool(s.principals or s.prefixes)),
    max_size=2,
)


@settings(max_examples=300, deadline=None)
@given(st.sets(universe, max_size=8), st.sets(universe, max_size=8), scopes)
def test_apply_then_replan_is_empty_for_acls(
    wanted: set[Binding], existing: set[Binding], owned: list[Scope]
) -> None:
    cluster = MemoryCluster(acls=set(existing))
    state = desired(*wanted, scopes=tuple(owned), protected=frozenset({"User:kafkaplan"}))
    plan = plan_for(cluster, state)
    if plan.errors:  # only ever the own-principal refusal
        assert all("own principal" in e.message for e in plan.errors)
        return
    report = apply_plan(plan, Targets(cluster=cluster))
    assert report.ok, report.outcomes
    again = plan_for(cluster, state)
    assert again.changes == []
    assert again.errors == []
    # Everything outside the owned scopes is untouched, and everything declared exists.
    outside = {x for x in existing if not any(s.matches(x) for s in owned)}
    assert outside | wanted <= cluster.acls
    assert again.unmanaged == plan.unmanaged


# --- The command line ------------------------------------------------------------------------

OWNED_PROJECT = (
    PROJECT
    + """\
acls:
  ownership:
    - team: checkout
      principals: [User:billing]
"""
)
CONSUMER = """\
acls:
  - principal: User:billing
    role: consumer
    topics: [orders.created.v1]
    group: billing
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    from kafkaplan import commands

    cluster = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: cluster)
    return cluster


def test_cli_deletes_only_with_the_flag(
    make_project: MakeProject, fake: MemoryCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": CONSUMER}, OWNED_PROJECT)
    assert run(project, "validate", capsys=capsys)[1] == "Valid: 0 topic(s), 3 ACL binding(s).\n"
    assert run(project, "apply", "--auto-approve", capsys=capsys)[0] == 0
    assert len(fake.acls) == 3
    (project.parent / "specs" / "a.yaml").write_text("acls: []\n")

    code, out, _ = run(project, "apply", "--auto-approve", capsys=capsys)
    assert code == 0
    assert "3 ACL bindings in the owned scope are in no spec: kept" in out
    assert "No changes." in out
    assert len(fake.acls) == 3

    code, out, _ = run(project, "apply", "--auto-approve", "--allow-deletes", capsys=capsys)
    assert code == 0, out
    assert "Apply complete: 3 of 3 changes applied." in out
    assert fake.acls == set()
    assert run(project, "plan", "--detailed-exitcode", capsys=capsys)[0] == 0


def test_cli_saved_plan_is_stale_when_acls_moved(
    make_project: MakeProject,
    fake: MemoryCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({"a.yaml": CONSUMER}, OWNED_PROJECT)
    planfile = tmp_path / "plan.json"
    assert run(project, "plan", "--out", str(planfile), capsys=capsys)[0] == 0
    fake.acls.add(READ_ORDERS)  # granted out of band meanwhile
    code, _, err = run(project, "apply", str(planfile), capsys=capsys)
    assert code == 1
    assert f"saved plan is stale: {acl_address(READ_ORDERS)} changed since it was planned" in err
    assert fake.acls == {READ_ORDERS}
