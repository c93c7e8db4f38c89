"""One run, one process: the exclusive lock a process holds while it applies a run.

Why: the same input gives the same run key, so a second ``bulk submit`` of a file (a cron start
overlapping a manual one, a second terminal) resumes the run the first is still working — and two
processes must never work one run (the design forbids it without fencing). The second one is refused
at once with :class:`~bulk.errors.RunHeldError`, which names the holder (pid, host, since when) and says
what to do; it does not wait (a cron start that waits would pile up behind a long run).

How: an exclusive ``flock`` on ``STATE_DIR/runs/RUN_KEY/lock``, as the cron inbox does
(:mod:`bulk.fleet.inbox`). The kernel releases it when its process ends however it ends (SIGKILL, OOM,
Ctrl-C), so a killed process never leaves its run locked: the next submission takes the lock at once and
resumes the run — no lease to renew, no expiry to wait for, no clock. ``flock`` locks belong to an open
file, so two submissions in one process exclude each other too.

The file says who holds it — pid, host, since when, what the holder is doing (``syncing catalog``,
``applying``, ``sending``) and how far it got — as one JSON line, for the refusal's message and for
``bulk status`` (:func:`holder_of`).
It holds no secrets. Emptied on a clean release; after a crash it keeps a dead pid, which
:func:`holder_of` tells apart.

The lock covers one state directory (where the embedded journal lives, the default). Submissions of one
input on two machines sharing a PostgreSQL journal each have their own state directory: the journal's
session lock on the run excludes them (:mod:`bulk.journal._pg_run_locks`, taken beside this one by
:mod:`bulk.submit._run_choice`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bulk.errors import RunHeldError
from bulk.models import OnEvent

LOCK_FILE = "lock"
SYNCING = "syncing catalog"  # the holder exports the shop's catalog before planning
APPLYING = "applying"  # the holder plans and sends the run's changes
SENDING = "sending"  # the holder has read and planned the whole input: it only sends (and follows up)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a run: process id, host name, since when (epoch seconds) and what it is doing."""

    pid: int
    host: str
    since: float
    phase: str = APPLYING
    phase_since: float | None = None  # when the current phase began
    detail: str | None = None  # how far the phase got ("120,000 objects exported"), when it says

    def describe(self) -> str:
        """``pid 1234 on host shop-box, since 15:02:11`` (the date too when not today)."""
        at = datetime.fromtimestamp(self.since)
        when = at.strftime("%H:%M:%S" if at.date() == datetime.now().date() else "%Y-%m-%d %H:%M:%S")
        return f"pid {self.pid} on host {self.host}, since {when}"

    def to_json(self) -> dict[str, object]:
        """Plain JSON (``bulk status --json``)."""
        return {"pid": self.pid, "host": self.host, "since": datetime.fromtimestamp(self.since).isoformat(
            timespec="seconds"), "phase": self.phase, "detail": self.detail}


def lock_path(runs_dir: Path, run_key: str) -> Path:
    """Where the lock of run ``run_key`` lives (beside its recorded events)."""
    return runs_dir / run_key / LOCK_FILE


def take_flock(path: Path, note: bytes) -> tuple[int | None, str]:
    """Take ``path``'s exclusive ``flock`` without waiting and write ``note`` in the file: ``(its
    descriptor, "")`` — or, held by another process, ``(None, what that process wrote there)``. The
    run locks here and the cron inbox's (:mod:`bulk.fleet.inbox`) are both this."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held_by = os.pread(fd, 4096, 0).decode(errors="replace")
        os.close(fd)
        return None, held_by
    except BaseException:
        os.close(fd)
        raise
    write_note(fd, note)
    return fd, ""


def write_note(fd: int, note: bytes) -> None:
    """Replace what a held lock's file says."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, note, 0)


def give_back(fd: int) -> None:
    """Empty a held lock's file, unlock it and close it."""
    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class RunLock:
    """The held lock of one run; release it with :meth:`release` or by leaving the ``with`` block.

    Use :func:`hold_run` to take it."""

    def __init__(self, path: Path, fd: int, holder: Holder) -> None:
        self.path = path
        self._fd: int | None = fd
        self.holder = holder

    def __repr__(self) -> str:
        state = "held" if self._fd is not None else "released"
        return f"<RunLock {self.path} {state} {self.holder.phase!r}>"

    def phase(self, phase: str, *, detail: str | None = None, now: float | None = None) -> None:
        """Say what the holder does now, and how far it got (``bulk status`` shows both)."""
        if self._fd is None:
            return
        since = self.holder.phase_since if phase == self.holder.phase else \
            (time.time() if now is None else now)  # progress within a phase does not restart it
        self.holder = Holder(self.holder.pid, self.holder.host, self.holder.since, phase, since, detail)
        write_note(self._fd, _encode(self.holder))

    def sync_progress(self, exported: int, stored: int) -> None:
        """How far the catalog sync got (`bulk status`: ``120,000 objects exported``, then stored)."""
        self.phase(SYNCING, detail=f"{stored:,} of {exported:,} objects stored" if stored
                   else f"{exported:,} objects exported")

    def release(self) -> None:
        """Give the run up: the file is emptied, then unlocked. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            give_back(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def hold_run(runs_dir: Path, run_id: int, run_key: str, *, phase: str = APPLYING,
             now: float | None = None) -> RunLock:
    """Take run ``run_key``'s lock without waiting, or raise :class:`~bulk.errors.RunHeldError` naming
    the live process that holds it (``run_id`` is for the message)."""
    path = lock_path(runs_dir, run_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    at = time.time() if now is None else now
    holder = Holder(os.getpid(), socket.gethostname(), at, phase, at)
    fd, held_by = take_flock(path, _encode(holder))
    if fd is None:
        other = _parse(held_by)
        raise RunHeldError(run_id, pid=other.pid if other else None, host=other.host if other else None,
                           since=other.since if other else None,
                           held_by=other.describe() if other else "a process that is just starting")
    return RunLock(path, fd, holder)


def telling_when_read(on_event: OnEvent, lock: RunLock) -> OnEvent:
    """``on_event``, and ``lock`` told once the whole input is read and planned (`bulk status`:
    ``running``, not ``planning N%`` while its operations run)."""
    def listener(name: str, data: dict[str, Any]) -> None:
        if name == "input_read":
            lock.phase(SENDING)
        on_event(name, data)
    return listener


def holder_of(runs_dir: Path, run_key: str) -> Holder | None:
    """Who holds run ``run_key`` now, or None. Read-only: it never takes the lock (a submission starting
    at that moment must not be refused because ``bulk status`` looked). A recorded holder on this host
    whose process is gone (killed) holds nothing."""
    try:
        text = lock_path(runs_dir, run_key).read_text(encoding="utf-8")
    except OSError:
        return None
    holder = _parse(text)
    if holder is None or (holder.host == socket.gethostname() and not _alive(holder.pid)):
        return None
    return holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _encode(holder: Holder) -> bytes:
    return json.dumps(dataclasses.asdict(holder)).encode() + b"\n"


def _parse(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["host"]), float(data["since"]), str(data["phase"]),
                      None if data.get("phase_since") is None else float(data["phase_since"]),
                      None if data.get("detail") is None else str(data["detail"]))
    except (ValueError, KeyError, TypeError):
        return None
