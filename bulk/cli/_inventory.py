"""``bulk inventory set SKU LOCATION QTY`` and ``bulk inventory submit FILE`` — the urgent lane.

Why a thin shell: everything happens in :class:`bulk.session.shop.Shop` (micro-batching, SKU resolution,
idempotent retries, the scheduler at URGENT priority); this module only reads argv, the
``SHOPIFY_SHOP`` / ``SHOPIFY_ACCESS_TOKENS`` environment and the file, and prints one line (or one
JSON object) per change. Tokens are read from the environment at run time and never printed: they
are not argparse defaults, so ``--help`` cannot show them either.

Exit codes: 0 every change applied; 1 some were stale or rejected; 2 bad input, config or shop error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bulk.cli._failures import check_input_file, check_reachable
from bulk.cli._options import add_shared
from bulk.errors import ConfigError
from bulk.lanes.urgent import InventoryResult, InventoryStatus
from bulk.models import InventoryUpdate, RowError, RowNote, Source

EXIT_OK = 0
EXIT_REJECTED = 1

EPILOG = """\
examples:
  bulk inventory set SKU-0000001-0 "Main Warehouse" 5 --shop NAME.myshopify.com
  bulk inventory set SKU-0000001-0 "Main Warehouse" 5 --change-from 7     (compare-and-set)
  bulk inventory submit inventory.csv --json
      columns: sku or inventory_item_id, location (name or GID), quantity, optional change_from
  bulk inventory set SKU-0000001-0 Overflow 3 --shop "sim://?products=100"  (simulated shop)

--shop defaults to $SHOPIFY_SHOP, --tokens to $SHOPIFY_ACCESS_TOKENS (comma-separated, never printed);
both may also come from a .env file in the current directory.
"""


def register(subparsers: Any) -> None:
    """Add ``inventory set`` and ``inventory submit``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "inventory",
        help="set inventory quantities now, through the urgent lane",
        description="Set available quantities within a second or two, ahead of any bulk work.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_parser = actions.add_parser(
        "set", help="set one quantity", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    set_parser.add_argument("item", metavar="SKU", help="a SKU, or an inventory item GID")
    set_parser.add_argument("location", metavar="LOCATION", help="a location name, or its GID")
    set_parser.add_argument("quantity", metavar="QTY", type=int, help="the new available quantity")
    set_parser.add_argument(
        "--change-from",
        type=int,
        metavar="N",
        help="apply only if the shop still has N (else reported STALE)",
    )
    submit_parser = actions.add_parser("submit", help="set the quantities listed in a CSV/JSONL file")
    submit_parser.add_argument("file", type=Path, metavar="FILE")
    for sub in (set_parser, submit_parser):
        add_shared(sub, "shop", "tokens")
        sub.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
        sub.set_defaults(handler=run)


def _gid_or(value: str, kind: str) -> tuple[str | None, str | None]:
    """(GID, None) if ``value`` is a GID of ``kind``, else (None, value)."""
    return (value, None) if value.startswith(f"gid://shopify/{kind}/") else (None, value)


def _updates_from_args(args: argparse.Namespace) -> list[InventoryUpdate | str]:
    item_id, sku = _gid_or(args.item, "InventoryItem")
    location_id, location_name = _gid_or(args.location, "Location")
    return [
        InventoryUpdate(
            source=Source(file="<command line>", line=1),
            inventory_item_id=item_id,
            sku=sku,
            location_id=location_id,
            location_name=location_name,
            quantity=args.quantity,
            change_from=args.change_from,
        )
    ]


def _updates_from_file(path: Path) -> list[InventoryUpdate | str]:
    """Every row of ``path``: an update, or the row error as text (file:line:column: reason)."""
    from bulk.ingest import read_updates

    check_input_file(path)
    out: list[InventoryUpdate | str] = []
    for item in read_updates(path, kind="inventory"):
        if isinstance(item, InventoryUpdate):
            out.append(item)
        elif isinstance(item, RowError) and not isinstance(item, RowNote):  # a note is no problem
            out.append(str(item))
    return out


async def run(args: argparse.Namespace) -> int:
    """Send the changes and print their results; the exit code says whether all were applied."""
    from bulk.session.shop import Shop

    shop, tokens = args.shop, args.tokens  # flags, else the configuration (bulk.cli._options.resolve)
    if not shop:
        raise ConfigError("no shop given: use --shop NAME.myshopify.com (or SHOPIFY_SHOP), or --shop sim://")
    items = _updates_from_args(args) if args.action == "set" else _updates_from_file(args.file)
    updates = [u for u in items if isinstance(u, InventoryUpdate)]
    await check_reachable(shop)
    async with Shop.connect(shop, tokens) as session:
        sent = iter(await session.inventory.set(updates))
    results = [
        next(sent)
        if isinstance(u, InventoryUpdate)
        else InventoryResult(status=InventoryStatus.REJECTED, reason=u)
        for u in items
    ]
    _print(results, items, as_json=args.json)
    return EXIT_OK if all(r.status is InventoryStatus.APPLIED for r in results) else EXIT_REJECTED


def _print(
    results: Sequence[InventoryResult], items: Sequence[InventoryUpdate | str], *, as_json: bool
) -> None:
    counts = {s.value: sum(r.status is s for r in results) for s in InventoryStatus}
    if as_json:
        rows = []
        for result, item in zip(results, items, strict=True):
            row = result.as_json()
            if isinstance(item, InventoryUpdate):
                row["line"] = item.source.line
                row["location_name"] = item.location_name
            rows.append(row)
        json.dump({"results": rows, "summary": counts}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for result, item in zip(results, items, strict=True):
        what = result.sku or result.inventory_item_id or "?"
        where = (item.location_name or item.location_id) if isinstance(item, InventoryUpdate) else ""
        line = (
            f"{result.status.value:8} {what} @ {where} = {result.quantity}" if where else result.status.value
        )
        if result.reason:
            line += f"  ({result.reason})"
        print(line)
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
