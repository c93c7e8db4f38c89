"""The fields a row can carry, whatever a dialect calls its columns, and the update kind each serves
(:mod:`bulk.ingest.dialects` maps header names onto them)."""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Field(enum.StrEnum):
    """A column we act on, whatever the dialect calls it."""

    SKU = "sku"
    VARIANT_ID = "variant_id"
    HANDLE = "handle"
    PRODUCT_ID = "product_id"
    PRICE = "price"
    COMPARE_AT = "compare_at_price"
    DESCRIPTION = "description_html"
    IMAGE_SRC = "image_src"
    IMAGE_ALT = "image_alt"
    IMAGE_MODE = "image_mode"
    INVENTORY_ITEM_ID = "inventory_item_id"
    LOCATION = "location"
    QUANTITY = "quantity"
    CHANGE_FROM = "change_from"
    BARCODE = "barcode"  # never sent: read only to flag spreadsheet damage
    INVENTORY_TRACKER = "inventory_tracker"  # empty = untracked: no inventory update
    COMMAND = "command"  # Matrixify product command
    VARIANT_COMMAND = "variant_command"
    IMAGE_COMMAND = "image_command"
    # Option values: with the handle they name a variant that has no SKU, as Shopify's import does.
    OPTION1 = "option1_value"
    OPTION2 = "option2_value"
    OPTION3 = "option3_value"


OPTIONS = (Field.OPTION1, Field.OPTION2, Field.OPTION3)
KINDS = ("price", "description", "image", "inventory")

# Which update kind a field serves; fields not listed (identifiers, barcode, commands) are always read.
FIELD_KIND: Mapping[Field, str] = {
    Field.PRICE: "price",
    Field.COMPARE_AT: "price",
    Field.DESCRIPTION: "description",
    Field.IMAGE_SRC: "image",
    Field.IMAGE_ALT: "image",
    Field.IMAGE_MODE: "image",
    Field.IMAGE_COMMAND: "image",
    Field.INVENTORY_ITEM_ID: "inventory",
    Field.LOCATION: "inventory",
    Field.QUANTITY: "inventory",
    Field.CHANGE_FROM: "inventory",
    Field.INVENTORY_TRACKER: "inventory",
}
