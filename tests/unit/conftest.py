"""Unit tests never reach a real cluster: the CLI's apply lease lives in memory here."""

from __future__ import annotations

import pytest

from kafkaplan import commands
from kafkaplan.live.lease import Lease
from tests.fakes import MemoryLeaseLog


@pytest.fixture
def lease_log() -> MemoryLeaseLog:
    return MemoryLeaseLog()


@pytest.fixture(autouse=True)
def memory_lease(monkeypatch: pytest.MonkeyPatch, lease_log: MemoryLeaseLog) -> None:
    monkeypatch.setattr(
        commands,
        "open_lease",
        lambda context: Lease(
            lease_log, ttl=60, owner="test", clock=lambda: lease_log.now_ms / 1000
        ),
    )
