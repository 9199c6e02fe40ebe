"""How a plan is computed, beside the desired and live state."""

from __future__ import annotations

from fnmatch import fnmatchcase

from msgspec import Struct


class PlanOptions(Struct, frozen=True):
    """How a plan is computed, beside the desired and live state."""

    # Deletes are opt-in: without this, resources that would be deleted are only warned about.
    allow_deletes: bool = False
    # Refuse a plan that deletes more than this many resources (None: no limit).
    max_destroy: int | None = None
    # Address patterns (fnmatch) the plan is restricted to; empty: everything.
    targets: tuple[str, ...] = ()
    # Topics consumer groups still read may be deleted (--allow-in-use-deletes): recorded.
    allow_in_use_deletes: bool = False
    # Set a new password on every declared SCRAM user that exists (--rotate-passwords).
    rotate_passwords: bool = False
    # The environment variables named by users' `password_env` that are set (their values
    # are never part of a plan); None: not checked (drift).
    password_envs: frozenset[str] | None = None

    def targeted(self, address: str) -> bool:
        return not self.targets or any(fnmatchcase(address, p) for p in self.targets)
