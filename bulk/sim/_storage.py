"""The staged-upload target's signed POST policy, the way Google Cloud Storage (and S3) check a form upload.

Why: Shopify's ``stagedUploadsCreate`` hands out a form whose ``policy`` parameter is a base64 JSON
document the storage enforces — among its conditions ``["content-length-range", MIN, MAX]``, the
size the upload may have. A client that reads it can cut its files to fit; one that does not gets
the storage's own ``400 EntityTooLarge`` XML answer. :class:`UploadPolicy` signs the policy when the
target is made (``bulk/sim/_ops_uploads.py``) and checks a form against it when the file arrives
(``bulk/sim/_server.py``); everything here is pure apart from the signing secret.

Checks, in the storage's order: a ``policy`` without a valid ``x-goog-signature`` → 403
``SignatureDoesNotMatch``; a form field that differs from an exact-match condition → 403
``AccessDenied``; a file larger than the range's maximum → 400 ``EntityTooLarge``, smaller than its
minimum → 400 ``EntityTooSmall``. A form without any ``policy`` is held to the shop's configured
maximum (the simulator's own tests post bare forms; a real bucket would refuse them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

MAX_BULK_UPLOAD_BYTES = 100_000_000  # Shopify: bulk mutation files up to 100 MB (the stricter 10^8)
ALGORITHM = "GOOG4-HMAC-SHA256"
BUCKET = "shopify-staged-uploads-sim"
POLICY_LIFETIME_S = 7 * 24 * 3600.0  # not enforced (see docs/simulator.md)


@dataclass(frozen=True, slots=True)
class StorageError:
    """A refusal in the storage's XML shape."""

    status: int
    code: str
    message: str
    details: str | None = None

    def xml(self) -> str:
        """``<Error><Code>…</Code><Message>…</Message>[<Details>…</Details>]</Error>``."""
        details = f"<Details>{escape(self.details)}</Details>" if self.details else ""
        return (
            "<?xml version='1.0' encoding='UTF-8'?>"
            f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>{details}</Error>"
        )


def too_large() -> StorageError:
    """GCS's answer to a form upload over the policy's ``content-length-range`` (the figure is not
    in it: a client reads it from the policy)."""
    return StorageError(
        400,
        "EntityTooLarge",
        "Your proposed upload is larger than the maximum object size specified in your Policy Document.",
        "Content-length exceeds upper bound on range",
    )


def too_small() -> StorageError:
    """GCS's answer to a form upload under the policy's ``content-length-range``."""
    return StorageError(
        400,
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum object size specified in your Policy Document.",
        "Content-length smaller than lower bound on range",
    )


def decode_policy(policy: str) -> dict[str, Any] | None:
    """The policy document behind a ``policy`` form value, or None if it is not base64 JSON."""
    try:
        document = json.loads(base64.b64decode(policy, validate=True))
    except (ValueError, TypeError):
        return None
    return document if isinstance(document, dict) else None


def content_length_range(document: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(min, max)`` from a policy's ``["content-length-range", min, max]`` condition, if any."""
    for condition in document.get("conditions") or ():
        if isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            low, high = condition[1], condition[2]
            if isinstance(low, int) and isinstance(high, int):
                return low, high
    return None


class UploadPolicy:
    """Signs staged-upload policies with ``max_bytes`` and checks forms against them."""

    def __init__(self, max_bytes: int = MAX_BULK_UPLOAD_BYTES, *, secret: bytes | None = None) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self.max_bytes = max_bytes
        self._secret = secret if secret is not None else os.urandom(32)

    def parameters(self, fields: list[tuple[str, str]], *, expires: str) -> list[dict[str, str]]:
        """The form's parameters: ``fields`` (in order), then the algorithm, signature and policy.

        ``expires`` is the policy's ``expiration`` (ISO 8601)."""
        document = {
            "conditions": [
                *({name: value} for name, value in fields),
                {"bucket": BUCKET},
                ["content-length-range", 0, self.max_bytes],
            ],
            "expiration": expires,
        }
        policy = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
        return [
            *({"name": name, "value": value} for name, value in fields),
            {"name": "x-goog-algorithm", "value": ALGORITHM},
            {"name": "x-goog-credential", "value": f"sim-storage/{BUCKET}"},
            {"name": "x-goog-signature", "value": self._sign(policy)},
            {"name": "policy", "value": policy},
        ]

    def limit(self, form: Mapping[str, str]) -> tuple[int, int] | StorageError:
        """Before the file is read: ``(min, max)`` bytes it may have, or why the form is refused."""
        policy = form.get("policy")
        if policy is None:
            return 0, self.max_bytes
        document = decode_policy(policy)
        signature = form.get("x-goog-signature", "")
        if document is None or not hmac.compare_digest(signature, self._sign(policy)):
            return StorageError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your Google secret key and signing method.",
            )
        for condition in document.get("conditions") or ():
            if not isinstance(condition, dict):
                continue
            for name, wanted in condition.items():
                if name != "bucket" and form.get(name) != wanted:
                    return StorageError(
                        403,
                        "AccessDenied",
                        f'Invalid according to Policy: Policy Condition failed: ["eq", "${name}", '
                        f"{json.dumps(wanted)}]",
                    )
        return content_length_range(document) or (0, self.max_bytes)

    def _sign(self, policy: str) -> str:
        return hmac.new(self._secret, policy.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"UploadPolicy(max_bytes={self.max_bytes})"
