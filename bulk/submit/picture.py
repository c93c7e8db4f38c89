"""A picture of a run: one self-contained HTML page with the run's timeline, drawn by matplotlib.

What an operator asks after a run — where did the time go? — answered from what the run recorded
(:mod:`bulk.submit.timeline`): bulk operations per token and slot (a Gantt chart), lines applied per
second, points spent per token against the budget, requests in flight against the cap, and urgent
latencies; a table names every operation. Charts are SVG embedded in the page (text kept as text, so
the page is searchable and no file sits beside it). For a rehearsal on a simulated shop the page
shows the shop-clock duration, the rehearsal's prediction for a real shop.

matplotlib is the optional extra ``shopify-bulk[picture]``: without it a run simply draws no picture
(:func:`available`), it never fails for lack of one.
"""

from __future__ import annotations

import html
import importlib.util
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bulk.plan import ShopProfile
from bulk.plan.route import eta_bulk
from bulk.submit._types import SubmissionResult
from bulk.submit.timeline import Timeline, build_timeline, load_events

_TOKEN_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def available() -> bool:
    """matplotlib is installed (``pip install 'shopify-bulk[picture]'``)."""
    return importlib.util.find_spec("matplotlib") is not None


def render_html(tl: Timeline, *, title: str, facts: Mapping[str, Any], eta_s: float | None = None) -> str:
    """The page: ``facts`` (run key, rows, durations, …) as a table, the charts (with the ETA model's
    prediction for the plan as a line, when given), every operation."""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in facts.items())
    ops = "".join(
        f"<tr><td>{html.escape(o.op)}</td><td>{o.token}</td><td>{o.slot}</td><td>{o.lines}</td>"
        f"<td>{html.escape(o.status)}</td><td>{_s(o.start)}</td><td>{_s(o.end)}</td></tr>" for o in tl.ops)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<table class="facts">{rows}</table>
<h2>Timeline</h2>
{_svg(tl, eta_s)}
<h2>Bulk operations ({len(tl.ops)})</h2>
<table class="operations"><tr><th>operation</th><th>token</th><th>slot</th><th>lines</th><th>status</th>
<th>started (s)</th><th>ended (s)</th></tr>{ops}</table>
</body></html>
"""


def _s(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _svg(tl: Timeline, eta_s: float | None) -> str:
    """The five charts, stacked on one time axis, as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a worker or a CI box draws the same page
    from matplotlib import pyplot as plt

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):  # text stays text
        fig, axes = plt.subplots(5, 1, figsize=(11, 13), sharex=True,
                                 gridspec_kw={"height_ratios": [3, 1.2, 1.5, 1.2, 1.2]})
        try:
            _gantt(axes[0], tl)
            _lines(axes[1], tl)
            _points(axes[2], tl)
            _in_flight(axes[3], tl)
            _urgent(axes[4], tl)
            axes[-1].set_xlabel("seconds since the run started (after the catalog sync)")
            if eta_s is not None:  # what the dry run would have predicted for this plan
                for ax in axes:
                    ax.axvline(eta_s, color="black", linestyle=":", linewidth=1)
                axes[0].text(eta_s, -0.6, f" ETA {eta_s:.1f} s", fontsize=7)
            axes[-1].set_xlim(0, max(tl.duration_s, eta_s or 0.0, 1.0) * 1.02)
            fig.tight_layout()
            out = io.StringIO()
            fig.savefig(out, format="svg")
        finally:
            plt.close(fig)
    svg = out.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog: the SVG sits inside the HTML


def _gantt(ax: Any, tl: Timeline) -> None:
    rows = sorted({(o.token, o.slot) for o in tl.ops})
    index = {row: i for i, row in enumerate(rows)}
    for o in tl.ops:
        if o.start is None:
            continue
        end = o.end if o.end is not None else tl.duration_s
        y = index[(o.token, o.slot)]
        ax.barh(y, end - o.start, left=o.start, height=0.8, edgecolor="white",
                color=_TOKEN_COLOURS[o.token % len(_TOKEN_COLOURS)],
                alpha=1.0 if o.status == "COMPLETED" else 0.5)
        ax.text(o.start + (end - o.start) / 2, y, f"{o.op.rsplit('/', 1)[-1]} · {o.lines}", ha="center",
                va="center", fontsize=6, color="white", clip_on=True)
    ax.set_yticks(range(len(rows)), [f"token {t} · slot {s}" for t, s in rows])
    ax.invert_yaxis()
    ax.set_title("bulk operations per token and slot (label: operation · lines)")


def _lines(ax: Any, tl: Timeline) -> None:
    if tl.lines_per_s:
        xs, ys = zip(*tl.lines_per_s, strict=True)
        ax.bar(xs, ys, width=1.0, align="edge", color="#55A868")
    ax.set_ylabel("lines / s")
    ax.set_title("lines applied per second (an operation's lines spread over its run)")


def _points(ax: Any, tl: Timeline) -> None:
    for token, series in sorted(tl.spent.items()):
        colour = _TOKEN_COLOURS[token % len(_TOKEN_COLOURS)]
        ts, spent, budget = zip(*series, strict=True)
        ax.plot(ts, spent, color=colour, label=f"token {token} spent")
        ax.plot(ts, budget, color=colour, linestyle="--", linewidth=0.8, label=f"token {token} budget")
    if tl.spent:
        ax.legend(fontsize=7, ncol=3)
    ax.set_ylabel("points")
    ax.set_title("points spent per token against the budget (bucket + restore rate × t)")


def _in_flight(ax: Any, tl: Timeline) -> None:
    if tl.in_flight:
        xs, ys = zip(*tl.in_flight, strict=True)
        ax.step(xs, ys, where="post", color="#4C72B0", label="in flight")
        ax.axhline(tl.max_in_flight, color="#C44E52", linestyle="--", label=f"cap {tl.max_in_flight}")
        ax.legend(fontsize=7)
    ax.set_ylabel("requests")
    ax.set_title("requests in flight against the cap (sampled)")


def _urgent(ax: Any, tl: Timeline) -> None:
    if tl.urgent:
        ms = [lat * 1000 for _, lat, _ in tl.urgent]
        ax.scatter([t for t, _, _ in tl.urgent], ms, s=8, color="#C44E52")
    else:
        ax.text(0.5, 0.5, "no urgent changes in this run", transform=ax.transAxes, ha="center", va="center")
    ax.set_ylabel("ms")
    ax.set_title("urgent batch latencies")


def write_picture(path: Path, events: Path, *, title: str, facts: Mapping[str, Any],
                  journal_ops: Iterable[tuple[int, str, int, str]] = (), eta_s: float | None = None) -> Path:
    """Draw the page for the events recorded in ``events`` (plus the journal's operations) to
    ``path``; returns ``path``."""
    tl = build_timeline(load_events(events) if events.is_file() else [], journal_ops=journal_ops)
    page = render_html(tl, title=title, facts={**facts, "recorded (s)": f"{tl.duration_s:.1f}"}, eta_s=eta_s)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def draw_run(result: SubmissionResult, events: Path, profile: ShopProfile, *, title: str) -> Path:
    """A finished run's page beside its report (``prices.report.csv`` → ``prices.report.html``), with the
    ETA a dry run gives for the whole plan on ``profile`` (bulk route)."""
    assert result.report_path is not None, "a run without a report has no place for its picture"
    plan = result.plan
    eta = eta_bulk(plan.get("lines", 0), 0, profile, rows=plan.get("rows_in_lines")) \
        if result.route.kind == "bulk" else None
    return write_picture(result.report_path.with_suffix(".html"), events, title=title, eta_s=eta,
                         facts=result_facts(result, eta_s=eta))


def result_facts(result: SubmissionResult, *, eta_s: float | None = None) -> dict[str, Any]:
    """What the page says about a run above its charts (``eta_s``: the model's for the whole plan)."""
    facts: dict[str, Any] = {"run": result.run_key, "route": result.route.kind}
    facts |= {k: v for k, v in result.summary.items()}
    facts["took (s)"] = f"{result.elapsed_s:.1f}"
    if eta_s is not None:
        facts["ETA of the plan, as a dry run predicts it (s)"] = f"{eta_s:.1f}"
    if result.simulated:
        facts["shop"] = f"SIMULATED ({result.simulated_at})"
        if result.shop_elapsed_s is not None:  # a rehearsal's prediction for a real shop
            facts["predicted duration on a real shop (s)"] = f"{result.shop_elapsed_s:.1f}"
    return facts
