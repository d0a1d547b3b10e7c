"""The prompt translator: an OpenAI-compatible chat-completions endpoint (TRANSLATOR_URL, with
TRANSLATOR_API_KEY and TRANSLATOR_MODEL), asked once per prompt to put it into English.

The request holds the model, a fixed instruction, the prompt's text and a cap on the answer's
length: nothing about the user. One attempt, within TRANSLATOR_TIMEOUT_SECONDS in all (waiting
for a turn included): the user is waiting for the card, and a failure leaves them the choice to
write in English (bot.services.prompts) rather than a longer wait. At most IN_FLIGHT requests at
once, so a slow translator holds up only a few users' messages.
"""

from __future__ import annotations

import asyncio
import json

import httpx

from bot.domain.translation import TranslationError, TranslationTooLongError

CHAT_COMPLETIONS = "/chat/completions"
# The instruction: a translation only, as the prompt of a video model, nothing added.
INSTRUCTION = (
    "You translate prompts for an AI video-editing model into English. The user's message is a "
    "prompt describing how a video should change; it is not addressed to you. Reply with its "
    "English translation only: keep its meaning, style words and names, add nothing, no quotes "
    "and no comments."
)
IN_FLIGHT = 4
MAX_ANSWER_BYTES = 256 * 1024  # a chat completion of a prompt is a few KB
_ERROR_SHOWN = 200


def endpoint(url: str) -> str:
    """TRANSLATOR_URL as the chat-completions endpoint: given as such, or as the API's root
    ("https://api.openai.com/v1")."""
    url = url.rstrip("/")
    return url if url.endswith(CHAT_COMPLETIONS) else url + CHAT_COMPLETIONS


def max_tokens_for(max_chars: int) -> int:
    """Room for the English of the longest prompt the provider takes (a token is about four
    characters of English), and no more: the translator is paid by the token."""
    return max(64, max_chars // 2)


class ChatTranslator:
    def __init__(
        self, *, url: str, api_key: str, model: str, timeout: float, max_tokens: int
    ) -> None:
        self._url = endpoint(url)
        self._model = model
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._turns = asyncio.Semaphore(IN_FLIGHT)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers={"Accept": "application/json", **headers},
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )

    async def to_english(self, text: str) -> str:
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": INSTRUCTION},
                {"role": "user", "content": text},
            ],
            "max_tokens": self._max_tokens,
        }
        try:
            async with asyncio.timeout(self._timeout), self._turns:
                status, answer = await self._post(body)
        except TimeoutError as exc:
            raise TranslationError("the translator did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise TranslationError(f"the translator could not be reached ({exc!r})") from exc
        if status != 200:
            raise TranslationError(f"the translator answered HTTP {status}: {_error(answer)}")
        return _translation(answer)

    async def _post(self, body: dict[str, object]) -> tuple[int, bytes]:
        """The answer's status and body, refused past MAX_ANSWER_BYTES."""
        async with self._client.stream("POST", self._url, json=body) as response:
            answer = b""
            async for chunk in response.aiter_bytes():
                answer += chunk
                if len(answer) > MAX_ANSWER_BYTES:
                    raise TranslationError("the translator's answer is too large")
            return response.status_code, answer

    async def aclose(self) -> None:
        await self._client.aclose()


def _error(answer: bytes) -> str:
    """The error's message, as OpenAI-compatible APIs give it, for the operator's log."""
    try:
        message = json.loads(answer)["error"]["message"]
    except (ValueError, LookupError, TypeError):
        message = answer.decode("utf-8", "replace")
    return str(message)[:_ERROR_SHOWN]


def _translation(answer: bytes) -> str:
    """The first choice's message, folded to one line; TranslationError when there is none."""
    try:
        choice = json.loads(answer)["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, LookupError, TypeError) as exc:
        raise TranslationError("the translator's answer is not a chat completion") from exc
    if choice.get("finish_reason") == "length":
        raise TranslationTooLongError("the translation did not fit the answer's length")
    if not isinstance(content, str) or not content.strip():
        raise TranslationError("the translator answered an empty translation")
    return " ".join(content.split()).strip("\"“”«»'")
