"""What the connected Kafka cluster supports: its release line and finalized features.

Everything kafkaplan knows about Kafka versions is here. The cluster's features come from
one ApiVersions request (v3+, KIP-584), which every broker of 3.x and 4.x answers with the
features its software supports and the levels the cluster has finalized. Kafka does not
tell a client its release, but the highest ``metadata.version`` a broker's software
supports is that release's latest production level, so the release line follows from it
(``LEVELS`` below, taken from ``kafka-features version-mapping`` of each release).

It is read only when a plan needs it (groups declared, or a topic config that some
releases lack): a plan of topics, ACLs and subjects makes no extra request.
"""

from __future__ import annotations

from collections.abc import Mapping

from msgspec import Struct, field

Release = tuple[int, int]

# The latest production metadata.version level of each release line (KRaft).
LEVELS: tuple[tuple[int, Release], ...] = (
    (7, (3, 3)),
    (8, (3, 4)),
    (11, (3, 5)),
    (14, (3, 6)),
    (19, (3, 7)),
    (20, (3, 8)),
    (21, (3, 9)),
    (25, (4, 0)),
    (27, (4, 1)),
    (29, (4, 2)),
    (30, (4, 3)),
    (33, (4, 4)),
)

# Topic configs removed from Kafka, with the release that removed them (Kafka 4.0 upgrade
# notes: KIP-724 removed the old message formats and down-conversion, KIP-937 the old
# timestamp bound). A 4.x broker's DescribeConfigs no longer lists them.
REMOVED_TOPIC_CONFIGS: dict[str, tuple[Release, str]] = {
    "message.format.version": ((4, 0), "record formats before v2 are gone"),
    "message.downconversion.enable": ((4, 0), "brokers no longer down-convert records"),
    "message.timestamp.difference.max.ms": (
        (4, 0),
        "use message.timestamp.before.max.ms and message.timestamp.after.max.ms",
    ),
}


class GroupType(Struct, frozen=True):
    """A kind of group whose configs carry its prefix (``consumer.``, ``share.``, ...)."""

    name: str
    feature: str  # the feature the cluster must have finalized at level 1 or higher
    since: Release  # the first release whose software supports it
    kip: str


GROUP_TYPES: dict[str, GroupType] = {
    "consumer": GroupType("consumer", "group.version", (4, 0), "KIP-848"),
    "share": GroupType("share", "share.version", (4, 2), "KIP-932"),
    "streams": GroupType("streams", "streams.version", (4, 2), "KIP-1071"),
}

# Group configs (the GROUP config resource) came with the consumer group protocol.
GROUP_CONFIGS_SINCE: Release = (4, 0)


def release_of(metadata_version: int | None) -> Release | None:
    """The release line whose software supports at most this metadata.version level."""
    if metadata_version is None:
        return None
    found: Release | None = None
    for level, release in LEVELS:
        if metadata_version >= level:
            found = release
    return found


def version_text(release: Release | None) -> str:
    return "an unknown Kafka version" if release is None else f"Kafka {release[0]}.{release[1]}"


class BrokerFeatures(Struct, frozen=True):
    """What the broker a client reached answered in ApiVersions."""

    broker: str  # the bootstrap address it was asked through, for messages
    # Feature -> (min, max) level its software supports.
    supported: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # Feature -> the cluster's finalized (max) level.
    finalized: Mapping[str, int] = field(default_factory=dict)

    @property
    def release(self) -> Release | None:
        levels = self.supported.get("metadata.version")
        return release_of(levels[1] if levels else None)

    @property
    def runs(self) -> str:
        """``broker at 127.0.0.1:9092 runs Kafka 4.1``."""
        return f"broker at {self.broker} runs {version_text(self.release)}"

    def at_least(self, release: Release) -> bool:
        own = self.release
        return own is not None and own >= release


def removed_topic_config(features: BrokerFeatures | None, key: str) -> str | None:
    """Why ``key`` cannot be set on topics of this cluster, or None."""
    removed = REMOVED_TOPIC_CONFIGS.get(key)
    if removed is None or features is None:
        return None
    release, why = removed
    if not features.at_least(release):
        return None
    return (
        f"topic config {key!r} was removed in {version_text(release)} ({why}); the {features.runs}"
    )


def group_type_of(key: str) -> GroupType | None:
    return GROUP_TYPES.get(key.partition(".")[0])


def groups_refusal(features: BrokerFeatures) -> tuple[str, str] | None:
    """Why the cluster cannot take group configs at all (message, hint), or None."""
    if features.at_least(GROUP_CONFIGS_SINCE):
        return None
    return (
        f"group configs need {version_text(GROUP_CONFIGS_SINCE)} or newer; the {features.runs}",
        "upgrade the cluster, or remove `groups:` from the specs of this environment",
    )


def group_config_refusal(features: BrokerFeatures, key: str) -> tuple[str, str] | None:
    """Why the cluster cannot take group config ``key`` (message, hint), or None."""
    whole = groups_refusal(features)
    if whole is not None:
        return whole
    group_type = group_type_of(key)
    if group_type is None:
        return None
    supported = features.supported.get(group_type.feature)
    if supported is None or supported[1] < 1:
        return (
            f"{group_type.name} groups ({group_type.kip}) need "
            f"{version_text(group_type.since)} or newer; the {features.runs}",
            f"remove the {group_type.name}.* configs, or upgrade the cluster",
        )
    if features.finalized.get(group_type.feature, 0) < 1:
        return (
            f"{group_type.name} groups ({group_type.kip}) are not enabled on the cluster: "
            f"{group_type.feature} is not finalized (the {features.runs})",
            f"enable them with `kafka-features upgrade --feature {group_type.feature}=1`, "
            f"or remove the {group_type.name}.* configs",
        )
    return None
