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

    @property
    def calls_per_task(self) -> int:
        """Bot API calls a delivery takes: the video, and the card's last edit if it has one."""
        return 2 if self.cards else 1
