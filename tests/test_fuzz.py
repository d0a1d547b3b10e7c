"""Property-based fuzzing (hypothesis) of a running bot: random texts, link-like strings, button
data on a card, and provider callback bodies.

Properties, for every input:
- no unhandled exception: the error handler never fires (the admin gets no "Unhandled error"
  report), and nothing is logged with a traceback or as unexpected;
- every user message gets an answer (and every button press);
- a rejected input changes no stored data (the drafts and tasks rows, as in test_bad_input.py).

One bot runs per test function and serves all of its examples. The number of examples is kept
small so that the file runs in about a minute; FUZZ_EXAMPLES=500 runs more of each. On CI
(CI=true) the examples are derandomized, so that a run can be repeated exactly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot import texts
from bot.app import BotApp
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import ADMIN_ID, PROMPT, USER_ID, Chat
from tests.test_webhook import webhook_settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None
# More examples take longer than pytest-timeout's 120 s per test: about a second each at most.
pytestmark = pytest.mark.timeout(120 + (EXAMPLES or 0))
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Words in log lines that say an exception was not foreseen (handlers/errors.py, the tracker,
# the service's catch-alls, uvicorn's "Exception in ASGI application").
UNFORESEEN = ("Unhandled", "Unexpected", "unexpectedly", "Traceback", "Exception in ASGI")
NO_LIMITS: dict[str, Any] = {
    "max_active_tasks_per_user": 1000,
    "daily_task_limit": 1000,
    # Nothing changes a task row behind the test's back: no polls, no card refreshes.
    "poll_interval_seconds": 3600,
    "status_edit_interval_seconds": 3600,
}


def examples(count: int) -> settings:
    return settings(FUZZ, max_examples=EXAMPLES or count)


def stored(database: TestDatabase) -> list[tuple[Any, ...]]:
    """Every draft and task row, to compare before and after a rejected input."""
    with connect(database) as conn:
        return [
            *conn.execute("SELECT * FROM drafts ORDER BY id"),
            *conn.execute("SELECT * FROM tasks ORDER BY id"),
        ]


def drafts_and_task(database: TestDatabase, task_id: int) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return [
            *conn.execute("SELECT * FROM drafts ORDER BY id"),
            *conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)),
        ]


class LogWatch(logging.Handler):
    """Keeps every record of WARNING or above that the bot logs during a test."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unforeseen(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()}"
            + (f"\n{logging.Formatter().formatException(r.exc_info)}" if r.exc_info else "")
            for r in self.records
            if r.exc_info
            or r.levelno >= logging.ERROR
            or any(word in r.getMessage() for word in UNFORESEEN)
        ]


@pytest.fixture
def log_watch() -> Iterator[LogWatch]:
    watch = LogWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    yield watch
    root.removeHandler(watch)


@dataclass
class Fuzzed:
    """A running bot, its fakes, and what the properties need to look at."""

    app: BotApp
    telegram: FakeTelegram
    kie: FakeKie
    database: TestDatabase
    watch: LogWatch
    chat: Chat
    dirty: bool = True  # an accepted input may still be writing: settle before the next one
    card: SentMessage | None = None
    task_id: int | None = None  # the bot's task the callback fuzzer posts for
    seen: dict[str, int] = field(default_factory=dict)  # outcomes, for the curious

    def count(self, outcome: str) -> None:
        self.seen[outcome] = self.seen.get(outcome, 0) + 1

    def assert_nothing_unforeseen(self) -> None:
        reports = [
            m.rendered or ""
            for m in self.telegram.messages(ADMIN_ID)
            if "Unhandled" in (m.rendered or "") or "🐞" in (m.rendered or "")
        ]
        assert reports == [], reports
        assert self.watch.unforeseen() == []

    async def settle(self) -> None:
        if self.dirty:
            await self.chat.settle()
            self.dirty = False

    def is_open_card(self, message: SentMessage) -> bool:
        buttons = self.telegram.buttons(USER_ID, message.message_id)
        return any(data.startswith("submit:") for _, data in buttons)

    async def say(self, text: str) -> SentMessage:
        """Send `text`; check it is answered and, when rejected, changed nothing."""
        await self.settle()
        before = stored(self.database)
        answer = await self.chat.say(text, timeout=15)
        accepted = self.is_open_card(answer) or (answer.text or "").startswith(
            texts.prompt_wanted()
        )
        self.count("accepted" if accepted else "rejected")
        if accepted:
            self.dirty = True
        else:
            assert stored(self.database) == before, f"{text!r} was answered {answer.text!r}"
        self.assert_nothing_unforeseen()
        return answer


@pytest.fixture
def fuzzed(
    telegram: FakeTelegram, kie: FakeKie, database: TestDatabase, log_watch: LogWatch
) -> Callable[[BotApp], Fuzzed]:
    def make(app: BotApp) -> Fuzzed:
        return Fuzzed(app, telegram, kie, database, log_watch, Chat(telegram))

    return make


# ----------------------------------------------------------------------------- strategies

COMMANDS = st.sampled_from(
    [
        "start",
        "help",
        "tasks",
        "status",
        "stats",
        "ban",
        "task",
        "redeliver",
        "x",
        "status@fake_bot",
    ]
)
TEXTS = st.one_of(
    st.text(min_size=1, max_size=200),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=100),
    st.text(min_size=500, max_size=1200),  # around the 800-character limit of a prompt
    st.builds(lambda c, a: f"/{c} {a}", COMMANDS, st.text(max_size=40)),
    st.builds(lambda a, b: f"{a} {PROMPT} {b}", st.text(max_size=20), st.text(max_size=20)),
)

_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
_UNICODE_LABEL = st.text(st.characters(categories=["L", "N", "M", "Pd"]), min_size=1, max_size=12)
_ODD_HOSTS = st.sampled_from(
    [
        "",
        "localhost",
        "xn--",
        "xn--80ak6aa92e.com",
        "例え.テスト",
        "ex%61mple.com",
        "exa mple.com",
        "a..b",
        ".",
        "-a-.com",
        "a" * 64 + ".com",
        "127.1",
        "0x7f.0.0.1",
        "2130706433",
        "1.2.3.4.5",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "[64:ff9b::10.0.0.1]",
        "[fe80::1%25eth0]",
        "[fe80::1%eth0]",
        "[::1",
        "::1]",
        "[]",
        "[:::]",
        "[v1.fe]",
        "[2001:db8::1]:99999",
        "[::1]:0",
        "user:pass@[::1]",
        "@",
        "a@b@c",
    ]
)


def _ipv6(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"[{address}]"


HOSTS = st.one_of(
    st.lists(_LABEL | _UNICODE_LABEL, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(_ipv6),
    _ODD_HOSTS,
)
# Mostly http(s), so that most links get past the scheme to the host, port and path.
_HTTP = st.sampled_from(["http", "https", "HTTP", "hTtPs"])
SCHEMES = st.one_of(
    _HTTP,
    _HTTP,
    _HTTP,
    st.sampled_from(["ftp", "file", "javascript", "data", "ws", "mailto"])
    | st.from_regex(r"[a-zA-Z][a-zA-Z0-9+.-]{0,8}", fullmatch=True),
)
SEPARATORS = st.one_of(
    st.just("://"), st.sampled_from([":", ":/", ":///", "://:", "://@", ":\\\\", "//"])
)
USERINFO = st.one_of(
    st.just(""), st.just(""), st.text(max_size=8).map(lambda u: u + "@"), st.just("a:b@")
)
PORTS = st.one_of(
    st.just(""),
    st.just(""),
    st.integers(-1, 100_000).map(lambda p: f":{p}"),
    st.text(max_size=5).map(lambda p: f":{p}"),
)
PATHS = st.one_of(
    st.just("/clip.mp4"),
    st.text(max_size=40).map(lambda p: "/" + p),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=5).map(
        lambda p: f"/a{p}b.mp4"
    ),
)


def links(hosts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda scheme, sep, user, host, port, path: f"{scheme}{sep}{user}{host}{port}{path}",
        SCHEMES,
        SEPARATORS,
        USERINFO,
        hosts,
        PORTS,
        PATHS,
    )


def messages_with(link: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    prompt = st.one_of(st.just(PROMPT), st.text(max_size=30))
    return st.one_of(
        link,
        st.builds(lambda a, p: f"{a} {p}", link, prompt),
        st.builds(lambda a, p: f"{p} {a}", link, prompt),
        st.builds(lambda a, p: f"({a}). {p}", link, prompt),
    )


# Hosts that never leave this machine: names under .invalid (never resolved), and addresses that
# are not public (the address guard must refuse them without connecting anywhere).
_NOT_PUBLIC = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
_NOT_PUBLIC_V6 = ["::1/128", "fe80::/10", "fc00::/7", "ff00::/8", "2001:db8::/32", "::/128"]


def _embedded(v4: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: str) -> str:
    return f"[{prefix}{v4}]"


GUARDED_HOSTS = st.one_of(
    st.lists(_LABEL | _UNICODE_LABEL, min_size=1, max_size=3).map(lambda ls: ".".join(ls)),
    st.one_of(*(st.ip_addresses(network=n).map(str) for n in _NOT_PUBLIC)),
    st.one_of(*(st.ip_addresses(network=n).map(_ipv6) for n in _NOT_PUBLIC_V6)),
    st.builds(
        _embedded,
        st.one_of(*(st.ip_addresses(network=n) for n in _NOT_PUBLIC[:4])),
        st.sampled_from(["::ffff:", "64:ff9b::", "::", "2002:", "::ffff:0:"]),
    ),
    _ODD_HOSTS.filter(lambda h: "." not in h or h.startswith(("[", "0x", "127.", "1.2.3"))),
).map(lambda h: h if h.startswith("[") or h.replace(".", "").isdigit() else h + ".invalid")

# Button data: random, or shaped like the bot's own (with the open card's draft id in it).
DRAFT = "{draft}"
BUTTON_DATA = st.one_of(
    st.text(min_size=1, max_size=64),
    st.builds(
        lambda action, number, rest: f"{action}:{number}{rest}",
        st.sampled_from(["submit", "cancel", "mode", "frame", "access", "bcast", "SUBMIT", ""]),
        st.one_of(
            st.just(DRAFT),
            st.integers(-1, 10**19).map(str),
            st.text("0123456789٣１²", min_size=1, max_size=20),
        ),
        st.one_of(
            st.just(""),
            st.sampled_from([":flex_1", ":reimagine_3", ":allow", ":deny", ":send", "\n", " "]),
            st.text(max_size=10).map(lambda s: ":" + s),
        ),
    ),
)

# Provider callbacks: JSON of every shape, and the two documented shapes with odd values.
JOB = "{job}"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
RESULT_URLS = st.one_of(
    st.sampled_from(
        [
            "http://127.0.0.1:9/result.mp4",
            "https://result.invalid/x.mp4",
            "http://[::1",
            "http://exa mple.invalid/x.mp4",
            "http://ü.invalid/x.mp4",
            "http://a..b.invalid/",
            "http://127.0.0.1:99999/x.mp4",
            "http://[fe80::1%eth0]/x.mp4",
            "file:///etc/passwd",
            "ftp://result.invalid/x.mp4",
            "",
            "x" * 3000,
        ]
    ),
    st.text(max_size=30),
    JSON_VALUES,
)
TASK_IDS = st.one_of(st.just(JOB), st.just(JOB), st.text(max_size=20), JSON_VALUES)
FLAGS = st.one_of(st.integers(-2, 6), st.sampled_from(["1", "SUCCESS", "4", ""]), JSON_VALUES)
ENVELOPE = st.fixed_dictionaries(
    {
        "code": st.one_of(st.sampled_from([200, 500, "200", 501]), JSON_VALUES),
        "data": st.fixed_dictionaries(
            {"taskId": TASK_IDS},
            optional={
                "resultUrls": st.one_of(st.lists(RESULT_URLS, max_size=3), RESULT_URLS),
                "promptJson": st.one_of(st.text(max_size=30), JSON_VALUES),
                "response": st.one_of(st.text(max_size=30), JSON_VALUES),
            },
        ),
    },
    optional={"msg": st.text(max_size=30)},
)
FLAT = st.fixed_dictionaries(
    {"taskId": TASK_IDS},
    optional={
        "status": FLAGS,
        "successFlag": FLAGS,
        "videoUrl": RESULT_URLS,
        "errorMessage": st.one_of(st.text(max_size=40), JSON_VALUES),
        "errorCode": JSON_VALUES,
        "response": st.one_of(
            st.just('{"resultUrls": ["http://127.0.0.1:9/r.mp4"]}'),
            st.just("[" * 5000),
            st.text(max_size=30),
            JSON_VALUES,
        ),
    },
)
# Well-formed callbacks for the task, with odd result URLs and messages: these get past the
# checks, so what follows them (the delivery of an odd result URL) is fuzzed too.
WELL_FORMED = st.one_of(
    st.fixed_dictionaries(
        {
            "code": st.sampled_from([200, 500]),
            "msg": st.text(max_size=30),
            "data": st.fixed_dictionaries(
                {
                    "taskId": st.just(JOB),
                    "resultUrls": st.lists(RESULT_URLS, min_size=1, max_size=2),
                }
            ),
        }
    ),
    st.fixed_dictionaries(
        {"taskId": st.just(JOB), "status": st.sampled_from([1, 2, 3, 4]), "videoUrl": RESULT_URLS},
        optional={"errorMessage": st.text(max_size=300), "errorCode": JSON_VALUES},
    ),
)
CALLBACK_BODIES = st.one_of(
    WELL_FORMED.map(json.dumps),
    ENVELOPE.map(json.dumps),
    FLAT.map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)
CALLBACK_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(["application/json", "text/plain", "", "x/y; q=1"]),
        "X-Webhook-Timestamp": st.text("0123456789-x", max_size=12),
        "X-Webhook-Signature": st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E)),
    },
)


# ----------------------------------------------------------------------------- texts and links


@pytest.fixture
async def text_bot(start_bot: Callable[..., Any], fuzzed: Callable[[BotApp], Fuzzed]) -> Fuzzed:
    return fuzzed(await start_bot())


@examples(150)
@given(text=TEXTS)
async def test_any_text_is_answered_and_a_rejected_one_changes_nothing(
    text_bot: Fuzzed, text: str
) -> None:
    await text_bot.say(text)


@examples(150)
@given(text=messages_with(links(HOSTS)))
async def test_any_link_is_answered_and_a_rejected_one_changes_nothing(
    text_bot: Fuzzed, text: str
) -> None:
    await text_bot.say(text)


@pytest.fixture
async def guarded_bot(start_bot: Callable[..., Any], fuzzed: Callable[[BotApp], Fuzzed]) -> Fuzzed:
    """Links checked before the card, through the address guard, as in production."""
    app = await start_bot(
        preflight_checks=True, allow_loopback_urls=False, preflight_timeout_seconds=2
    )
    return fuzzed(app)


@examples(100)
@given(text=messages_with(links(GUARDED_HOSTS)))
async def test_any_link_checked_by_the_preflight_is_answered_and_changes_nothing_if_refused(
    guarded_bot: Fuzzed, text: str
) -> None:
    await guarded_bot.say(text)


# ----------------------------------------------------------------------------- prompts, end to end

_WORDS = st.from_regex(r"[a-zA-Z]{1,10}", fullmatch=True)
PROMPT_TOKENS = st.one_of(
    _WORDS,
    _WORDS,
    _WORDS,
    st.sampled_from(
        ["<b>", "</i>", "&amp;", "&", "<", ">", '"', "'", "#1:", "Task", "é", "ß", "İ", "ﬁ"]
    ),
    st.sampled_from(["🎨", "✨", "👩‍👩‍👧", "🇺🇦", "\u200f", "\u0301", "\u00a0", "\t", "\x00"]),
    st.text(st.characters(categories=["So", "Sm", "Pd", "Ps", "Pe", "Po", "Sc"]), max_size=4),
)
PROMPTS = st.one_of(
    st.lists(PROMPT_TOKENS, min_size=1, max_size=20),
    st.lists(PROMPT_TOKENS, min_size=50, max_size=200),
).map(" ".join)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.fixture
async def delivery_bot(start_bot: Callable[..., Any], fuzzed: Callable[[BotApp], Fuzzed]) -> Fuzzed:
    app = await start_bot(
        max_active_tasks_per_user=1000, daily_task_limit=1000, status_edit_interval_seconds=3600
    )
    return fuzzed(app)


async def submit_and_finish(bot: Fuzzed, card: SentMessage) -> tuple[int, SentMessage | None]:
    """Submit the card, finish the job at the provider; (task number, its video or None)."""
    known = len(bot.kie.tasks)
    videos = len(bot.chat.videos())
    assert await bot.chat.press(card, "Submit") == texts.toast_submitted()
    tasks = await bot.kie.wait_for_task(count=known + 1)
    bot.kie.complete(tasks[-1].task_id)
    with connect(bot.database) as conn:
        (number,) = conn.execute("SELECT MAX(id) FROM tasks").fetchone()
    deadline = time.monotonic() + 15
    while state_of(bot.database, number) not in ("delivered", "failed", "undeliverable"):
        assert time.monotonic() < deadline, state_of(bot.database, number)
        await asyncio.sleep(0.02)
    bot.dirty = True
    new = bot.chat.videos()[videos:]
    return number, (new[0] if new else None)


@examples(30)
@given(prompt=PROMPTS)
async def test_any_accepted_prompt_comes_back_as_a_video_captioned_with_it(
    delivery_bot: Fuzzed, prompt: str
) -> None:
    card = await delivery_bot.say(f"https://v.example.com/{time.monotonic()}.mp4 {prompt}")
    if not delivery_bot.is_open_card(card):
        return  # refused (not English, too long...): checked by the tests above
    shown = next(
        line.removeprefix("Prompt: ")
        for line in (card.rendered or "").splitlines()
        if line.startswith("Prompt: ")
    )
    number, video = await submit_and_finish(delivery_bot, card)
    assert video is not None, f"task {number} came back without a video"
    caption, whole = video.rendered or "", f"Task #{number}: {shown}"
    assert utf16_length(caption) <= 1024  # Telegram's limit, in UTF-16 code units
    if caption != whole:  # too long for a caption: shortened, marked with an ellipsis
        assert utf16_length(whole) > 1024
        assert caption.endswith("…")
        assert whole.startswith(caption.removesuffix("…"))
    delivery_bot.assert_nothing_unforeseen()


async def test_a_prompt_of_many_emoji_still_comes_back_as_a_video(delivery_bot: Fuzzed) -> None:
    card = await delivery_bot.chat.card(f"https://v.example.com/e.mp4 make it red {'🎨' * 600}")
    number, video = await submit_and_finish(delivery_bot, card)
    assert state_of(delivery_bot.database, number) == "delivered"
    assert video is not None, "the result came as a link, not as a video"


# ----------------------------------------------------------------------------- button data


@pytest.fixture
async def card_bot(start_bot: Callable[..., Any], fuzzed: Callable[[BotApp], Fuzzed]) -> Fuzzed:
    return fuzzed(await start_bot(**NO_LIMITS))


async def open_card(bot: Fuzzed) -> SentMessage:
    """The card the fuzzer presses on; a new one once it was submitted or cancelled."""
    card = bot.card
    if card is None or not bot.is_open_card(bot.telegram.message(USER_ID, card.message_id)):
        await bot.settle()
        card = bot.card = await bot.chat.card(f"https://v.example.com/{time.monotonic()}.mp4 red")
        bot.dirty = True
    return card


async def queue_settled(bot: Fuzzed) -> None:
    """Wait until every submitted task has reached the provider (no row changes after)."""
    deadline = time.monotonic() + 10
    while any(row[0] in ("queued", "submitting") for row in task_states(bot.database)):
        assert time.monotonic() < deadline, task_states(bot.database)
        await asyncio.sleep(0.01)


def task_states(database: TestDatabase) -> list[tuple[str]]:
    with connect(database) as conn:
        return list(conn.execute("SELECT state FROM tasks"))


@examples(150)
@given(template=BUTTON_DATA)
async def test_any_button_data_on_a_card_is_answered_and_a_rejected_press_changes_nothing(
    card_bot: Fuzzed, template: str
) -> None:
    card = await open_card(card_bot)
    data = template.replace(DRAFT, _draft_of(card_bot, card))
    assume(1 <= len(data.encode()) <= 64)
    await card_bot.settle()
    await queue_settled(card_bot)
    before = stored(card_bot.database)
    toast = await card_bot.chat.press_data(card.message_id, data)
    accepted = toast in (texts.toast_submitted(), texts.toast_cancelled())
    card_bot.count(toast)
    if accepted:
        card_bot.dirty = True
    else:
        await card_bot.chat.settle()  # anything the press set off has finished
        assert stored(card_bot.database) == before, f"{data!r} was answered {toast!r}"
    card_bot.assert_nothing_unforeseen()


def _draft_of(bot: Fuzzed, card: SentMessage) -> str:
    submit = bot.chat.button_data(card, "Submit")
    return submit.split(":", 1)[1]


# ----------------------------------------------------------------------------- provider callbacks


@pytest.fixture
async def webhook_bot(start_bot: Callable[..., Any], fuzzed: Callable[[BotApp], Fuzzed]) -> Fuzzed:
    app = await start_bot(
        **webhook_settings(
            **NO_LIMITS, safety_poll_delay_seconds=3600, safety_poll_interval_seconds=3600
        )
    )
    return fuzzed(app)


def task_row(database: TestDatabase, task_id: int) -> tuple[Any, ...]:
    with connect(database) as conn:
        return tuple(conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone())


def state_of(database: TestDatabase, task_id: int) -> str:
    with connect(database) as conn:
        return str(conn.execute("SELECT state FROM tasks WHERE id = ?", (task_id,)).fetchone()[0])


async def processing_task(bot: Fuzzed) -> tuple[int, str, str]:
    """(the bot's task id, the provider's job id, its callback URL) of a processing task."""
    if bot.task_id is None or state_of(bot.database, bot.task_id) != "processing":
        known = len(bot.kie.tasks)
        await bot.settle()
        card = await bot.chat.card(f"https://v.example.com/{time.monotonic()}.mp4 make it red")
        assert await bot.chat.press(card, "Submit") == texts.toast_submitted()
        await bot.kie.wait_for_task(count=known + 1)
        bot.dirty = True
        await queue_settled(bot)
        with connect(bot.database) as conn:
            (bot.task_id,) = conn.execute("SELECT MAX(id) FROM tasks").fetchone()
    assert bot.task_id is not None
    with connect(bot.database) as conn:
        job, token = conn.execute(
            "SELECT provider_task_id, callback_token FROM tasks WHERE id = ?", (bot.task_id,)
        ).fetchone()
    return bot.task_id, str(job), f"{bot.app.settings.public_url}/callbacks/kie/{token}"


RESTING = ("processing", "delivered", "failed", "undeliverable", "unknown")


async def stable(database: TestDatabase, task_id: int) -> None:
    """Wait until the work a callback set off has finished: the task is processing or has
    ended (a delivery is retried until it ends), and its row stays the same."""
    deadline = time.monotonic() + 15
    last = drafts_and_task(database, task_id)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = drafts_and_task(database, task_id)
        if now == last and state_of(database, task_id) in RESTING:
            return
        last = now
    raise AssertionError(f"task {task_id} did not come to rest: {state_of(database, task_id)}")


@examples(100)
@given(body=CALLBACK_BODIES, headers=CALLBACK_HEADERS, where=st.sampled_from(["own", "own", "odd"]))
async def test_any_callback_body_gets_a_clean_answer_and_a_refused_one_changes_nothing(
    webhook_bot: Fuzzed, body: str, headers: dict[str, str], where: str
) -> None:
    task_id, job, url = await processing_task(webhook_bot)
    await webhook_bot.settle()
    if where == "odd":
        url = url[:-3] + "xyz"  # an unknown token
    content = body.replace(JOB, job).encode()
    before = drafts_and_task(webhook_bot.database, task_id)
    async with httpx.AsyncClient(timeout=15) as client:
        response = await client.post(url, content=content, headers=headers)
    webhook_bot.count(str(response.status_code))
    assert response.status_code in (200, 400, 401, 404, 413, 503), response.text
    if response.status_code == 200:
        await stable(webhook_bot.database, task_id)
    else:
        assert drafts_and_task(webhook_bot.database, task_id) == before, response.text
    webhook_bot.assert_nothing_unforeseen()


# Found by the callback fuzzer (with FUZZ_EXAMPLES=500): a port over 65535 gets past
# bot/net/netguard.py GuardedClient._send (httpx.URL takes it) and fails in the socket's connect()
# with OverflowError (inside an ExceptionGroup from anyio), which neither ResultFetcher.fetch nor
# Preflight.check_link catches.

ODD_PORT_RESULT = "http://127.0.0.1:99999/result.mp4"


async def test_a_result_url_with_a_port_over_65535_is_refused_cleanly(webhook_bot: Fuzzed) -> None:
    task_id, job, url = await processing_task(webhook_bot)
    body = {"code": 200, "msg": "ok", "data": {"taskId": job, "resultUrls": [ODD_PORT_RESULT]}}
    async with httpx.AsyncClient(timeout=15) as client:
        assert (await client.post(url, json=body)).status_code == 200
    await stable(webhook_bot.database, task_id)
    webhook_bot.assert_nothing_unforeseen()


async def test_a_link_redirecting_to_a_port_over_65535_is_refused_cleanly(
    start_bot: Callable[..., Any], fuzzed: Callable[[BotApp], Fuzzed]
) -> None:
    # Links are checked before the card; this video server (on loopback, which the test bot may
    # fetch from) redirects to a port that does not exist.
    bot = fuzzed(await start_bot(preflight_checks=True, preflight_timeout_seconds=5))

    async def redirect(request: Request) -> Response:
        return RedirectResponse("http://127.0.0.1:99999/clip.mp4", status_code=302)

    async with LoopbackServer(Starlette(routes=[Route("/{p:path}", redirect)])) as server:
        answer = await bot.chat.say(f"{server.url}/clip.mp4 {PROMPT}", timeout=15)
    assert answer.text != texts.unexpected_error()
    bot.assert_nothing_unforeseen()
