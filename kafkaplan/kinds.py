"""The kinds of resource kafkaplan manages, and their addresses.

An address (``topic.orders.created.v1``, ``subject.orders.created.v1-value``) names one
resource in plans, drift reports, errors and ``--target`` patterns. It is an identifier to
read and compare, never to parse: changes carry their kind and name as fields.
"""

from __future__ import annotations

from enum import StrEnum


class ResourceKind(StrEnum):
    """What a change is about; the first part of its address."""

    TOPIC = "topic"
    ACL = "acl"
    SUBJECT = "subject"
    SUBJECT_CONFIG = "subject-config"
    REGISTRY_CONFIG = "registry-config"
    # Replication throttle rates left on a broker by an interrupted reassignment.
    BROKER = "broker"
    # A SCRAM user: its credentials (mechanisms and iterations; the password is never read).
    USER = "user"
    # A group's configs (consumer, share or streams group; Kafka 4.0+).
    GROUP = "group"
    # A client quota entity (user, client id, user + client id, IP; or a default).
    QUOTA = "quota"

    @property
    def in_registry(self) -> bool:
        """Held by the Schema Registry (else by the Kafka cluster)."""
        return self in _REGISTRY_KINDS

    def address(self, name: str) -> str:
        return f"{self.value}.{name}"


_REGISTRY_KINDS = frozenset(
    {ResourceKind.SUBJECT, ResourceKind.SUBJECT_CONFIG, ResourceKind.REGISTRY_CONFIG}
)


def kind_of(address: str) -> ResourceKind | None:
    """The kind an address names (None for an address of no known kind)."""
    prefix = address.partition(".")[0]
    try:
        return ResourceKind(prefix)
    except ValueError:
        return None


def topic_address(name: str) -> str:
    return ResourceKind.TOPIC.address(name)


def subject_address(name: str) -> str:
    return ResourceKind.SUBJECT.address(name)


def subject_config_address(name: str) -> str:
    return ResourceKind.SUBJECT_CONFIG.address(name)


def broker_address(broker: int | str) -> str:
    return ResourceKind.BROKER.address(str(broker))


def user_address(name: str) -> str:
    return ResourceKind.USER.address(name)


def group_address(group_id: str) -> str:
    return ResourceKind.GROUP.address(group_id)


# The registry's own compatibility level.
GLOBAL_ADDRESS = ResourceKind.REGISTRY_CONFIG.address("global")
