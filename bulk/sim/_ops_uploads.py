"""Staged uploads: ``stagedUploadsCreate`` hands out a form-POST target on the simulator's own
``/_sim/uploads`` route, the way Shopify hands out a cloud-storage bucket form.

Why the strictness: Shopify stages bulk-mutation variables only as ``text/jsonl`` with
``httpMethod: POST`` (the argument defaults to PUT), and the form needs every parameter it returned;
the simulator returns the same kind of parameter list (``key`` is the ``stagedUploadPath``) so a
client that forwards only ``key`` or forgets ``httpMethod`` fails here first. Only
``BULK_MUTATION_VARIABLES`` is staged; other resources get a userError.

The form carries a signed ``policy`` (``bulk/sim/_storage.py``) whose ``content-length-range`` is the
shop's upload maximum (Shopify's 100 MB, lowered by the ``upload_limit`` fault); the upload route
enforces it the way the storage bucket does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bulk.sim._bulk_input import BULK_VARS_SUFFIX
from bulk.sim._ops_common import ShopCore, user_error
from bulk.sim._storage import POLICY_LIFETIME_S, UploadPolicy
from bulk.sim._values import iso

BULK_MIME = "text/jsonl"


class UploadOps:
    """The ``stagedUploadsCreate`` resolver."""

    def __init__(self, core: ShopCore, policy: UploadPolicy | None = None) -> None:
        self.core = core
        self.policy = policy or UploadPolicy()
        self.targets = 0

    def staged_uploads_create(self, _: Any, info: Any, *, input: list[dict[str, Any]]) -> dict[str, Any]:
        """``stagedUploadsCreate``: one POST form target per input; the ``key`` parameter is the
        ``stagedUploadPath`` to pass to ``bulkOperationRunMutation``."""
        base = info.context.base_url
        errors: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        for i, item in enumerate(input):
            path = ["input", str(i)]
            if item["resource"] != "BULK_MUTATION_VARIABLES":
                errors.append(
                    user_error(
                        [*path, "resource"], "The simulated shop stages only BULK_MUTATION_VARIABLES uploads"
                    )
                )
            elif item["mimeType"] != BULK_MIME:
                errors.append(user_error([*path, "mimeType"], f"mimeType must be {BULK_MIME}"))
            elif item.get("httpMethod") != "POST":
                errors.append(
                    user_error(
                        [*path, "httpMethod"],
                        "Bulk mutation variables must be uploaded with httpMethod POST (the default is PUT)",
                    )
                )
            else:
                self.targets += 1
                key = f"tmp/{info.context.token_index}/bulk/{uuid.uuid4()}{BULK_VARS_SUFFIX}"
                wall = self.core.wall()
                fields = [
                    ("Content-Type", BULK_MIME),
                    ("success_action_status", "201"),
                    ("acl", "private"),
                    ("key", key),
                    ("x-goog-date", iso(wall).replace("-", "").replace(":", "")),
                ]
                targets.append(
                    {
                        "url": f"{base}/_sim/uploads",
                        "resourceUrl": f"{base}/_sim/uploads",
                        "parameters": self.policy.parameters(fields, expires=iso(wall + POLICY_LIFETIME_S)),
                    }
                )
        if errors:
            return {"stagedTargets": None, "userErrors": errors}
        return {"stagedTargets": targets, "userErrors": []}

    def roots(self) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
        """(query root resolvers, mutation resolvers)."""
        return {}, {"stagedUploadsCreate": self.staged_uploads_create}

    def statistics(self) -> dict[str, Any]:
        """How many upload targets were handed out."""
        return {"staged_targets": self.targets}

    def __repr__(self) -> str:
        return f"UploadOps(targets={self.targets})"


SUPPORTED: dict[str, frozenset[str]] = {
    "StagedUploadsCreatePayload": frozenset({"stagedTargets", "userErrors"}),
    "StagedMediaUploadTarget": frozenset({"url", "resourceUrl", "parameters"}),
    "StagedUploadParameter": frozenset({"name", "value"}),
}
