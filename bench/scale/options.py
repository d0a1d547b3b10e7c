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
    status_latency: float = 0.0  # seconds the fake KIE takes to answer a status request

    @property
    def calls_per_task(self) -> int:
        """Bot API calls a delivery waits for a turn of the bot's limit for: the video, and the
        card's last edit if it has one. "Sending video…" (sendChatAction, before the upload)
        never waits: it goes only when a turn is free at once (bot/sends.py, issue 18)."""
        return 2 if self.cards else 1
