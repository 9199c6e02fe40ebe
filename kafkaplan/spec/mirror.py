"""Disaster-recovery parity: what a mirror cluster should hold, from the source's specs.

An environment with ``mirror_of: prod`` expects, for every topic the specs declare for
``prod``, the mirrored topic (named by the replication policy: ``prod.orders.created.v1``
under MirrorMaker 2's default policy, ``orders.created.v1`` under the identity policy) with
the same partitions and the same declared configs, and the ACL bindings of the principals
that fail over (``failover_principals``), with topic names as the policy names them. Its
own replication factor default applies (a smaller DR cluster may keep fewer copies).
Schema Registry subjects are not mirrored by this (the registry has its own replication).
"""

from __future__ import annotations

from msgspec.structs import replace

from kafkaplan.spec.acls import Binding, DesiredAcls, PatternType, ResourceType
from kafkaplan.spec.desired import DesiredState, RegistrySettings
from kafkaplan.spec.project import Environment


def topic_name(environment: Environment, source_name: str, topic: str) -> str:
    """The name of ``topic`` on the mirror of environment ``source_name``."""
    policy = environment.replication_policy
    if policy.type == "identity":
        return topic
    return f"{policy.source_alias or source_name}{policy.separator}{topic}"


def _binding(environment: Environment, source_name: str, binding: Binding) -> Binding:
    if binding.resource_type is not ResourceType.TOPIC:
        return binding
    if binding.pattern_type is PatternType.LITERAL and binding.resource_name == "*":
        return binding
    return replace(
        binding, resource_name=topic_name(environment, source_name, binding.resource_name)
    )


def mirrored_state(
    source: DesiredState, source_name: str, environment: Environment
) -> DesiredState:
    """The desired state of the mirror ``environment`` of ``source`` (loaded for
    ``source_name``)."""
    rf = environment.defaults.replication_factor
    topics = {}
    for topic in source.topics.values():
        name = topic_name(environment, source_name, topic.name)
        topics[name] = replace(topic, name=name, replication_factor=rf or topic.replication_factor)
    failover = frozenset(environment.failover_principals)
    bindings = {
        _binding(environment, source_name, binding): where
        for binding, where in source.acls.bindings.items()
        if binding.principal in failover
    }
    scopes = tuple(
        scope if scope.external else replace(scope, principals=scope.principals & failover)
        for scope in source.acls.scopes
        if scope.external or scope.principals & failover
    )
    acls = DesiredAcls(
        bindings=bindings, scopes=scopes, protected_principals=source.acls.protected_principals
    )
    return DesiredState(
        topics=topics,
        ignore_topics=source.ignore_topics,
        owned_topic_prefixes=tuple(
            topic_name(environment, source_name, prefix) for prefix in source.owned_topic_prefixes
        ),
        acls=acls,
        subjects={},
        registry=RegistrySettings(),
    )
