"""The sandbox's FFmpeg filter graphs and encoders (PyAV), one path per stream.

The picture is turned upright, given square pixels, scaled to fit in MAX_SIDE, edited and
retimed when the speed changes, then encoded to H.264. The sound has its tempo changed with
`atempo` (its pitch kept, in step with the picture), then is encoded to AAC.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import TypeVar

import av.error
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.filter import Graph
from av.filter.context import FilterContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from bot.providers.sandbox_prompt import Edit

# Larger pictures are scaled down to fit in a square of this side (keeping their shape).
MAX_SIDE = 1920
# Sped-up video keeps at most the source's frame rate, and never more than this.
MAX_FPS = 60
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
AUDIO_BIT_RATE = 128_000
# Sample rates the AAC encoder accepts; other rates are resampled to 48 kHz.
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)

_FrameT = TypeVar("_FrameT", VideoFrame, AudioFrame)


def _output_size(
    width: int, height: int, aspect: Fraction | None, rotation: int
) -> tuple[int, int]:
    """The upright, square-pixel, even-sided size that fits in MAX_SIDE."""
    display_width = float(width * aspect) if aspect else float(width)
    display_height = float(height)
    if rotation % 180:
        display_width, display_height = display_height, display_width
    scale = min(1.0, MAX_SIDE / max(display_width, display_height))
    return _even(display_width * scale), _even(display_height * scale)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _rotation_filters(rotation: int) -> list[tuple[str, str]]:
    """Filters that turn a picture upright, given its display rotation (counter-clockwise)."""
    turn = rotation % 360
    if turn == 90:
        return [("transpose", "cclock")]
    if turn == 270:
        return [("transpose", "clock")]
    if turn == 180:
        return [("hflip", ""), ("vflip", "")]
    return []


def _atempo_chain(speed: float) -> list[tuple[str, str]]:
    """atempo filters whose factors multiply to `speed`, each within 0.5-2."""
    filters: list[tuple[str, str]] = []
    remaining = speed
    while remaining < 0.5:
        filters.append(("atempo", "0.5"))
        remaining /= 0.5
    while remaining > 2.0:
        filters.append(("atempo", "2.0"))
        remaining /= 2.0
    if not math.isclose(remaining, 1.0):
        filters.append(("atempo", f"{remaining:.6g}"))
    return filters


def _build_graph(
    graph: Graph, source: FilterContext, filters: Sequence[tuple[str, str]], sink: str
) -> Graph:
    node = source
    for name, args in filters:
        following = graph.add(name, args or None)
        node.link_to(following)
        node = following
    node.link_to(graph.add(sink))
    graph.configure()
    return graph


def _drain(graph: Graph, kind: type[_FrameT]) -> Iterator[_FrameT]:
    """Every frame the graph has ready."""
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        if isinstance(frame, kind):
            yield frame


class VideoPath:
    """Decoded pictures -> upright, sized, edited, retimed -> H.264 encoder."""

    def __init__(
        self,
        out: OutputContainer,
        stream: VideoStream,
        first: VideoFrame,
        edits: Sequence[Edit],
        speed: float,
    ) -> None:
        self.out = out
        self.size = (first.width, first.height, first.format.name)
        width, height = _output_size(
            first.width, first.height, stream.sample_aspect_ratio, first.rotation
        )
        filters = [
            *_rotation_filters(first.rotation),
            ("scale", f"{width}:{height}"),
            ("setsar", "1"),
        ]
        for edit in edits:
            filters.extend(edit.video_filters)
        rate = Fraction(stream.average_rate or stream.guessed_rate or 30).limit_denominator(1001)
        if not math.isclose(speed, 1.0):
            factor = Fraction(speed).limit_denominator(1000)
            filters.append(("setpts", f"PTS*{1 / factor}"))
            if speed > 1:  # keep the source's frame rate: drop the frames in between
                rate = min(rate, Fraction(MAX_FPS))
                filters.append(("fps", f"fps={rate}"))
            else:
                rate *= factor
        filters.append(("format", "yuv420p"))
        graph = Graph()
        buffer = graph.add_buffer(
            width=first.width,
            height=first.height,
            format=first.format,
            time_base=stream.time_base or Fraction(1, 90000),
        )
        self.graph = _build_graph(graph, buffer, filters, "buffersink")
        self.encoder: VideoStream = out.add_stream("libx264", rate=rate)
        self.encoder.width = width
        self.encoder.height = height
        self.encoder.pix_fmt = "yuv420p"
        self.encoder.options = dict(X264_OPTIONS)
        # Filtered frames carry their own time base; the encoder converts them to this one.
        self.encoder.codec_context.time_base = Fraction(1, 90000)

    def push(self, frame: VideoFrame | None) -> None:
        if frame is not None and (frame.width, frame.height, frame.format.name) != self.size:
            # The picture changed size mid-stream: keep the graph's input size.
            width, height, pix_fmt = self.size
            pts, time_base = frame.pts, frame.time_base
            frame = frame.reformat(width=width, height=height, format=pix_fmt)
            frame.pts, frame.time_base = pts, time_base
        self.graph.push(frame)
        for filtered in _drain(self.graph, VideoFrame):
            self.out.mux(self.encoder.encode(filtered))
        if frame is None:
            self.out.mux(self.encoder.encode(None))


class AudioPath:
    """Decoded sound -> (tempo change) -> AAC encoder. The filter graph follows the first frame."""

    def __init__(self, out: OutputContainer, stream: AudioStream, speed: float) -> None:
        self.out = out
        self.speed = speed
        context = stream.codec_context
        self.rate = context.sample_rate if context.sample_rate in _AAC_RATES else 48000
        self.layout = "mono" if context.channels == 1 else "stereo"
        self.encoder: AudioStream = out.add_stream("aac", rate=self.rate)
        self.encoder.layout = self.layout
        self.encoder.bit_rate = AUDIO_BIT_RATE if self.layout == "stereo" else AUDIO_BIT_RATE // 2
        self.graph: Graph | None = None

    def push(self, frame: AudioFrame | None) -> None:
        if frame is not None and self.graph is None:
            graph = Graph()
            buffer = graph.add_abuffer(
                sample_rate=frame.sample_rate,
                format=frame.format,
                layout=frame.layout,
                time_base=frame.time_base,
            )
            filters = [
                *_atempo_chain(self.speed),
                (
                    "aformat",
                    f"sample_fmts=fltp:sample_rates={self.rate}:channel_layouts={self.layout}",
                ),
            ]
            self.graph = _build_graph(graph, buffer, filters, "abuffersink")
        if self.graph is not None:
            self.graph.push(frame)
            for filtered in _drain(self.graph, AudioFrame):
                self.out.mux(self.encoder.encode(filtered))
        if frame is None:
            self.out.mux(self.encoder.encode(None))
