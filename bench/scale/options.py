"""What one run of the tracking bench is asked for (bench/tracking.py reads it from the command
line)."""

from __future__ import annotations

from dataclasses import dataclass

LONG = 3600.0  # seconds: "not during this run"


@dataclass
class Options:
    tasks: int
    poll: float
    finish: tuple[float, float]
    cards: bool
    card_interval: float
    concurrency: int
    result_bytes: int
    tracemalloc: bool
    instances: int = 1  # bot processes on the one database (more than one: PostgreSQL only)

    @property
    def calls_per_task(self) -> int:
        """Bot API calls a delivery takes, all through the bot's one rate limiter: "sending
        video…" (sendChatAction, before the upload; since issue 14), the video, and the card's
        last edit if it has one."""
        return 3 if self.cards else 2


# Which of a delivery's calls is the video (the latency is measured to it): the second.
VIDEO_CALL = 1
