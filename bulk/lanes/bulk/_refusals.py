"""How the bulk lane answers the shop's refusals (docs/errors.md), kept apart from how it schedules.

- a :class:`~bulk.errors.RunStoppedError` (402, 404, 423, every token refused) stops the run: the
  first cause is kept (:attr:`Refusals.stop`), every held shard is given back untouched — a started
  operation stays ``submitted`` with an expired lease, so the next run adopts it at once — and the
  lane raises the cause once its tasks are done;
- a :class:`~bulk.errors.TokenRefusedError` takes the token out of the lane's slots for the run; the
  shard goes again on another token (an operation already running on the refused token cannot be
  polled any more: its lines, which set absolute values, are started again elsewhere); no token left
  stops the run with a :class:`~bulk.errors.NoTokenLeftError`;
- any other final answer for one shard (e.g. ``userErrors`` on the start) rejects that shard's rows
  with the shop's reason; the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bulk.errors import JournalError, NoTokenLeftError, RunStoppedError, ShopifyError, TokenRefusedError
from bulk.journal import Claim, Journal, Outcome
from bulk.lanes.bulk import shard_data
from bulk.lanes.bulk._slots import SlotBoard
from bulk.lanes.bulk.reconcile import OnOutcomes
from bulk.models import OnEvent, OutcomeStatus
from bulk.shopify.client import NO_TOKEN_HINT

log = logging.getLogger("bulk.lanes.bulk._lane")


class Refusals:
    """The lane's record of refusals: why the run stops (:attr:`stop`), which tokens are out
    (:attr:`refused`), and the journal writes each refusal means."""

    def __init__(self, journal: Journal, tokens: int, board: SlotBoard, *, on_event: OnEvent,
                 on_outcomes: OnOutcomes, wake: Callable[[], None]) -> None:
        self._journal = journal
        self._tokens = tokens
        self._board = board
        self._on_event = on_event
        self._on_outcomes = on_outcomes
        self._wake = wake
        self.stop: RunStoppedError | None = None  # why the run must stop (the first cause seen)
        self.refused: set[int] = set()  # tokens the shop refused: out for the run

    async def stop_run(self, claim: Claim, exc: RunStoppedError) -> None:
        """The shop refuses the whole run (402/404/423, no token left): give the shard back untouched
        (a started operation stays ``submitted``, adopted at once by the next run) and stop the lane."""
        log.warning("the run must stop; shard given back",
                    extra={"action": "bulk.stopped", "unit": claim.unit_id, "error": type(exc).__name__})
        if self.stop is None:  # first: no claim may be made while the shard is given back
            self.stop = exc
            self._on_event("run_stopped", {"error": str(exc), "cause": type(exc).__name__})
        self._wake()
        with contextlib.suppress(JournalError):
            await self._journal.release(claim)

    async def token_refused(self, claim: Claim, exc: TokenRefusedError) -> None:
        """A token was refused (401/403): it is out for the run, and the shard goes again on another
        token. A bulk operation already started on it cannot be polled any more (operations belong to
        their app): the shard is started again elsewhere — its lines set absolute values, so the shop
        ends in the same state (docs/errors.md). No token left: the run stops."""
        token = exc.token_index
        if token is not None and token not in self.refused:
            self.refused.add(token)
            self._board.take_out(token)
            log.warning("access token refused: out for the run",
                        extra={"action": "bulk.token_refused", "token_index": token})
            self._on_event("token_refused", {"token": token, "status": getattr(exc, "status", None),
                                             "left": self._tokens - len(self.refused)})
        with contextlib.suppress(JournalError):
            await self._journal.fail(claim, f"access token #{token} was refused", retry=True)
        if len(self.refused) >= self._tokens and self.stop is None:
            which = ", ".join(f"#{i}" for i in sorted(self.refused))
            self.stop = NoTokenLeftError(f"every access token was refused by the shop ({which})",
                                          refused=tuple(sorted(self.refused)), hint=NO_TOKEN_HINT)
            self._on_event("run_stopped", {"error": str(self.stop), "cause": "NoTokenLeftError"})
        self._wake()

    async def shard_refused(self, claim: Claim, exc: ShopifyError) -> None:
        """A final answer for this shard alone: its rows are rejected with the shop's reason."""
        log.warning("shard refused by the shop",
                    extra={"action": "bulk.refused", "unit": claim.unit_id, "error": type(exc).__name__})
        unit = claim.unit
        reason = f"shop refused the bulk operation: {exc}"
        shard = await asyncio.to_thread(shard_data.load, unit)
        outcomes = [Outcome(f, ln, OutcomeStatus.REJECTED, reason, unit_id=unit.unit_id)
                    for line_rows in shard.rows for f, ln in line_rows]
        with contextlib.suppress(JournalError):
            await self._journal.record_outcomes(unit.run_id, outcomes)
            self._on_outcomes(outcomes)
            await self._journal.fail(claim, reason, retry=False)
        self._on_event("shard_done", {"unit": unit.unit_id, "ident": unit.client_identifier,
                                      "status": "REFUSED", "lines": unit.line_count, "retried": 0})
