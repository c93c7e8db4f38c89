"""Doubles for a client under test against the simulator: a clock that jumps by what is slept, and a
fixed script of faults in place of the simulator's random plan."""

from __future__ import annotations

from bulk.sim._faults import Fault


class JumpClock:
    """Time jumps by exactly what is slept; records the sleeps (trio's autojump, in miniature)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


class ScriptedFaults:
    """Replaces the simulator's random fault plan with a fixed script (then no faults)."""

    def __init__(self, *script: Fault) -> None:
        self.script = list(script)

    def latency_s(self) -> float:
        return 0.0

    def fault(self) -> Fault:
        return self.script.pop(0) if self.script else Fault.NONE
