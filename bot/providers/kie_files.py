"""KIE's File Upload API as the file host of videos users send (`POST /api/file-stream-upload`):
the file is streamed from disk as multipart (`file`, `uploadPath`, `fileName`), and the answer's
`data.downloadUrl` becomes the job's video. Uploads are free; KIE keeps a file about 24 hours.

Only the file goes: the bot's own file name for it, never the Telegram file URL (it holds the
bot's token) nor anything about the user. One attempt within UPLOAD_DEADLINE_SECONDS: the user
is waiting for the card, and is told when it fails.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path, PurePosixPath

import httpx

from bot.domain.file_host import FileHostError

UPLOAD_PATH = "/api/file-stream-upload"
FOLDER = "videos/user-uploads"
UPLOAD_DEADLINE_SECONDS = 300.0  # 500 MB at ~2 MB/s; Telegram's 20 MB takes seconds
_MSG_SHOWN = 200


class KieFileHost:
    def __init__(self, *, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
        )

    async def put(self, path: Path, file_name: str, mime_type: str | None) -> str:
        # A unique name: the same name would overwrite another user's file.
        suffix = PurePosixPath(file_name).suffix.lower()[:8] or ".mp4"
        name = f"{secrets.token_hex(16)}{suffix}"
        try:
            async with asyncio.timeout(UPLOAD_DEADLINE_SECONDS):
                with path.open("rb") as file:
                    response = await self._client.post(
                        UPLOAD_PATH,
                        files={"file": (name, file, mime_type or "video/mp4")},
                        data={"uploadPath": FOLDER, "fileName": name},
                    )
        except TimeoutError as exc:
            raise FileHostError("the file upload took too long") from exc
        except httpx.HTTPError as exc:
            raise FileHostError(f"the file upload failed ({type(exc).__name__})") from exc
        return _download_url(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def _download_url(response: httpx.Response) -> str:
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise FileHostError(f"the file upload answered HTTP {response.status_code}, not JSON")
    data = answer.get("data")
    url = data.get("downloadUrl") if isinstance(data, dict) else None
    ok = response.status_code == 200 and answer.get("success") is True
    ok = ok and answer.get("code", 200) == 200
    if ok and isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    message = str(answer.get("msg") or "")[:_MSG_SHOWN]
    code = answer.get("code", response.status_code)
    raise FileHostError(f"the file upload was refused ({code}: {message})")
