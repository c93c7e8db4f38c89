"""Whether a run brings the catalog cache up to date, and how (pure: state, choice, now → decision).

Invariant 7: a row is ``unchanged`` only when a view of the shop brought up to date *for this run* says
so. So by default (``auto``) every run syncs: incrementally (what changed since the last sync), or in
full when the cache is empty, belongs to a simulated shop started for this session, or was last filled
whole longer ago than ``max_age_s`` (an incremental sync cannot see deletions: docs/catalog.md).
``always`` syncs in full every time; ``never`` uses the cache as it is (for those who know it is fresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SyncChoice = Literal["auto", "always", "never"]
SyncMode = Literal["full", "incremental", "none"]
DEFAULT_MAX_AGE_S = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class SyncDecision:
    """The sync a run does before it plans, and why (shown to the user)."""

    mode: SyncMode
    reason: str


def decide_sync(
    choice: SyncChoice,
    *,
    empty: bool,
    last_full_at: float | None,
    now: float,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    new_shop: bool = False,
) -> SyncDecision:
    """The sync for ``choice`` given the cache (``empty``; ``last_full_at``: when it was last filled
    whole, wall-clock seconds) at ``now``. ``new_shop``: the shop was started for this session (an
    embedded simulator), so a cache from an earlier session describes another shop."""
    if choice == "never":
        return SyncDecision("none", "--sync-catalog never: the cache is used as it is")
    if choice == "always":
        return SyncDecision("full", "--sync-catalog always")
    if empty:
        return SyncDecision("full", "the cache is empty")
    if new_shop:
        return SyncDecision("full", "a simulated shop started for this session")
    if last_full_at is None:
        return SyncDecision("full", "the cache was never filled whole by this version")
    if now - last_full_at > max_age_s:
        return SyncDecision("full", f"the last full sync is older than {max_age_s / 3600:g} h")
    return SyncDecision("incremental", "what changed since the last sync")
