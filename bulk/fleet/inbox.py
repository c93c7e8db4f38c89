"""The cron inbox: a directory where price files land, processed by ``bulk run --inbox DIR``.

Why these rules: cron starts the command on a schedule whatever happened before, so a run must not
overlap the previous one (an exclusive ``flock`` on ``DIR/.bulk-run.lock``, released by the kernel
even after kill -9), must pick up only files it has not finished (a file is finished once its report
``NAME.report.csv`` sits next to it, newer than the file), and must resume what an earlier, interrupted
run started (the run key is a hash of the file, so submitting the same file again resumes its run).

The decisions (which files, where reports go) are pure functions of a directory listing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bulk.submit.runlock import give_back, take_flock

LOCK_NAME = ".bulk-run.lock"
INPUT_SUFFIXES = (".csv", ".jsonl")
REPORT_SUFFIX = ".report.csv"
UNDO_SUFFIX = ".undo.jsonl"


@dataclass(frozen=True, slots=True)
class InboxFile:
    """One input file of the inbox and where its report goes."""

    path: Path
    report: Path


def report_path(path: Path) -> Path:
    """``prices.csv`` → ``prices.report.csv`` next to it."""
    return path.with_name(path.stem + REPORT_SUFFIX)


def is_input(path: Path) -> bool:
    """An input file: ``.csv`` / ``.jsonl``, not hidden, not one of our own reports or undo files."""
    name = path.name
    return (path.suffix in INPUT_SUFFIXES and not name.startswith(".")
            and not name.endswith(REPORT_SUFFIX) and not name.endswith(UNDO_SUFFIX))


def pending_files(inbox: Path) -> list[InboxFile]:
    """Input files without an up-to-date report, oldest first (a file replaced after its report was
    written counts as new again)."""
    found = []
    for path in inbox.iterdir():
        if not path.is_file() or not is_input(path):
            continue
        report = report_path(path)
        if report.exists() and report.stat().st_mtime >= path.stat().st_mtime:
            continue
        found.append(InboxFile(path, report))
    return sorted(found, key=lambda f: (f.path.stat().st_mtime, f.path.name))


@dataclass(frozen=True, slots=True)
class Lock:
    """The outcome of :func:`inbox_lock`: held by us, or by whom it is held."""

    path: Path
    held: bool
    holder: str = ""


@contextmanager
def inbox_lock(inbox: Path) -> Iterator[Lock]:
    """Try the inbox's exclusive lock, never waiting: ``lock.held`` says whether this block owns it
    (when it does not, ``lock.holder`` says who does). Not an error: an overlapping cron start is normal."""
    path = inbox / LOCK_NAME
    fd, holder = take_flock(path, f"pid {os.getpid()}".encode())
    if fd is None:
        yield Lock(path, False, holder.strip() or "unknown process")
        return
    try:
        yield Lock(path, True)
    finally:
        give_back(fd)
