"""JSONL → updates: one flat object per line, ``{"kind": "price", "sku": "A-1", "price": "12.50"}``.

Why flat objects (not the nested models): the same field names as the ``simple`` CSV dialect, so a
line of JSONL and a row of CSV say the same thing the same way. Why plain ``json`` and not the
``jsonlines`` package: we need each line's bytes (to name a line that is not UTF-8 instead of failing
the file), ``json.JSONDecodeError.colno`` for the column of bad JSON, and ``parse_float=Decimal`` so
``12.10`` is never a binary float on its way to a price. ``jsonlines.Reader`` can give all three (through
``InvalidLineError.__cause__``), but it is not free: 200,000 price lines took 1.21–1.36 s through it and
0.64–0.86 s through this loop (same ``loads``, 2026-12-06), a fifth of the whole read of such a file
(2.8 s) — so the dependency was dropped.

Values go through the same :mod:`bulk.ingest.values` checks as CSV cells (prices as strings or JSON
numbers), then through full model validation: JSONL is the library/automation path, not the 1.5M-row
one. A ``kind`` missing from a line is taken from the reader's ``kind`` option when it names one kind.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Generator, Mapping
from decimal import Decimal
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from bulk.errors import InputError
from bulk.ingest.values import (
    MAX_FIELD_BYTES,
    Rejected,
    parse_code,
    parse_gid,
    parse_location,
    parse_money,
    too_big,
)
from bulk.models import (
    DescriptionUpdate,
    ImageUpdate,
    InventoryUpdate,
    PriceUpdate,
    RowError,
    Update,
)

_FIELDS: Mapping[str, frozenset[str]] = {
    "price": frozenset({"sku", "variant_id", "price", "compare_at_price", "clear_compare_at"}),
    "description": frozenset({"handle", "product_id", "description_html"}),
    "image": frozenset({"handle", "product_id", "images", "image_src", "image_alt", "mode", "image_mode"}),
    "inventory": frozenset(
        {"sku", "inventory_item_id", "location", "location_id", "location_name", "quantity", "change_from"}
    ),
}
_MODELS: Mapping[str, type[BaseModel]] = {
    "price": PriceUpdate,
    "description": DescriptionUpdate,
    "image": ImageUpdate,
    "inventory": InventoryUpdate,
}


def _bad(column: str | int, reason: str) -> InputError:
    """A bad value on the current line (file/line are filled in where it is caught)."""
    return InputError(reason, file="", line=0, column=column)


def read_jsonl(
    stream: IO[bytes],
    *,
    file: str,
    kinds: Collection[str],
    location: str | None,
    image_mode: str,
    tally: dict[str, int],
) -> Generator[Update | RowError, None, None]:
    """Yield one update (or error) per non-blank line; skip lines of kinds not in ``kinds``."""
    default_kind = next(iter(kinds)) if len(kinds) == 1 else None
    for number, raw in enumerate(stream, 1):
        tally["records"] = number
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield RowError(file=file, line=number, column=exc.start + 1,
                           reason=f"not valid UTF-8 (byte 0x{raw[exc.start]:02X}): save the file as UTF-8")
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            yield RowError(file=file, line=number, column=exc.colno, reason=f"bad JSON: {exc.msg}")
            continue
        for item in update_from_mapping(obj, file=file, line=number, kinds=kinds, default_kind=default_kind,
                                        location=location, image_mode=image_mode):
            if not isinstance(item, RowError):
                tally[item.kind] = tally.get(item.kind, 0) + 1
            yield item


def update_from_mapping(
    obj: object,
    *,
    file: str,
    line: int,
    kinds: Collection[str] = tuple(_FIELDS),
    default_kind: str | None = None,
    location: str | None = None,
    image_mode: str = "append",
) -> list[Update | RowError]:
    """One flat record (a JSONL line, a SQL row) → its update, or its row errors; ``[]`` when its kind
    is not wanted. Field names are the ``simple`` CSV dialect's."""
    try:
        if not isinstance(obj, dict):
            raise _bad(1, f"expected a JSON object, got {type(obj).__name__}")
        kind = obj.get("kind", default_kind)
        if not isinstance(kind, str) or kind not in _FIELDS:
            raise _bad("kind", f"kind {kind!r} is not one of {', '.join(_FIELDS)}")
        if kind not in kinds:
            return []
        payload = _payload(kind, obj, file, line, location, image_mode)
        update: Update = _MODELS[kind].model_validate(payload)  # type: ignore[assignment]
    except InputError as exc:
        return [RowError(file=file, line=line, column=exc.column, reason=exc.reason)]
    except ValidationError as exc:
        out: list[Update | RowError] = []
        for error in exc.errors():
            loc = [str(p) for p in error["loc"] if p not in ("variant", "product")]
            out.append(RowError(file=file, line=line, column=".".join(loc) or None, reason=error["msg"]))
        return out
    return [update]


def _payload(
    kind: str, obj: dict[str, Any], file: str, line: int, location: str | None, image_mode: str
) -> dict[str, Any]:
    """The model's input from one flat line, values checked like CSV cells."""
    unknown = sorted(set(obj) - _FIELDS[kind] - {"kind"})
    if unknown:
        expected = ", ".join(sorted(_FIELDS[kind]))
        raise _bad(unknown[0], f"unknown field for kind {kind!r}; expected: {expected}")
    out: dict[str, Any] = {"source": {"file": file, "line": line}}
    if kind == "price":
        out["variant"] = {k: _ident(k, obj[k]) for k in ("sku", "variant_id") if obj.get(k) is not None}
        for k in ("price", "compare_at_price"):
            if obj.get(k) is not None:
                out[k] = _money(k, obj[k])
        if "clear_compare_at" in obj:
            out["clear_compare_at"] = obj["clear_compare_at"]
    elif kind in ("description", "image"):
        out["product"] = {k: _ident(k, obj[k]) for k in ("handle", "product_id") if obj.get(k) is not None}
        if kind == "description":
            html = out["description_html"] = obj.get("description_html")
            if isinstance(html, str) and (size := too_big(html)) is not None:
                raise _bad("description_html", f"description of {size:,} bytes: Shopify accepts at most"
                                               f" {MAX_FIELD_BYTES:,} bytes (512 KB)")
        else:
            images = obj.get("images")
            if images is None and obj.get("image_src") is not None:
                images = [{"url": obj["image_src"], "alt": obj.get("image_alt") or ""}]
            out["images"] = images
            out["mode"] = obj.get("mode", obj.get("image_mode")) or image_mode
    else:
        for k in ("sku", "inventory_item_id", "quantity", "change_from", "location_id", "location_name"):
            if obj.get(k) is not None:
                out[k] = _ident(k, obj[k])
        where = obj.get("location") if obj.get("location") is not None else location
        if where is not None and not (out.get("location_id") or out.get("location_name")):
            out["location_id"], out["location_name"] = parse_location(str(where))
    return out


def _money(key: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _bad(key, f"{key} must be a number or a string like \"12.50\"")
    parsed = parse_money(str(value))
    if isinstance(parsed, Rejected):
        raise _bad(key, parsed.reason)
    return parsed


def _ident(key: str, value: object) -> object:
    """SKUs lose Excel's apostrophe and refuse scientific notation; IDs may be bare numbers."""
    if not isinstance(value, str):
        return value  # let the model say what type it wanted
    resource = {"variant_id": "ProductVariant", "product_id": "Product", "inventory_item_id": "InventoryItem",
                "location_id": "Location"}.get(key)
    parsed = parse_gid(value, resource) if resource else parse_code(value, "SKU") if key == "sku" else value
    if isinstance(parsed, Rejected):
        raise _bad(key, parsed.reason)
    return parsed
