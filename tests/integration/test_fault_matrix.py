"""The fault matrix (issue 14): every fault the simulated shop learned × every path a user takes →
the outcome docs/errors.md promises, asserted through the shop's own counters (attempts, answers by
status, writes) and the command's exit code, output and report.

Paths: ``bulk inventory set`` (urgent lane), ``bulk submit --route direct``, ``bulk submit --route
bulk`` (the bulk lane), ``bulk catalog sync``, and ``bulk worker --drain`` (a fleet worker, on the
real PostgreSQL journal and Redis scheduler). The shop runs 20× faster than real time; windows are a
few of its seconds and start when the path does (:mod:`tests.fault_harness`).

Outcomes, by fault:

- passes (``ise``, ``5xx``, ``hang`` with a finite hold, ``429``, ``throttle``): exit 0, every row
  applied, and the shop's counters show the fault was met (and waited out, not hammered);
- a revoked token: exit 0, the work finished on the other tokens, the summary names it;
- the shop refuses every request (``frozen``, ``locked``, ``notfound``): exit 2, one ``bulk: error:``
  line naming the cause, a handful of attempts (not one per row), the run failed in the journal with
  its report written;
- bulk-only answers (``upload_limit``, ``limit_style:in_progress``): the bulk paths cut smaller or
  wait for a slot and finish; other paths never meet them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bulk.cli import main
from bulk.journal import RunStatus, open_journal
from bulk.sim import SimConfig
from tests.csv_helpers import seeded_price_csv, status_counts
from tests.fault_harness import ServedSim

TOKENS = "tok-a,tok-b,tok-c"
SPEED = 20.0
PRODUCTS = range(1, 31)  # 30 products, 60 rows: 1 + p % 3 variants each
IN_FLIGHT = 8  # the scheduler's cap: the most requests a refusing shop can see at once


@dataclass(frozen=True)
class Fault:
    spec: str
    kind: str  # "passes" | "revoked" | "stops" | "bulk_only"
    status: str | None = None  # the answer the shop's counters must show (per path that meets it)
    words: str = ""  # in the one error line, for "stops"


FAULTS = {
    "ise": Fault("ise:rate=0.3", "passes"),
    "5xx_burst": Fault("5xx:at=0,for=3", "passes", "503"),
    "hang": Fault("hang:rate=0.3,hold=2", "passes"),
    "429": Fault("429:rate=0.15,retry_after=0.5", "passes", "429"),
    "throttle": Fault("throttle:at=0,for=6", "passes"),
    "revoke": Fault("revoke:token=0,at=0", "revoked", "401"),
    "frozen": Fault("frozen:at=0", "stops", "402", "the shop is frozen (HTTP 402"),
    "locked": Fault("locked:at=0", "stops", "423", "the shop is locked (HTTP 423"),
    "notfound": Fault("notfound:at=0", "stops", "404", "no such shop or API version (HTTP 404)"),
    "upload_limit": Fault("upload_limit:bytes=3000", "bulk_only"),
    "in_progress": Fault("limit_style:in_progress,slots=1", "bulk_only"),
}
PATHS = ("urgent", "direct", "bulk", "catalog", "worker")


def price_file(path: Path) -> int:
    return seeded_price_csv(path, PRODUCTS, lambda p, v: f"{300 + p}.{v}5")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def answers(stats: dict[str, Any]) -> dict[str, int]:
    """Answers by status, every token together (unknown tokens included)."""
    out: dict[str, int] = dict(stats["unattributed"])
    for token in stats["tokens"]:
        for status, n in token["statuses"].items():
            out[status] = out.get(status, 0) + n
    return out


def faults_met(stats: dict[str, Any]) -> dict[str, int]:
    return dict(stats["totals"]["faults"])


@pytest.fixture
def fleet(request: pytest.FixtureRequest) -> Iterator[tuple[str, str] | None]:
    """(database URL, Redis URL) for the worker path only (the other paths need neither)."""
    if request.node.callspec.params["path"] != "worker":
        yield None
        return
    yield request.getfixturevalue("database_url"), request.getfixturevalue("redis_url")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_matrix(name: str, path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      fleet: tuple[str, str] | None) -> None:
    fault = FAULTS[name]
    config = SimConfig(products=40, tokens=tuple(TOKENS.split(",")), speed=SPEED, seed=5,
                       faults=(fault.spec,), bulk_lines_per_s=200.0)
    with ServedSim(config) as sim:
        outcome = PATH_RUNNERS[path](sim, tmp_path, capsys, fleet)
        stats = sim.stats()
    check(fault, path, outcome, stats)


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    rows: int = 0  # rows in the input (0: the path has no input file)
    report: dict[str, int] | None = None  # outcomes by status (report CSV or journal)
    run_status: RunStatus | None = None


def _shop(sim: ServedSim, state: Path) -> list[str]:
    return ["--shop", sim.url, "--tokens", TOKENS, "--state-dir", str(state)]


def urgent(sim: ServedSim, tmp: Path, capsys: pytest.CaptureFixture[str], _fleet: Any) -> Outcome:
    sim.arm()
    code, out, err = run(["inventory", "set", "SKU-0000002-0", "Main Warehouse", "17", "--shop", sim.url,
                          "--tokens", TOKENS], capsys)
    return Outcome(code, out, err)


def _submit(route: str, sim: ServedSim, tmp: Path, capsys: pytest.CaptureFixture[str]) -> Outcome:
    state, file = tmp / "state", tmp / "prices.csv"
    rows = price_file(file)
    code, _, err = run(["catalog", "sync", *_shop(sim, state)], capsys)
    assert code == 0, err
    sim.arm()
    out_path = tmp / "report.csv"
    code, out, err = run(["submit", str(file), *_shop(sim, state), "--route", route,
                          "--sync-catalog", "never", "--journal", str(tmp / "journal.sqlite3"),
                          "--report", str(out_path)], capsys)
    status = asyncio.run(_run_status(str(tmp / "journal.sqlite3")))
    return Outcome(code, out, err, rows, status_counts(out_path) if out_path.exists() else None, status)


async def _run_status(journal_url: str) -> RunStatus | None:
    async with open_journal(journal_url) as journal:
        runs = await journal.list_runs()
    return runs[0].status if runs else None


def direct(sim: ServedSim, tmp: Path, capsys: pytest.CaptureFixture[str], _fleet: Any) -> Outcome:
    return _submit("direct", sim, tmp, capsys)


def bulk(sim: ServedSim, tmp: Path, capsys: pytest.CaptureFixture[str], _fleet: Any) -> Outcome:
    return _submit("bulk", sim, tmp, capsys)


def catalog(sim: ServedSim, tmp: Path, capsys: pytest.CaptureFixture[str], _fleet: Any) -> Outcome:
    sim.arm()
    code, out, err = run(["catalog", "sync", *_shop(sim, tmp / "state")], capsys)
    return Outcome(code, out, err)


def worker(sim: ServedSim, tmp: Path, capsys: pytest.CaptureFixture[str], fleet: Any) -> Outcome:
    db, redis = fleet
    assert run(["db", "upgrade", "--database-url", db], capsys)[0] == 0
    state, file = tmp / "state", tmp / "prices.csv"
    rows = price_file(file)
    fleet_args = ["--database-url", db, "--redis-url", redis]
    code, _, err = run(["submit", str(file), *_shop(sim, state), "--route", "bulk", *fleet_args], capsys)
    assert code == 0, err
    sim.arm()
    code, out, err = run(["worker", "--drain", "--shop", sim.url, "--tokens", TOKENS, *fleet_args,
                          "--poll-max-s", "0.2", "--idle-wait-s", "0.1", "--lease-s", "5"], capsys)
    counts, status = asyncio.run(_journal_outcomes(db))
    return Outcome(code, out, err, rows, counts, status)


async def _journal_outcomes(db: str) -> tuple[dict[str, int], RunStatus]:
    async with open_journal(db) as journal:
        (run_,) = await journal.list_runs()
        outcomes = await journal.list_outcomes(run_.run_id)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status.value] = counts.get(o.status.value, 0) + 1
    return counts, run_.status


PATH_RUNNERS = {"urgent": urgent, "direct": direct, "bulk": bulk, "catalog": catalog, "worker": worker}


def check(fault: Fault, path: str, outcome: Outcome, stats: dict[str, Any]) -> None:
    """The outcome docs/errors.md promises for this fault on this path."""
    assert "Traceback" not in outcome.err, outcome.err
    seen = answers(stats)
    if fault.kind == "stops":
        assert outcome.code == 2, (outcome.code, outcome.err)
        lines = [ln for ln in outcome.err.splitlines() if ln.startswith("bulk: error:")]
        assert len(lines) == 1 and fault.words in lines[0], outcome.err
        assert "What to do:" in lines[0]
        assert fault.status is not None and seen.get(fault.status, 0) >= 1
        # no hammering: a handful of refused requests (those in flight at once), never one per row
        assert seen[fault.status] <= 2 * IN_FLIGHT, seen
        if path in ("direct", "bulk", "worker"):
            assert outcome.run_status is RunStatus.FAILED
            assert not (outcome.report or {}).get("rejected")  # nothing is rejected for a shop refusal
        return
    assert outcome.code == 0, (outcome.code, outcome.out, outcome.err)
    if outcome.rows:
        assert outcome.report == {"applied": outcome.rows}, outcome.report
        assert outcome.run_status is RunStatus.DONE
    if path == "urgent":
        assert re.match(r"applied\s+SKU-0000002-0", outcome.out), outcome.out
    if path == "catalog":
        assert re.search(r"synced \d+ objects", outcome.out + outcome.err)
    met = faults_met(stats)
    if fault.kind == "revoked":  # token #0, the first every path asks
        assert 1 <= seen.get("401", 0) <= IN_FLIGHT, seen  # found out once, then out for the run
        assert stats["tokens"][1]["statuses"].get("200", 0) + stats["tokens"][2]["statuses"].get("200", 0)
        if path in ("direct", "bulk"):
            assert re.search(r"tokens refused\s*│\s*#0", outcome.out), outcome.out
        return
    if fault.kind == "bulk_only":
        if fault.spec.startswith("upload_limit") and path in ("bulk", "worker"):
            assert stats["state"]["bulk_by_status"].get("COMPLETED", 0) >= 3  # cut to fit the policy
        return
    # a passing fault was met, and waited out rather than hammered
    kind = fault.spec.split(":")[0]
    if fault.status is not None:
        assert seen.get(fault.status, 0) >= 1, seen
    else:
        assert met.get(kind, 0) >= 1, met
    if kind == "throttle":
        throttled = sum(t["throttled"] for t in stats["tokens"])
        # each request met the window once or twice, then waited it out: never hundreds of answers
        assert throttled <= 2 * max(outcome.rows, IN_FLIGHT), throttled
