"""A product group: consecutive rows of one product, as Shopify exports spread a product over rows.

Why a separate piece of state: images arrive one per row but become one
:class:`~bulk.models.ImageUpdate` per product, and "first description wins" needs to know what the
product already had. Only the current group is kept, so memory stays constant; a product whose rows
are not consecutive forms two groups (two updates, which the planner coalesces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bulk.ingest import _build
from bulk.models import Image, ImageUpdate, RowError

MAX_IMAGES = 250  # Shopify's limit of media per product; also bounds the memory of one group


@dataclass
class ProductGroup:
    """What the rows of one product contributed so far."""

    key: str  # the product GID, else ``handle:…``
    handle: str | None
    product_id: str | None
    line: int  # first row of the group
    image_line: int = 0  # first accepted row with an image: the ImageUpdate's source line
    more_image_lines: list[int] = field(default_factory=list)  # later rows with an image (same outcome)
    images: list[Image] = field(default_factory=list)
    mode: Literal["append", "replace"] | None = None
    description_line: int | None = None
    rejected_line: int | None = None  # first row of the product that was rejected

    def close(
        self, *, file: str, default_mode: Literal["append", "replace"], image_column: str | None
    ) -> ImageUpdate | RowError | None:
        """The group's images as one update; withheld (an error) if a replace would be partial."""
        if not self.images:
            return None
        mode = self.mode or default_mode
        if mode == "replace" and self.rejected_line is not None:
            reason = (f"images of this product not replaced: line {self.rejected_line} of the product was "
                      "rejected, and replacing with a partial list would delete images")
            return RowError(file=file, line=self.line, column=image_column, reason=reason)
        return _build.images(file, self.image_line, self.handle, self.product_id, self.images, mode,
                            more_lines=self.more_image_lines)
