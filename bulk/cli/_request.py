"""What ``bulk submit`` (and ``bulk run``) was asked: :class:`SubmitRequest`, and :func:`submit_file`,
which opens the shop, builds the source (a file, or a SQL query) and runs it through the library's one
path (:func:`bulk.submit.root.run_submission`)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from bulk.cli._failures import check_input_file
from bulk.errors import ConfigError
from bulk.lanes.bulk import BulkLaneConfig
from bulk.models import OnEvent
from bulk.session.connect import shop_session
from bulk.sources.files import FileInput, ReaderOptions
from bulk.sources.readahead import Source
from bulk.sources.sql import sql_source
from bulk.submit.options import RunOptions
from bulk.submit.root import run_submission
from bulk.submit.submission import SubmissionResult


@dataclass(frozen=True, kw_only=True)
class SubmitRequest:
    """Everything ``bulk submit`` was asked to do."""

    file: Path
    shop: str | None
    more_files: tuple[Path, ...] = ()  # after ``file``: several files are one run
    tokens: str | Sequence[str] | None = None
    dialect: str | None = None
    encoding: str | None = None  # forced text encoding of the file (detected by default)
    max_errors: int = 1000
    location: str | None = None
    route: Literal["auto", "bulk", "direct"] = "auto"
    dry_run: bool = False
    report: Path | None = None
    undo: Path | None = None  # default: beside the input file
    journal: str | None = None
    state_dir: Path | None = None
    sync_catalog: Literal["auto", "always", "never"] = "auto"
    again: bool = False  # a finished run's input: compare with the shop anew and send what differs
    lane: BulkLaneConfig = field(default_factory=BulkLaneConfig)
    run_key: str | None = None  # default: a hash of the input file, the shop and the options
    from_sql: str | None = None  # a query whose rows are the changes (instead of ``file``)
    sql_url: str | None = None  # the PostgreSQL database to run ``from_sql`` on
    database_url: str | None = None  # a shared journal: enqueue for `bulk worker` processes
    redis_url: str | None = None  # a shared scheduler: every process of the fleet under one cap
    max_in_flight: int = 8

    @property
    def files(self) -> tuple[Path, ...]:
        """Every input file, in the order given."""
        return (self.file, *self.more_files)

    @property
    def input_name(self) -> str:
        """The run's input as the journal and `bulk status` name it: its files, space-separated (how
        the command that resumes it names them)."""
        return " ".join(map(str, self.files))

    @property
    def enqueue(self) -> bool:
        """True when the work is left to a fleet of workers (a shared journal was named)."""
        return self.database_url is not None

    @property
    def journal_location(self) -> str | None:
        """``--journal``, else ``STATE_DIR/journal.sqlite3`` when a state directory was named (where
        ``bulk status --state-dir`` and ``bulk cancel --state-dir`` look), else None: the library's
        default (``~/.local/share/bulk/journal.sqlite3``; a throwaway one for ``sim://``)."""
        if self.journal or self.enqueue or self.state_dir is None:
            return self.journal
        return str(self.state_dir / "journal.sqlite3")

    def run_options(self) -> RunOptions:
        """The library's options for this request."""
        return RunOptions(
            run_key=self.run_key, route=self.route, dry_run=self.dry_run, report=self.report, undo=self.undo,
            state_dir=self.state_dir, journal=self.journal_location, database_url=self.database_url,
            sync_catalog=self.sync_catalog, again=self.again, lane=self.lane,
            key_options={"dialect": self.dialect, "location": self.location})


async def submit_file(request: SubmitRequest, *, on_event: OnEvent | None = None) -> SubmissionResult:
    """Read ``request.files`` (or run ``request.from_sql``) and apply them to ``request.shop``: one run."""
    if not request.shop:
        raise ConfigError("no shop given: use --shop NAME.myshopify.com (or SHOPIFY_SHOP), or --shop sim://")
    emit = on_event or (lambda _name, _data: None)
    source: Source | FileInput
    if request.from_sql is not None:
        if not request.sql_url:
            raise ConfigError("--from-sql needs the database to run it on: --sql-url postgresql://… "
                              "(or BULK_SOURCE_DATABASE_URL)")
        source = sql_source(request.sql_url, request.from_sql, label="query", location=request.location)
        input_name = f"sql:{hashlib.sha256(request.from_sql.encode()).hexdigest()[:12]}"
        if request.run_key is None:  # the same query tomorrow is new data: a new run
            request = replace(request, run_key=f"sql-{uuid.uuid4().hex[:16]}")
    else:
        for file in request.files:
            check_input_file(file)
        source = FileInput(paths=request.files, options=ReaderOptions(
            dialect=request.dialect, max_errors=request.max_errors, location=request.location,
            encoding=request.encoding))
        input_name = request.input_name
    async with shop_session(request.shop or "", request.tokens, redis_url=request.redis_url,
                            max_in_flight=request.max_in_flight) as shop:
        return await run_submission(shop, request.run_options(), source, input_name=input_name,
                                    on_event=emit)
