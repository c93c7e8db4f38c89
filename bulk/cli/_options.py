"""The one place that defines the options every ``bulk`` command shares, and the parser they live in.

Why: ``--shop``, ``--tokens``, ``--database-url``… were defined six times with six wordings and read the
environment while the parser was built (so a bad ``BULK_MAX_IN_FLIGHT`` crashed ``--help``). Here each
shared option is declared once (:data:`SHARED`): its flag, its words, and the settings field
(:mod:`bulk.cli._config`) that supplies it when the flag is absent. The parser's defaults are ``None``;
:func:`resolve` fills them from the validated settings *after* parsing, so ``--help`` never reads the
environment and shows each option's variable and default instead.

:class:`BulkParser` is the parser class of every command and sub-command: no prefix abbreviations
(``--shop`` is never guessed from ``--sh``), and ``-v`` / ``--log-format`` on every level.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulk.cli._config import Settings, env_name, load_settings

LOG_FORMATS = ("plain", "json")


class BulkParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with ``allow_abbrev=False`` and the logging options, for every level
    (``add_subparsers`` hands its class down, so sub-commands get it too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        group = self.add_argument_group("logging")
        # SUPPRESS: a sub-command's parser must not reset what ``bulk -v COMMAND`` set before it
        group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                           help="more log records: -v for info, -vv for debug (with tracebacks)")
        group.add_argument("--log-format", choices=LOG_FORMATS, default=argparse.SUPPRESS,
                           help="plain: one timestamped line per record, never wrapped (default); "
                                "json: one JSON object per line, with every record's fields")


def whole_number(text: str) -> int:
    """argparse type: an integer ≥ 1, refused in plain words."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class SharedOption:
    """One option shared by several commands; ``dest`` is also its :class:`Settings` field unless
    ``setting`` names another."""

    dest: str
    flag: str
    metavar: str
    help: str
    type: Callable[[str], Any] = str
    setting: str | None = None
    default_text: str | None = None  # the default in words, when it is not a plain value

    @property
    def field(self) -> str:
        """The settings field that supplies the value when the flag is absent."""
        return self.setting or self.dest


SHARED: dict[str, SharedOption] = {o.dest: o for o in (
    SharedOption("shop", "--shop", "SHOP",
                 "NAME.myshopify.com; sim:// for the built-in simulated shop; http://127.0.0.1:PORT "
                 "for a served `bulk sim`"),
    SharedOption("tokens", "--tokens", "T1,T2,…",
                 "comma-separated Admin API access tokens, one per app (each has its own rate-limit "
                 "bucket); never printed — prefer the variable, argv shows in `ps`"),
    SharedOption("database_url", "--database-url", "URL",
                 "the fleet's shared journal, postgresql://…: enqueue for `bulk worker` processes"),
    SharedOption("redis_url", "--redis-url", "URL",
                 "the fleet's shared scheduler, redis://…: one set of buckets and one cap for every process"),
    SharedOption("max_in_flight", "--max-in-flight", "N",
                 "the shop's cap on requests in flight, for the whole fleet", type=whole_number),
    SharedOption("state_dir", "--state-dir", "DIR",
                 "where the catalog cache, shards, undo files and the embedded journal live", type=Path,
                 default_text="~/.local/share/bulk; a throwaway one for sim://"),
    SharedOption("journal", "--journal", "PATH|URL", "the journal: a SQLite path or postgresql:// URL",
                 default_text="journal.sqlite3 in --state-dir if given, else in ~/.local/share/bulk; "
                              "a throwaway one for sim://"),
    SharedOption("sql_url", "--sql-url", "URL", "the PostgreSQL database --from-sql runs on",
                 setting="source_database_url"),
)}


def add_shared(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the shared options ``names`` to ``parser`` (help shows the variable and the default)."""
    for name in names:
        option = SHARED[name]
        default = option.default_text or Settings.model_fields[option.field].default
        where = f"env {env_name(option.field)}" + (f"; default {default}" if default is not None else "")
        parser.add_argument(option.flag, dest=option.dest, metavar=option.metavar, type=option.type,
                            default=None, help=f"{option.help} ({where})")
    shared = tuple(parser.get_default("shared_options") or ())
    parser.set_defaults(shared_options=(*shared, *names))


def resolve(args: argparse.Namespace, settings: Settings | None = None) -> Settings:
    """Fill every shared option the command has but was not given from the settings (environment,
    then ``.env``, then the default); a bad variable raises :class:`~bulk.errors.ConfigError`."""
    settings = settings or load_settings()
    for name in getattr(args, "shared_options", ()):
        if getattr(args, name, None) is None:
            setattr(args, name, settings.value(SHARED[name].field))
    return settings
