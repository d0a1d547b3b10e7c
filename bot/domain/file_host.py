"""The file host's port: where a video the user sent is put so the provider can fetch it, when
the bot has no public address of its own (KIE's File Upload API: bot/providers/kie_files.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class FileHostError(Exception):
    """The file host did not take the file (refused, down, too slow). The message is for the
    log: it never holds the key."""


class FileHost(Protocol):
    async def put(self, path: Path, file_name: str, mime_type: str | None) -> str:
        """Upload the file (streamed from disk); return the public URL it can be fetched from.
        Raises FileHostError."""
        ...

    async def aclose(self) -> None: ...
