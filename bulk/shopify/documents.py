"""Every GraphQL document the project sends, loaded once from ``queries/*.graphql``.

Why files and not strings in code: one place to read what we ask of the shop, and one test
(``tests/unit/test_documents.py``) validates every ``.graphql`` file against the real Admin schema, so a
typo or a field Shopify removed fails CI instead of a Black-Friday run. Values are always bound as
variables, never formatted into a document.
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

# Names of the documents (file stem), as constants so a typo fails at import, not on the wire.
INVENTORY_SET_QUANTITIES = "inventory_set_quantities"
INVENTORY_ITEMS_BY_SKUS = "inventory_items_by_skus"
INVENTORY_ITEMS_BY_FEW_SKUS = "inventory_items_by_few_skus"
PRODUCT_VARIANTS_BY_SKU = "product_variants_by_sku"
LOCATIONS = "locations"
STAGED_UPLOADS_CREATE = "staged_uploads_create"
BULK_OPERATION_RUN_MUTATION = "bulk_operation_run_mutation"
BULK_OPERATION_RUN_QUERY = "bulk_operation_run_query"
BULK_OPERATION = "bulk_operation"
BULK_OPERATIONS = "bulk_operations"
BULK_OPERATION_CANCEL = "bulk_operation_cancel"
CATALOG_EXPORT = "catalog_export"
PRODUCT_VARIANTS_BULK_UPDATE = "product_variants_bulk_update"
PRODUCT_VARIANTS_BULK_UPDATE_BULK = "product_variants_bulk_update_bulk"
PRODUCT_UPDATE = "product_update"
PRODUCT_SET = "product_set"
PRODUCT_SET_BULK = "product_set_bulk"
PRODUCT_UPDATE_BULK = "product_update_bulk"
PRODUCT_MEDIA_STATUS = "product_media_status"
MEDIA_EXPORT = "media_export"
MEDIA_STATUS = "media_status"

# A planned line's kind → the mutation that applies it, sent alone (direct route) or as the mutation of
# a bulk operation (whose document takes the same variables, one JSONL line each).
# "set": an image set replaced (productSet with files), allowed in bulk operations by its schema text
DIRECT_MUTATIONS = {"variants": PRODUCT_VARIANTS_BULK_UPDATE, "product": PRODUCT_UPDATE,
                    "media": PRODUCT_UPDATE, "set": PRODUCT_SET}
# (the bulk documents of lines that add images also answer the product's media ids: free in a bulk
# operation's results, they let the follow-up of new images read them at 1 point each; a description
# alone does not ask for them, so its outcome stores none)
BULK_MUTATIONS = {"variants": PRODUCT_VARIANTS_BULK_UPDATE_BULK, "product": PRODUCT_UPDATE,
                  "media": PRODUCT_UPDATE_BULK, "set": PRODUCT_SET_BULK}


@functools.cache
def all_documents() -> dict[str, str]:
    """``{name: document text}`` for every shipped ``queries/*.graphql`` (read once per process)."""
    folder: Traversable = resources.files("bulk.queries")  # the top-level queries/ folder, shipped as data
    checkout = Path(__file__).resolve().parents[2] / "queries"
    if (checkout / f"{CATALOG_EXPORT}.graphql").is_file():
        # a source checkout reads its own documents: an editable install maps bulk.queries to the
        # checkout it was installed from, which need not be this one (a second git worktree)
        folder = checkout
    return {
        entry.name.removesuffix(".graphql"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".graphql")
    }


def document(name: str) -> str:
    """The text of the document ``queries/{name}.graphql``; ``KeyError`` names the known ones."""
    docs = all_documents()
    try:
        return docs[name]
    except KeyError:
        raise KeyError(f"no GraphQL document {name!r}; known: {', '.join(sorted(docs))}") from None


def aliased(name: str, fragment: str, *, count: int, query: str, alias: str, field: str = "node",
            variable: str | None = None, extra: str = "") -> str:
    """One query asking ``field(id:)`` ``count`` times — aliases ``{alias}0 …``, variables
    ``${variable}0 …`` — each selecting the fragment ``fragment`` of the shipped document ``name``,
    whose own operation is the one-object form (validated like every document). ``extra``: more
    variable definitions the fragment uses."""
    variable = variable or alias
    definition = next(part for part in document(name).split("\nfragment ")[1:]
                      if part.startswith(f"{fragment} "))
    params = ", ".join([f"${variable}{i}: ID!" for i in range(count)] + ([extra] if extra else []))
    fields = "\n".join(f"  {alias}{i}: {field}(id: ${variable}{i}) {{ ...{fragment} }}" for i in range(count))
    return f"query {query}({params}) {{\n{fields}\n}}\n\nfragment {definition.strip()}\n"
