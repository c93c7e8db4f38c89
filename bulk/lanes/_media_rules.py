"""The image follow-up's decisions, pure: what a line adds, what a read says, when to read again, and
whether a bulk query pays (:mod:`bulk.lanes.media_check` carries them out; its docstring says why)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bulk.models import RowId
from bulk.plan import PlannedLine

POLL_S = 2.0  # the first re-read of an image still processing; doubles each time
MAX_POLL_S = 30.0
# the bulk query at the end (export_pays): it costs no points but exports every product written since
# the run started (prices included), and it is all or nothing: one not finished by the bound reads nothing
EXPORT_START_S = 5.0  # its CREATED delay, polls and the download, at the least
EXPORT_LINES_PER_S = 2_000.0  # Shopify documents no export pace: the simulator's (real ones may be slower)
EXPORT_LINES_PER_PRODUCT = 3.0  # a product line and its media lines
READ_POINTS_PER_S = 100.0  # one Standard plan token's restore rate: the least any shop reads at

State = Literal["ready", "failed", "processing", "unread"]


@dataclass(frozen=True, slots=True)
class MediaWatch:
    """The images one applied line added to one product."""

    product_id: str
    last: int  # how many of the product's newest images the line wrote
    new: tuple[tuple[int, str], ...]  # (position among those, URL sent) of each image it added
    rows: tuple[RowId, ...]
    media_ids: tuple[str, ...] = ()  # the GIDs of the new images, when the answer named them


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where one watched product's new images ended."""

    state: State
    reason: str = ""
    media: tuple[tuple[str, str, str, str | None], ...] = ()  # (GID, URL sent, status, error code)


@dataclass
class MediaReport:
    """Every watch's verdict, and the queries it took."""

    verdicts: dict[int, Verdict] = field(default_factory=dict)  # by the watch's index
    queries: int = 0
    product_queries: int = 0  # of those, reads of products' last images (no result named the new ones)
    exports: int = 0  # bulk queries
    waited_s: float = 0.0
    settled_in_run: int = 0  # watches READY or FAILED before the run's last line was done

    def counts(self) -> dict[str, int]:
        """Watched products by final state."""
        out = {"ready": 0, "failed": 0, "processing": 0, "unread": 0}
        for verdict in self.verdicts.values():
            out[verdict.state] += 1
        return out


def watch_of(line: PlannedLine) -> MediaWatch | None:
    """The images a planned line adds (None: it adds none)."""
    if line.kind in ("product", "media"):
        entries: Sequence[Mapping[str, Any]] = line.variables.get("media") or ()
    elif line.kind == "set":
        entries = line.variables["input"].get("files") or ()
    else:
        return None
    new = tuple((i, str(e["originalSource"])) for i, e in enumerate(entries) if e.get("originalSource"))
    if not new:
        return None
    product = line.variables["identifier"]["id"] if line.kind == "set" else line.variables["product"]["id"]
    return MediaWatch(str(product), len(entries), new, line.media_rows or line.rows)


def judge(watch: MediaWatch, nodes: Sequence[Mapping[str, Any]] | None) -> Verdict:
    """The verdict on one product's new images from its last ``watch.last`` media nodes (None: the
    product could not be read)."""
    if nodes is None or len(nodes) < watch.last:
        return Verdict("unread", "its images could not be read back (the product changed meanwhile?)")
    tail = list(nodes)[len(nodes) - watch.last:]
    media, failed, processing = [], [], 0
    for position, url in watch.new:
        node = tail[position]
        status = str(node.get("status") or "")
        errors = node.get("mediaErrors") or []
        code = str(errors[0].get("code")) if errors else None
        media.append((str(node.get("id")), url, status, code))  # (GID, URL sent, status, error code)
        if status == "FAILED":
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or "no mediaErrors"
            failed.append(f"image {url} FAILED ({detail})")
        elif status != "READY":
            processing += 1
    if failed:
        return Verdict("failed", "; ".join(failed), tuple(media))
    if processing:
        return Verdict("processing", f"{processing} image(s) still processing when the run stopped "
                       "waiting", tuple(media))
    return Verdict("ready", "", tuple(media))


def export_s(products: int) -> float:
    """Shop seconds a bulk query reading ``products`` products with their media takes, about."""
    return EXPORT_START_S + products * EXPORT_LINES_PER_PRODUCT / EXPORT_LINES_PER_S


def export_pays(points: float, written: int, wait_left_s: float) -> bool:
    """Whether the images still due at the end of a run (``points`` to read them directly) are read with
    one bulk query of the ``written`` products instead: only when it ends within half the wait left (the
    other half is the direct reads' if it does not) and sooner than the direct reads would."""
    took = export_s(written)
    return took <= wait_left_s / 2 and took < points / READ_POINTS_PER_S


def next_read_s(reads: int, poll_s: float = POLL_S, max_poll_s: float = MAX_POLL_S) -> float:
    """Seconds until a watch still processing after ``reads`` reads is read again."""
    return min(max_poll_s, poll_s * 2.0 ** max(0, reads - 1))
