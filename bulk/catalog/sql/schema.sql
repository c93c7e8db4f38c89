-- Local catalog cache: what the shop has, as of the last `bulk catalog sync`.
CREATE TABLE IF NOT EXISTS products (
    product_id  TEXT PRIMARY KEY,
    handle      TEXT,
    updated_at  TEXT
);
CREATE INDEX IF NOT EXISTS products_handle ON products (handle);
CREATE TABLE IF NOT EXISTS variants (
    variant_id        TEXT PRIMARY KEY,
    product_id        TEXT NOT NULL,
    sku               TEXT,
    price             TEXT,
    compare_at_price  TEXT,
    inventory_item_id TEXT
);
CREATE INDEX IF NOT EXISTS variants_sku ON variants (sku);
CREATE INDEX IF NOT EXISTS variants_product ON variants (product_id);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- What a run applied (its mutations' answers), kept until the run ends and then made the picture:
-- a run resumed after a crash plans against the picture it started from.
CREATE TABLE IF NOT EXISTS applied (
    run_key           TEXT NOT NULL,
    variant_id        TEXT NOT NULL,
    price             TEXT,
    compare_at_price  TEXT,
    PRIMARY KEY (run_key, variant_id)
);
-- Variants by product handle + option values (variants without SKU are named so, as Shopify's CSV
-- import does): `key` is the JSON array [handle, value1, …] of bulk.models.VariantRef.key().
CREATE TABLE IF NOT EXISTS variant_options (
    variant_id  TEXT PRIMARY KEY,
    product_id  TEXT NOT NULL,
    key         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS variant_options_key ON variant_options (key);
-- Option names in position order (JSON array) of each product with several options: selectedOptions
-- are put in this order (with one option there is nothing to order).
CREATE TABLE IF NOT EXISTS product_options (
    product_id  TEXT PRIMARY KEY,
    names       TEXT NOT NULL
);
