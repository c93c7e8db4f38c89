"""The run lock (:mod:`bulk.submit.runlock`): one holder at a time, refused with who holds it, freed by
the kernel when its process is killed (the journal's part, a dead holder's units given back at once, is
in tests/integration/test_journal.py, over both backends)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bulk.errors import RunHeldError
from bulk.submit import runlock

HOLD = """
import sys
from pathlib import Path
from bulk.submit import runlock
lock = runlock.hold_run(Path(sys.argv[1]), 7, "key")
lock.phase(runlock.SYNCING)
print("held", flush=True)
sys.stdin.read()  # until killed
"""


def test_one_holder_at_a_time_in_one_process(tmp_path: Path) -> None:
    with runlock.hold_run(tmp_path, 7, "key") as lock:
        with pytest.raises(RunHeldError) as refused:
            runlock.hold_run(tmp_path, 7, "key")  # another open file: refused, even in this process
        assert (refused.value.run_id, refused.value.pid, refused.value.host) == (7, os.getpid(),
                                                                               socket.gethostname())
        assert "bulk cancel 7" in str(refused.value)
        assert runlock.holder_of(tmp_path, "key") == lock.holder
        runlock.hold_run(tmp_path, 8, "other").release()  # another run is free
    assert runlock.holder_of(tmp_path, "key") is None  # released: emptied
    runlock.hold_run(tmp_path, 7, "key").release()


def test_a_killed_holder_leaves_the_run_free(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"held\n"
        holder = runlock.holder_of(tmp_path, "key")
        assert holder is not None and (holder.pid, holder.phase) == (child.pid, runlock.SYNCING)
        with pytest.raises(RunHeldError, match=rf"\(pid {child.pid} on host "):
            runlock.hold_run(tmp_path, 7, "key")
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
    assert runlock.holder_of(tmp_path, "key") is None  # its file still names it, but it is dead
    with runlock.hold_run(tmp_path, 7, "key") as lock:  # taken over at once
        assert lock.holder.pid == os.getpid()
