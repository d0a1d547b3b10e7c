"""What a provider offers: the bot adapts to these, never to a provider's name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the provider accepts and promises; the bot adapts to these, not to provider names."""

    display_name: str
    max_duration_seconds: float
    max_size_mb: int
    formats: tuple[str, ...]
    max_prompt_chars: int
    result_retention_hours: float  # how long a result link stays valid
    supports_callbacks: bool
    modes: tuple[str, ...] = ()  # edit strengths offered (bot.domain.modes); empty: none to choose
    supports_first_frame: bool = False  # accepts an image that guides the first frame
    # The largest first-frame image taken as a file. Segmind and Luma document none; a first
    # frame is a photo of the video's size, far below this.
    max_image_mb: int = 10
    supports_watermark: bool = False
    reports_credits: bool = False  # credit_balance() answers
    offline: bool = False  # simple effects on this machine, not the AI model (the sandbox)
    reads_local_files: bool = False  # takes file:// video URLs (uploads need no public URL)
    # Results are files under this folder on this machine (the sandbox), not remote URLs.
    local_results: Path | None = None
