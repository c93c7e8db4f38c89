"""Seeding the simulated shop to match an input file: what becomes a product, and how the catalog
then answers for it (SKU lookup, handle, variant count) without disturbing the generated part."""

from __future__ import annotations

from pathlib import Path

from bulk.sim._catalog import Catalog
from bulk.sim._seed import CatalogSeed, SeedProduct, seed_from_files, seed_from_keys
from tests.conftest import CSV_SAMPLES


def seed(keys: list[tuple[str, str]], generated: int = 5) -> CatalogSeed:
    base = Catalog(generated)
    return seed_from_keys(
        keys, known_sku=lambda s: base.variant_by_sku(s) is not None, known_handle=base.has_handle
    )


def test_a_handle_opens_a_product_and_the_following_skus_are_its_variants() -> None:
    got = seed([("handle", "shirt"), ("sku", "S-1"), ("sku", "S-2"), ("handle", "hat"), ("sku", "H-1")])
    assert got.products == (SeedProduct("shirt", ("S-1", "S-2")), SeedProduct("hat", ("H-1",)))


def test_a_handle_seen_again_takes_its_skus_back_and_a_generated_one_ends_the_product() -> None:
    got = seed([("handle", "shirt"), ("sku", "S-1"), ("handle", "hat"), ("sku", "H-1"),
                ("handle", "shirt"), ("sku", "S-2"), ("handle", "product-2"), ("sku", "P-9")])  # fmt: skip
    assert got.products == (
        SeedProduct("shirt", ("S-1", "S-2")),
        SeedProduct("hat", ("H-1",)),
        SeedProduct("sku-p-9", ("P-9",)),
    )


def test_skus_before_any_handle_are_one_product_each() -> None:
    got = seed([("sku", "A"), ("sku", "B/1"), ("handle", "later"), ("sku", "C")])
    assert [p.skus for p in got.products] == [("A",), ("B/1",), ("C",)]
    assert got.products[1].handle == "sku-b-1"
    assert got.products[2].handle == "later"


def test_what_the_generated_catalog_has_and_repeats_are_not_seeded() -> None:
    got = seed([("sku", "SKU-0000001-0"), ("handle", "product-2"), ("sku", "X"), ("sku", "X")])
    assert got.products == (SeedProduct("sku-x", ("X",)),)
    # a pattern SKU of a product the generated catalog does not have is a new SKU like any other
    beyond = seed([("sku", "SKU-0000009-0")]).products
    assert beyond == (SeedProduct("sku-sku-0000009-0", ("SKU-0000009-0",)),)


def test_more_than_ten_skus_continue_under_a_numbered_handle() -> None:
    keys = [("handle", "big")] + [("sku", f"B{i}") for i in range(23)]
    got = seed(keys)
    assert [(p.handle, len(p.skus)) for p in got.products] == [("big", 10), ("big--2", 10), ("big--3", 3)]


def test_the_catalog_serves_seeded_products_after_the_generated_ones() -> None:
    extra = seed([("handle", "shirt"), ("sku", "S-1"), ("sku", "S-2"), ("handle", "bare")])
    c = Catalog(5 + len(extra), extra)
    assert c.generated == 5 and c.products == 7
    vid = c.variant_by_sku("S-2")
    assert vid == 61 and c.sku(vid) == "S-2" and c.handle(6) == "shirt"
    assert c.variant_ids(6) == range(60, 62) and c.has_variant(61) and not c.has_variant(62)
    assert c.handle(7) == "bare" and c.variant_count(7) == 1 and c.sku(70) is None  # no SKU
    assert c.has_handle("shirt") and c.has_handle("product-5") and not c.has_handle("product-6")
    assert c.variant_by_sku("SKU-0000006-0") is None  # product 6 is seeded: no pattern SKU there
    assert c.total_variants() == Catalog(5).total_variants() + 3
    assert c.price_cents(61) == 1000 + (6 * 37 + 11) % 9000  # the same formulas as every product


def seed_file(name: str) -> CatalogSeed:
    base = Catalog(5)
    return seed_from_files([CSV_SAMPLES / name], known_sku=lambda s: base.variant_by_sku(s) is not None,
                           known_handle=base.has_handle)


def test_a_real_export_files_each_sku_under_its_own_product() -> None:
    """The reader yields a product's prices before the update that carries its handle (images and
    description come when the product's rows end): the seed follows the file's lines instead."""
    got = seed_file("shopify_sample_2023_handle_dialect.csv")
    shirt = tuple(f"SRT_COT_{c}{s}" for c in "1234" for s in ("11", "22", "33"))
    assert got.products == (
        SeedProduct("example-shirt", shirt[:10]),
        SeedProduct("example-shirt--2", shirt[10:]),  # the simulator's 10-variant GID scheme
        SeedProduct("example-pants", ("PNT_DEN_285", "PNT_DEN_305", "PNT_DEN_405")),
        SeedProduct("example-hat", ("HAT_GRY_275",)),
    )


def test_both_shopify_dialects_group_a_products_variants_together() -> None:
    legacy = seed_file("shopify_sample_2019_legacy_dialect.csv")
    # its first variant has no SKU: seeded by its option value (issue 17)
    assert legacy.products == (SeedProduct("example-t-shirt", ("example-shirt-s", "example-shirt-m"),
                                           (('Lithograph - Height: 9" x Width: 12"',),)),)
    url_handle = seed_file("shopify_sample_2025_url_handle_dialect.csv")
    assert [(p.handle, len(p.skus)) for p in url_handle.products] == [
        ("physical-product-the-band-t-shirt", 10), ("physical-product-the-band-t-shirt--2", 2),
        ("digital-product-the-history-of-rock-music", 3)]


def test_a_quantity_file_without_a_location_is_seeded_the_submission_reports_the_rest(tmp_path: Path) -> None:
    file = tmp_path / "stock.csv"
    file.write_text("sku,quantity\nNEW-1,5\nNEW-2,7\n")
    base = Catalog(5)
    got = seed_from_files([file], known_sku=lambda s: base.variant_by_sku(s) is not None,
                          known_handle=base.has_handle)
    assert [p.skus for p in got.products] == [("NEW-1",), ("NEW-2",)]


def test_variants_without_sku_are_seeded_with_their_option_values() -> None:
    got = seed([("handle", "shirt"), ("options", '["shirt","Red","S"]'), ("sku", "S-1"),
                ("options", '["shirt","Red","S"]'), ("options", '["cap","Default Title"]'),
                ("options", '["product-2","Default Title"]')])  # the generated catalog's: not seeded
    assert got.products == (SeedProduct("shirt", ("S-1",), (("Red", "S"),)),
                            SeedProduct("cap", (), (("Default Title",),)))
    catalog = Catalog(products=5 + len(got), seed=got)
    shirt, cap = catalog.variant_ids(6), catalog.variant_ids(7)
    assert [catalog.sku(v) for v in shirt] == ["S-1", None]
    assert catalog.selected_options(shirt[1]) == (("Option1", "Red"), ("Option2", "S"))
    assert catalog.selected_options(cap[0]) == (("Title", "Default Title"),)
    assert catalog.selected_options(30) == (("Title", "Default Title"),)  # product 3: one variant
    sizes = [catalog.selected_options(v) for v in catalog.variant_ids(2)]
    assert sizes == [(("Size", "S"),), (("Size", "M"),), (("Size", "L"),)]
    assert catalog.option_names(2) == ("Size",) and catalog.option_names(7) == ("Title",)
