"""Real, offline video edits for the sandbox provider, made with FFmpeg's libraries (PyAV).

The sandbox lets an operator try the whole bot without paying for Luma: instead of sending the
video to a hosted API, it edits it on this machine. `choose_edits` reads an English prompt and
picks simple edits (black and white, warm or cool tones, vintage, brighter or darker, more
contrast, blur or sharpen, slow motion or speed-up) by their keywords; `edit_video` applies them
with FFmpeg filters and writes an MP4 (H.264 + AAC, "faststart") that Telegram can stream.

Audio: kept and re-encoded to AAC; when the speed changes, its tempo is changed with FFmpeg's
`atempo` filter, so the sound keeps its pitch and stays in step with the picture.

Everything here is CPU-bound and synchronous: callers run `edit_video` in a worker thread.

This module holds `edit_video`: the duration limit and the one decode-encode pass (demux,
decode, filter, encode, mux). Choosing the edits is in sandbox_prompt, reading videos and
FFmpeg's errors in sandbox_probe, the filter graphs and encoders in sandbox_graphs.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from fractions import Fraction
from pathlib import Path

import av
from av.audio.frame import AudioFrame
from av.container import InputContainer, OutputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from bot.providers.sandbox_graphs import AudioPath, VideoPath
from bot.providers.sandbox_probe import (
    EditError,
    VideoInfo,
    container_duration,
    editing,
    open_input,
    picture_stream,
    probe,
    reading,
    to_seconds,
)
from bot.providers.sandbox_prompt import Edit, choose_edits

__all__ = ["Edit", "EditError", "VideoInfo", "choose_edits", "edit_video", "probe"]

# Durations read from containers are rounded; a clip this much over the limit still passes.
DURATION_SLACK_SECONDS = 0.1


def edit_video(
    source: Path, target: Path, edits: Sequence[Edit], *, max_seconds: float = 30.0
) -> VideoInfo:
    """Apply `edits` to the video at `source`; write the result to `target` as MP4.

    Reads anything FFmpeg reads (mp4, mov, avi, webm...). The result is H.264 (libx264,
    yuv420p, preset "veryfast", crf 23) with its index at the front ("faststart") so Telegram
    can stream it; the picture is turned upright (phone videos store a rotation), made of
    square pixels with an even width and height, and scaled down to fit in MAX_SIDE pixels.

    Speed changes rescale the timestamps (setpts); sped-up video is thinned back to the
    source frame rate, slow motion plays each frame longer. Sound is re-encoded to AAC; when
    the speed changes its tempo is changed with `atempo` (pitch kept, in step with the picture).

    The file is written under a temporary name next to `target` and renamed at the end, so a
    half-written file never takes its place. CPU-bound and synchronous: run it in a thread.
    Returns what `probe` reads from the result.

    Raises EditError, with a sentence fit to show the user, when the source cannot be read,
    has no picture track, is longer than `max_seconds` or cannot be edited.
    """
    speed = math.prod(edit.speed for edit in edits)
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"bad speed {speed!r}")
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        with open_input(source) as container:
            video = picture_stream(container)
            duration = container_duration(container)
            if duration is not None:
                _check_duration(duration, max_seconds)
            with (
                editing(),
                av.open(
                    str(temporary), "w", format="mp4", options={"movflags": "+faststart"}
                ) as out,
            ):
                _Transcoder(container, video, out, edits, speed, max_seconds).run()
        info = probe(temporary)
        temporary.replace(target)
    except BaseException:
        with suppress(OSError):
            temporary.unlink()
        raise
    return info


def _check_duration(seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds + DURATION_SLACK_SECONDS:
        unit = "second" if max_seconds == 1 else "seconds"
        raise EditError(
            f"The video is {seconds:.1f} seconds long; the limit is {max_seconds:g} {unit}."
        )


class _Transcoder:
    """One pass over the source: demux, decode, filter, encode, mux."""

    def __init__(
        self,
        container: InputContainer,
        video: VideoStream,
        out: OutputContainer,
        edits: Sequence[Edit],
        speed: float,
        max_seconds: float,
    ) -> None:
        self.container = container
        self.out = out
        self.edits = edits
        self.speed = speed
        self.max_seconds = max_seconds
        self.video_in = video
        self.video_in.thread_type = "AUTO"
        self.audio_in = container.streams.audio[0] if container.streams.audio else None
        # Timestamps are shifted so that the picture starts at 0.
        start = to_seconds(video.start_time, video.time_base)
        if start is None and container.start_time is not None:
            start = container.start_time / av.time_base
        self.start = start or 0.0
        self.video: VideoPath | None = None  # made from the first picture
        self.audio: AudioPath | None = None
        self.waiting_audio: list[AudioFrame] = []  # sound decoded before the first picture
        self.last_pts: int | None = None

    def run(self) -> None:
        streams = [s for s in (self.video_in, self.audio_in) if s is not None]
        packets = self.container.demux(streams)
        while True:
            with reading():
                packet = next(packets, None)
                if packet is None:
                    break
                frames = packet.decode()
            for frame in frames:
                if isinstance(frame, VideoFrame):
                    self._picture(frame)
                elif isinstance(frame, AudioFrame):
                    self._sound(frame)
        if self.video is None:
            raise EditError("The video has no pictures that could be decoded.")
        self.video.push(None)
        if self.audio is not None:
            self.audio.push(None)

    def _picture(self, frame: VideoFrame) -> None:
        time_base = frame.time_base or self.video_in.time_base or Fraction(1, 90000)
        offset = round(self.start / time_base)
        if frame.pts is None:  # some AVI files: go on from the previous frame
            rate = self.video_in.average_rate or self.video_in.guessed_rate or Fraction(25)
            step = max(1, round(1 / (rate * time_base)))
            frame.pts = offset + (self.last_pts + step if self.last_pts is not None else 0)
        frame.pts -= offset
        frame.time_base = time_base
        if self.last_pts is not None and frame.pts <= self.last_pts:
            return  # a repeated or out-of-order timestamp: the encoder would refuse it
        self.last_pts = frame.pts
        _check_duration(float(frame.pts * time_base), self.max_seconds)
        if self.video is None:
            self.video = VideoPath(self.out, self.video_in, frame, self.edits, self.speed)
            if self.audio_in is not None:
                self.audio = AudioPath(self.out, self.audio_in, self.speed)
            for waiting in self.waiting_audio:
                self._sound(waiting)
            self.waiting_audio.clear()
        self.video.push(frame)

    def _sound(self, frame: AudioFrame) -> None:
        if self.video is None:
            # The output opens with the first picture; sound before it waits, but not without
            # end: a file with minutes of sound and no picture yet is refused.
            self.waiting_audio.append(frame)
            waited = sum(f.samples / (f.sample_rate or 1) for f in self.waiting_audio)
            _check_duration(waited, self.max_seconds)
            return
        if self.audio is None or frame.pts is None or frame.time_base is None:
            return
        frame.pts -= round(self.start / frame.time_base)
        if frame.pts < 0:
            return  # sound from before the first picture
        # The picture's length is checked frame by frame; the sound's must be too, or a
        # file of one second of picture and hours of sound would pass.
        _check_duration(float(frame.pts * frame.time_base), self.max_seconds)
        self.audio.push(frame)
