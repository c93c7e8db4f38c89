"""The end-of-run table's "took" line: real time, and a sped-up simulator's own clock beside it."""

from __future__ import annotations

import pytest

from bulk.cli._submit import _duration, _took
from bulk.shopify.simulated import stats_url


@pytest.mark.parametrize("seconds, text", [(4.25, "4.2 s"), (59.96, "60.0 s"), (725, "12 min 5 s"),
                                           (7380, "2 h 03 min")])
def test_durations_read_like_a_person_would_write_them(seconds: float, text: str) -> None:
    assert _duration(seconds) == text


def test_a_sped_up_simulator_shows_its_own_clock_beside_real_time() -> None:
    took = _took({"elapsed_s": 2.6, "shop_elapsed_s": 26.0})
    assert took == "2.6 s (26.0 s on the simulated shop's clock, x10)"
    assert _took({"elapsed_s": 2.6, "shop_elapsed_s": 2.6}) == "2.6 s"  # speed 1: one clock
    assert _took({"elapsed_s": 2.6, "shop_elapsed_s": None}) == "2.6 s"  # a real shop


def test_only_plain_http_loopback_urls_are_asked_whether_they_are_a_simulator() -> None:
    assert stats_url("http://127.0.0.1:8787/admin/api/2026-04/graphql.json") == "http://127.0.0.1:8787/_sim/stats"
    assert stats_url("http://localhost:9/x") == "http://localhost:9/_sim/stats"
    assert stats_url("https://shop.myshopify.com/admin/api/2026-04/graphql.json") is None
    assert stats_url("http://10.0.0.5:8787/admin/api/2026-04/graphql.json") is None
