"""Seeding a simulated shop to match an input file: its SKUs and handles become products.

Why: a merchant rehearses *their* change (`bulk submit their.csv --shop sim://`). The generated
catalog only knows ``SKU-0000001-0`` and ``product-1``; without seeding every real SKU would be
"unknown" and the rehearsal would predict nothing. So every SKU and handle the input names that the
generated catalog does not already have becomes a product after the generated ones.

Grouping, in file order (documented in docs/simulator.md):

- a handle opens a product; SKUs on the same line or on later lines (Shopify's product CSV puts a
  product's variant rows after its first row) are its variants, until the next handle. Keys are taken
  in the order of the file's *lines*, not in the order the reader yields updates: the reader yields a
  product's price updates as it reads them but its handle-bearing update (images, description) when
  the product's rows end, so a CSV's handles are read from its handle column, line by line; a handle
  seen again takes the SKUs after it back to its product, and a handle the generated catalog has
  ends the current product (its SKUs are then one product each, as below);
- SKUs before any handle (a ``sku,price`` file) are each a product of their own — the rehearsal then
  sends one line per SKU, an upper bound on the real shop's lines;
- at most :data:`MAX_VARIANTS` per product (the simulator's GID scheme); more SKUs under one handle
  continue in a product with handle ``{handle}--2``, ``--3``, …
- a variant without SKU named by its handle and option values (``Option1 Value``…) becomes a variant
  without SKU of that handle's product (its newest one), with those option values, after its SKU
  variants; the same values twice make one variant. A handle the generated catalog has is not seeded.

IDs (``gid://…``) in the input are not seeded: the simulator cannot take a real shop's GIDs.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Any

from bulk.errors import ConfigError, InputError

MAX_VARIANTS = 10  # variant GIDs are p * 10 + v


@dataclass(frozen=True, slots=True)
class SeedProduct:
    """One product made for the input: its handle, its variants' SKUs, then the option values of its
    variants without SKU (0..10 in all; a product named only by its handle gets one variant without a
    SKU, as Shopify gives every product one)."""

    handle: str
    skus: tuple[str, ...]
    options: tuple[tuple[str, ...], ...] = ()  # variants without SKU, by option values, after the SKUs


class CatalogSeed:
    """Products added after the generated ones, with lookups by SKU and by handle."""

    def __init__(self, products: Sequence[SeedProduct] = ()) -> None:
        self.products = tuple(products)
        self._by_sku = {
            sku: (i, v) for i, prod in enumerate(self.products) for v, sku in enumerate(prod.skus)
        }
        self._by_handle = {prod.handle: i for i, prod in enumerate(self.products)}
        self._variants = sum(self.variant_count(i) for i in range(len(self.products)))

    def __len__(self) -> int:
        return len(self.products)

    def variant_of_sku(self, sku: str) -> tuple[int, int] | None:
        """``(seed index, variant position)`` of ``sku``, or None."""
        return self._by_sku.get(sku)

    def product_of_handle(self, handle: str) -> int | None:
        """Seed index of the product with ``handle``, or None."""
        return self._by_handle.get(handle)

    def variant_count(self, index: int) -> int:
        """Variants of seeded product ``index`` (at least one)."""
        prod = self.products[index]
        return max(1, len(prod.skus) + len(prod.options))

    def variants(self) -> int:
        """How many variants the seeded products have (counted once: ``total_variants`` asks often)."""
        return self._variants

    def __repr__(self) -> str:
        return f"CatalogSeed(products={len(self.products)}, variants={self.variants()})"


def seed_from_keys(
    keys: Iterable[tuple[str, str]], *, known_sku: Callable[[str], bool], known_handle: Callable[[str], bool]
) -> CatalogSeed:
    """Build the seed from ``("sku" | "handle" | "options", value)`` pairs in file order (see the
    module doc); an ``options`` value is the JSON array ``[handle, value1, …]``."""
    products: list[tuple[str, int, list[str], list[tuple[str, ...]]]] = []  # (handle, number, skus, options)
    latest: dict[str, int] = {}  # handle -> index of its newest product (the one SKUs join)
    seen_skus: set[str] = set()
    current: int | None = None  # the product SKUs join; None before a new handle
    for what, value in keys:
        if what == "options":
            handle, *values = json.loads(value)
            if known_handle(handle):
                continue
            if handle not in latest:
                products.append((handle, 1, [], []))
                latest[handle] = len(products) - 1
            _, _, skus, options = products[latest[handle]]
            if tuple(values) not in options and len(skus) + len(options) < MAX_VARIANTS:
                options.append(tuple(values))
            continue
        if what == "handle":
            if known_handle(value):
                current = None  # the generated catalog has it: its SKUs cannot become variants of it
            elif value in latest:
                current = latest[value]
            else:
                products.append((value, 1, [], []))
                current = latest[value] = len(products) - 1
            continue
        if value in seen_skus or known_sku(value):
            continue
        seen_skus.add(value)
        if current is None:
            products.append((_sku_handle(value), 1, [value], []))
            continue
        handle, number, skus, options = products[current]
        if len(skus) + len(options) == MAX_VARIANTS:
            products.append((handle, number + 1, [], []))
            current = latest[handle] = len(products) - 1
        products[current][2].append(value)
    return CatalogSeed([SeedProduct(h if n == 1 else f"{h}--{n}", tuple(skus), tuple(options))
                        for h, n, skus, options in products])


def seed_from_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    known_sku: Callable[[str], bool],
    known_handle: Callable[[str], bool],
) -> CatalogSeed:
    """Read every input file (any format and dialect ``bulk submit`` reads; bad rows are skipped,
    they are the submission's business) and seed what they name."""
    from bulk.ingest import read_updates  # the sim depends on the readers only when seeding

    def keys() -> Iterable[tuple[str, str]]:
        for path in paths:
            if not os.path.isfile(path):
                raise ConfigError(f"sim:// match: no such file {os.fspath(path)!r}")
            try:
                yield from _keys_in_line_order(path, read_updates)
            except InputError as exc:
                raise ConfigError(f"sim:// match: cannot read {os.fspath(path)!r}: {exc}") from exc

    return seed_from_keys(keys(), known_sku=known_sku, known_handle=known_handle)


def _keys_in_line_order(
    path: str | os.PathLike[str], read_updates: Callable[..., Any]
) -> Iterator[tuple[str, str]]:
    """One file's keys in the order of its lines: on each line its handle (from the CSV's handle
    column, else from the updates that carry one), then its SKUs."""
    handles = _csv_handles(path)
    by_line: dict[int, list[tuple[str, str]]] = {}
    # any location: a quantity column needs one to be read, and only its rows' SKUs matter here
    with read_updates(path, max_errors=2**62, location="(seeding)") as reader:
        for item in reader:
            source = getattr(item, "source", None)
            if source is not None:
                by_line.setdefault(source.line, []).extend(_keys_of(item))
    for line in sorted(by_line.keys() | handles.keys()):
        handle = handles.get(line)
        if handle is not None:
            yield "handle", handle
        # a handle is said once per line, first: the updates' own handle repeats the column's
        keys = sorted(by_line.get(line, ()), key=lambda key: key[0] != "handle")
        yield from (key for key in keys if handle is None or key[0] != "handle")


def _csv_handles(path: str | os.PathLike[str]) -> dict[int, str]:
    """Line → handle of every record of a CSV that names one (empty for JSONL, for a CSV without a
    handle column, or one the readers cannot make out: the submission reports those). Line numbers
    are the readers' own (:class:`~bulk.ingest.csv_reader.CsvRecords`), so they meet the updates'."""
    from bulk.ingest import dialects
    from bulk.ingest.csv_reader import CsvRecords

    name = os.fspath(path)
    base = name[:-3] if name.endswith(".gz") else name
    if base.lower().endswith((".jsonl", ".ndjson", ".json")):
        return {}
    out: dict[int, str] = {}
    with _open_text(name) as text, suppress(InputError):
        records = CsvRecords(text, file=name)
        columns = dialects.bind(dialects.detect(records.header, file=name), records.header, file=name,
                                location_known=True)
        column = columns.index.get(dialects.Field.HANDLE)
        if column is None:
            return {}
        for record in records:
            if isinstance(record, tuple) and (handle := record[1][column].strip()):
                out[record[0]] = handle
    return out


def _open_text(name: str) -> IO[str]:
    """The file as text, the way the CSV reader opens it (BOM dropped, bad bytes kept as escapes)."""
    raw = gzip.GzipFile(name, "rb") if name.endswith(".gz") else open(name, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _keys_of(item: object) -> Iterable[tuple[str, str]]:
    """Handles first, then SKUs: on a product CSV's first row the handle opens the product."""
    product = getattr(item, "product", None)
    if product is not None and product.handle:
        yield "handle", product.handle
    variant = getattr(item, "variant", None)
    if variant is not None and variant.sku:
        yield "sku", variant.sku
    elif variant is not None and variant.handle and variant.options:
        yield "options", json.dumps([variant.handle, *variant.options], ensure_ascii=False)
    sku = getattr(item, "sku", None)  # inventory rows
    if isinstance(sku, str) and sku:
        yield "sku", sku


def _sku_handle(sku: str) -> str:
    return "sku-" + "".join(c if c.isalnum() else "-" for c in sku.lower())
