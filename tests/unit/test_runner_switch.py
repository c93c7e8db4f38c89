"""A submission shortens the GIL switch interval while it runs, and gives the setting back after."""

from __future__ import annotations

import sys

from bulk.submit.root import LOOP_SWITCH_S, _responsive_event_loop


def test_overlapping_submissions_restore_the_callers_setting() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        first, second = _responsive_event_loop(), _responsive_event_loop()
        first.__enter__()
        assert sys.getswitchinterval() == LOOP_SWITCH_S
        second.__enter__()
        first.__exit__(None, None, None)  # the first ends while the second still runs
        assert sys.getswitchinterval() == LOOP_SWITCH_S
        second.__exit__(None, None, None)
        assert sys.getswitchinterval() == 0.004
    finally:
        sys.setswitchinterval(before)
