"""One configuration: every ``SHOPIFY_*`` / ``BULK_*`` variable the package reads is declared in
:class:`bulk.cli._config.Settings`, and every shared option names a declared field."""

from __future__ import annotations

import re
from pathlib import Path

from bulk.cli._config import Settings, env_name
from bulk.cli._options import SHARED

PACKAGE = Path(__file__).parents[2] / "bulk"
READ = re.compile(r"""(?:environ(?:\.get)?\(|environ\[|getenv\()\s*["']((?:BULK|SHOPIFY)_[A-Z_]+)""")
NOT_SETTINGS = {"BULK_CHAOS_TOKENS"}  # the chaos test's worker processes, not the command's


def test_no_variable_is_read_outside_the_settings_model() -> None:
    read = {(path.relative_to(PACKAGE).as_posix(), name) for path in PACKAGE.rglob("*.py")
            for name in READ.findall(path.read_text(encoding="utf-8"))}
    assert ("scheduler/_chaos_worker.py", "BULK_CHAOS_TOKENS") in read  # the scan does find reads
    assert {name for _, name in read} <= NOT_SETTINGS, sorted(read)


def test_every_shared_option_is_a_declared_variable() -> None:
    declared = {env_name(field) for field in Settings.model_fields}
    assert {env_name(option.field) for option in SHARED.values()} <= declared
    assert {"SHOPIFY_SHOP", "SHOPIFY_ACCESS_TOKENS", "BULK_DATABASE_URL", "BULK_REDIS_URL",
            "BULK_MAX_IN_FLIGHT", "BULK_STATE_DIR", "BULK_JOURNAL", "BULK_SOURCE_DATABASE_URL",
            "BULK_SIM_TOKENS"} == declared


def test_tokens_never_show_in_the_settings_repr() -> None:
    settings = Settings(SHOPIFY_ACCESS_TOKENS="shpat_secret_one,shpat_secret_two")  # type: ignore[call-arg]
    assert "shpat" not in repr(settings) and settings.value("tokens").startswith("shpat_secret_one")
