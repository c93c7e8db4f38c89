"""The simulated shop's file store: staged uploads in, bulk-operation results out.

Why in memory: it stands in for Shopify's cloud storage bucket, lives as long as the simulated shop,
and tests must read back exactly what the client uploaded. Uploads are capped like Shopify's
(100 MB, counted as 100,000,000 bytes — the stricter reading); result files the shop writes itself
(:meth:`FileStore.publish`) are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_UPLOAD_BYTES = 100_000_000


class FileStore:
    """Bytes by key, like an object store."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._uploads = 0
        self._rejected = 0
        self._on_upload: list[Callable[[str, bytes], None]] = []

    def on_upload(self, listener: Callable[[str, bytes], None]) -> None:
        """Call ``listener(key, data)`` with every upload stored from now on."""
        self._on_upload.append(listener)

    def put(self, key: str, data: bytes) -> None:
        """Store an upload under ``key`` (replacing any previous one).

        Raises ValueError if ``data`` is over 100 MB or ``key`` is empty.
        """
        if not key:
            raise ValueError("an upload needs a key")
        if len(data) > MAX_UPLOAD_BYTES:
            self._rejected += 1
            raise ValueError(f"file of {len(data)} bytes exceeds the 100 MB upload limit")
        stored = self._files[key] = bytes(data)
        self._uploads += 1
        for listener in self._on_upload:
            listener(key, stored)

    def publish(self, key: str, data: bytes) -> None:
        """Store a file the shop itself produced (bulk results): no size limit."""
        self._files[key] = data

    def get(self, key: str) -> bytes | None:
        """The file under ``key``, or None."""
        return self._files.get(key)

    def statistics(self) -> dict[str, Any]:
        """How many files and bytes are stored, and upload counts."""
        return {
            "files": len(self._files),
            "bytes": sum(len(d) for d in self._files.values()),
            "uploads": self._uploads,
            "uploads_rejected": self._rejected,
        }

    def __repr__(self) -> str:
        return f"FileStore(files={len(self._files)}, uploads={self._uploads})"
