"""Stateful property test of claims, leases and fencing against a simple model (SQLite, ManualClock).

Hypothesis drives random workers that claim, renew, submit, finish and release units while time moves;
after every step the journal must agree with the model: the oldest claimable unit is the one claimed,
each claim bumps the fence by one, and a write succeeds exactly when its claim is still the unit's
latest one — any other holder gets LeaseLostError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bulk.clock import ManualClock
from bulk.errors import LeaseLostError
from bulk.journal import Claim, NewUnit, SqliteJournal, UnitKind, UnitState

LEASE = 10.0
UNITS = 4
T = TypeVar("T")


@dataclass
class ModelUnit:
    state: UnitState = UnitState.PENDING
    fence: int = 0
    owner: str | None = None
    expires: float = 0.0


class LeaseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(start=1_800_000_000.0)
        self.journal = SqliteJournal(":memory:", clock=self.clock)
        self.run(self.journal.open())
        run, _ = self.run(self.journal.create_run("r", input_name="a.csv", input_hash="h", options={}))
        units = [NewUnit(UnitKind.BULK_SHARD, f"u{i}", 1, payload_path=f"/u{i}") for i in range(UNITS)]
        self.ids = [u.unit_id for u in self.run(self.journal.add_units(run.run_id, units))]
        self.model = {unit_id: ModelUnit() for unit_id in self.ids}
        self.claims: list[Claim] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.journal.close())
        self.loop.close()

    def _claimable(self, unit: ModelUnit) -> bool:
        if unit.state is UnitState.PENDING:
            return True
        active = unit.state in (UnitState.CLAIMED, UnitState.SUBMITTED)
        return active and unit.expires <= self.clock.now()

    @rule(worker=st.sampled_from(["w0", "w1", "w2"]))
    def claim(self, worker: str) -> None:
        expected = [i for i in self.ids if self._claimable(self.model[i])][:1]
        got = self.run(self.journal.claim(worker, [UnitKind.BULK_SHARD], lease_s=LEASE))
        assert [c.unit_id for c in got] == expected
        for c in got:
            unit = self.model[c.unit_id]
            assert c.fence == unit.fence + 1
            if unit.state is UnitState.PENDING:
                unit.state = UnitState.CLAIMED
            unit.fence, unit.owner, unit.expires = c.fence, worker, self.clock.now() + LEASE
            self.claims.append(c)

    @rule(seconds=st.sampled_from([1.0, 4.0, 9.0, 11.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self.claims))
    @rule(
        index=st.integers(min_value=0),
        op=st.sampled_from(["heartbeat", "submit", "complete", "release", "retry"]),
    )
    def write(self, index: int, op: str) -> None:
        claim = self.claims[index % len(self.claims)]
        unit = self.model[claim.unit_id]
        valid = (
            unit.fence == claim.fence
            and unit.owner == claim.worker_id
            and unit.state in (UnitState.CLAIMED, UnitState.SUBMITTED)
        )
        try:
            if op == "heartbeat":
                self.run(self.journal.heartbeat(claim, lease_s=LEASE))
                unit.expires = self.clock.now() + LEASE
            elif op == "submit":
                self.run(self.journal.mark_submitted(claim, f"gid://op/{claim.fence}"))
                unit.state = UnitState.SUBMITTED
            elif op == "complete":
                self.run(self.journal.complete(claim))
                unit.state, unit.owner = UnitState.DONE, None
            elif op == "release":
                self.run(self.journal.release(claim))
                if unit.state is UnitState.SUBMITTED:
                    unit.expires = self.clock.now()
                else:
                    unit.state = UnitState.PENDING
                unit.owner = None
            else:
                self.run(self.journal.fail(claim, "retry me", retry=True))
                unit.state, unit.owner = UnitState.PENDING, None
        except LeaseLostError:
            assert not valid, f"{op} by the current holder of unit {claim.unit_id} was refused"
        else:
            assert valid, f"{op} by a stale holder of unit {claim.unit_id} (fence {claim.fence}) succeeded"

    @invariant()
    def journal_matches_model(self) -> None:
        for unit_id, expected in self.model.items():
            stored = self.run(self.journal.get_unit(unit_id))
            assert (stored.state, stored.fence, stored.lease_owner) == (
                expected.state,
                expected.fence,
                expected.owner,
            )


LeaseMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestLeases = LeaseMachine.TestCase
