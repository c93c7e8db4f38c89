"""The staged upload's POST to cloud storage: its size limit, and what a refusal says.

Why here: ``stagedUploadsCreate`` answers a target URL and form ``parameters`` signed for one file;
the upload itself is plain HTTP to the storage (Google Cloud Storage for Shopify), outside the
GraphQL cost model. Two things the storage documents and we must read:

- the signed ``policy`` parameter (base64 JSON) carries ``["content-length-range", min, max]``: a file
  outside it is refused, so the lane reads :func:`size_limit` and cuts its shards to fit;
- a refusal is an XML ``<Error><Code>EntityTooLarge</Code><Message>…</Message></Error>``: a 4xx is
  final for that upload (resending the same bytes cannot succeed), and the row's reason carries the
  storage's own code and message (:func:`storage_error`). A 5xx is transient, as for the shop.

The pure parts (:func:`size_limit`, :func:`storage_error`) need no network; :func:`post_file` does the
POST. The form's signature and policy are credentials of a kind: they never appear in an error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bulk.errors import GraphQLRequestError, NetworkError, ServerError, StorageRefusedError

ERROR_BODY_LIMIT = 16 * 1024  # bytes of a storage error body read
NOT_SENT = 0  # StorageRefusedError.status when the file was refused here, before any byte was sent


def _parameters(parameters: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(p.get("name")): str(p.get("value")) for p in parameters if isinstance(p, Mapping)}


def size_limit(parameters: Iterable[Mapping[str, Any]]) -> tuple[int, int] | None:
    """``(min_bytes, max_bytes)`` of the ``content-length-range`` condition in the target's signed
    ``policy`` parameter, or ``None`` when there is no policy or it states no range."""
    encoded = _parameters(parameters).get("policy")
    if not encoded:
        return None
    try:
        standard = encoded.strip().replace("-", "+").replace("_", "/")  # either base64 alphabet
        policy = orjson.loads(base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    conditions = policy.get("conditions") if isinstance(policy, Mapping) else None
    for condition in conditions or []:
        if (isinstance(condition, list) and len(condition) == 3
                and str(condition[0]).lower() == "content-length-range"):
            try:
                low, high = int(condition[1]), int(condition[2])
            except (TypeError, ValueError):
                return None
            return (low, high) if 0 <= low <= high else None
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def storage_error(
    status: int, body: bytes | str, *, max_bytes: int | None = None, token_index: int | None = None
) -> StorageRefusedError:
    """The :class:`StorageRefusedError` a storage refusal means, reading its XML ``Code`` and
    ``Message`` (namespaced or not); a body that is not that XML is kept as the message, shortened."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    code: str | None = None
    message: str | None = None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        root = None
    if root is not None:
        for element in root.iter():
            name = _local(element.tag)
            if name == "Code" and code is None:
                code = (element.text or "").strip() or None
            elif name == "Message" and message is None:
                message = (element.text or "").strip() or None
    elif text.strip():
        message = " ".join(text.split())[:300]
    said = ": ".join(part for part in (code, message) if part) or "no reason given"
    limit = f" (the upload's policy allows at most {max_bytes} bytes)" if max_bytes is not None else ""
    return StorageRefusedError(
        f"staged upload refused by storage: HTTP {status} {said}{limit}",
        status=status, code=code, storage_message=message, max_bytes=max_bytes, token_index=token_index,
    )


async def post_file(
    session: aiohttp.ClientSession, target: Mapping[str, Any], path: Path, *, token_index: int
) -> str:
    """POST ``path`` to a ``stagedTargets`` entry; return its ``key`` parameter (the
    ``stagedUploadPath``). Raises :class:`StorageRefusedError` (final) for a file outside the
    policy's size range — before sending it — or a 4xx, :class:`ServerError` / :class:`NetworkError`
    (transient) for a 5xx or a network fault."""
    parameters = list(target.get("parameters") or [])
    fields = _parameters(parameters)
    key = fields.get("key")
    if key is None:
        raise GraphQLRequestError("staged upload target has no key parameter", errors=[],
                                  token_index=token_index)
    limit = size_limit(parameters)
    size = (await asyncio.to_thread(path.stat)).st_size
    if limit is not None and not limit[0] <= size <= limit[1]:
        raise StorageRefusedError(
            f"staged upload not sent: the file has {size} bytes, the upload's policy allows "
            f"{limit[0]}..{limit[1]}",
            status=NOT_SENT, code="EntityTooLarge" if size > limit[1] else "EntityTooSmall",
            storage_message=None, max_bytes=limit[1], token_index=token_index,
        )
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    with path.open("rb") as f:
        form.add_field("file", f, filename=path.name, content_type="text/jsonl")
        try:
            async with session.post(str(target["url"]), data=form) as resp:
                if resp.status < 300:
                    return key
                body = await resp.content.read(ERROR_BODY_LIMIT)
                if resp.status >= 500:
                    raise ServerError(f"staged upload: HTTP {resp.status} from storage", status=resp.status,
                                      token_index=token_index)
                raise storage_error(resp.status, body, max_bytes=limit[1] if limit else None,
                                    token_index=token_index)
        except aiohttp.ClientError as exc:
            raise NetworkError(f"staged upload failed: {type(exc).__name__}",
                               token_index=token_index) from None
