"""Small helpers for what the fake providers read and write: URLs, compact JSON, UTC times."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

__all__ = ["compact_json", "is_http_url", "utc_text"]


def is_http_url(value: object) -> bool:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def compact_json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def utc_text(epoch_seconds: float | None) -> str | None:
    """`2025-08-13T09:48:00Z` (whole seconds, UTC), or None."""
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
