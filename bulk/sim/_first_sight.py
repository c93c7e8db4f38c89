"""A document the shop sees for the first time is parsed, validated and checked in a worker thread.

Why: validating a new document against the Admin schema takes 2–16 ms of CPU here (an aliased query
of 25 lookups or a status poll of many ids the most), several times that on a busy box; on the
shop's event loop it held up every other app's request meanwhile — Shopify serves each request on
its own, so one client's new document does not delay another's answer. The request that brought
the document still waits for its check, begun when it arrived (:meth:`FirstSight.begin`), so the check
runs during the latency the shop draws for it rather than after; requests with the same text that
arrive meanwhile wait for that same check, not for one of their own. The thread is the check's own,
not the default pool's: there the shop parses staged files (a second each at Black Friday's size),
and a status poll's new document queued behind fifteen of them would see its operation's end late.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bulk.sim._schema import Prepared, SupportChecker, prepare

KNOWN_DOCUMENTS = 4096  # distinct texts kept; beyond, each is checked again (in the thread) per request

Checked = tuple[Prepared, tuple[dict[str, Any], ...]]  # the document, and the fields the sim lacks


class FirstSight:
    """``await check(text)``: the parsed document and its unsupported-field errors, each text once."""

    def __init__(self, support: SupportChecker) -> None:
        self._support = support
        self._known: dict[str, Checked] = {}
        self._checking: dict[str, asyncio.Future[Checked]] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-first-sight")

    async def check(self, text: str) -> Checked:
        """What the shop's checks say of ``text`` (on the loop when known, else from a worker thread)."""
        known = self._known.get(text)
        if known is not None:
            return known
        return await asyncio.shield(self._pending(text))  # a caller that gives up leaves it to the others

    def begin(self, text: str) -> None:
        """Start checking ``text`` now if it is new; a later :meth:`check` waits for that check."""
        if text not in self._known:
            self._pending(text)

    def _pending(self, text: str) -> asyncio.Future[Checked]:
        pending = self._checking.get(text)
        if pending is None:
            pending = asyncio.get_running_loop().run_in_executor(self._thread, self._check_now, text)
            self._checking[text] = pending
            pending.add_done_callback(lambda done: self._settle(text, done))
        return pending

    def close(self) -> None:
        """Let the check's thread go (checks under way finish; their callers have gone)."""
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _check_now(self, text: str) -> Checked:
        prepared = prepare(text)
        if prepared.errors:
            return prepared, ()
        return prepared, self._support.unsupported(prepared)

    def _settle(self, text: str, done: asyncio.Future[Checked]) -> None:
        del self._checking[text]
        if not done.cancelled() and done.exception() is None and len(self._known) < KNOWN_DOCUMENTS:
            self._known[text] = done.result()
