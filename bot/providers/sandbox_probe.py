"""Reading videos for the sandbox (PyAV): `probe` reads a file's duration, picture size, frame
count and whether it has sound; the helpers find the picture stream and the durations, and turn
FFmpeg's errors into an `EditError` whose sentence a user may see (never one of our paths).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.stream import Disposition
from av.video.stream import VideoStream


class EditError(Exception):
    """The video cannot be edited; the message is a sentence fit to show a user."""


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` reads from a video file."""

    duration: float  # seconds
    width: int
    height: int
    frames: int
    has_audio: bool


def _reason(error: BaseException) -> str:
    """FFmpeg's reason for an error, without the file name (users must not see our paths)."""
    reason = ""
    if isinstance(error, av.error.FFmpegError) and error.strerror:
        reason = str(error.strerror)
    reason = (reason or str(error) or type(error).__name__).strip().rstrip(".")
    return reason[:1].lower() + reason[1:]


def _read_error(error: BaseException) -> EditError:
    return EditError(f"The video file could not be read: {_reason(error)}.")


@contextmanager
def reading() -> Iterator[None]:
    """Turn FFmpeg's errors while opening, demuxing or decoding into an EditError."""
    try:
        yield
    except (av.error.FFmpegError, ValueError) as error:
        raise _read_error(error) from error


@contextmanager
def editing() -> Iterator[None]:
    """Turn FFmpeg's errors while filtering, encoding or writing into an EditError."""
    try:
        yield
    except (av.error.FFmpegError, ValueError) as error:
        raise EditError(f"The video could not be edited: {_reason(error)}.") from error


def open_input(path: Path) -> InputContainer:
    with reading():
        return av.open(str(path), "r")


def picture_stream(container: InputContainer) -> VideoStream:
    """The first real video stream (not a cover picture), or EditError."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    raise EditError("The video has no picture track.")


def container_duration(container: InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def to_seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe(path: Path) -> VideoInfo:
    """Read a video's duration, picture size, frame count and whether it has sound.

    Raises EditError when the file cannot be read or has no picture track.
    """
    with open_input(path) as container:
        video = picture_stream(container)
        frames = video.frames
        duration = container_duration(container) or to_seconds(video.duration, video.time_base)
        if not frames or duration is None:
            # Some files (webm from browsers, for one) do not say: count the packets instead.
            frames, end = _scan_packets(container, video)
            duration = duration or end
        return VideoInfo(
            duration=duration,
            width=video.codec_context.width,
            height=video.codec_context.height,
            frames=frames,
            has_audio=bool(container.streams.audio),
        )


def _scan_packets(container: InputContainer, video: VideoStream) -> tuple[int, float]:
    """The number of video packets and the time the last one ends (from the stream's start)."""
    frames = 0
    end = 0.0
    start = to_seconds(video.start_time, video.time_base) or 0.0
    with reading():
        for packet in container.demux(video):
            if packet.size == 0 or packet.pts is None:
                continue
            frames += 1
            finish = to_seconds(packet.pts + (packet.duration or 0), packet.time_base) or 0.0
            end = max(end, finish - start)
    return frames, end
