"""Real, offline video edits for the sandbox provider, made with FFmpeg's libraries (PyAV).

The sandbox lets an operator try the whole bot without paying for Luma: instead of sending the
video to a hosted API, it edits it on this machine. `choose_edits` reads an English prompt and
picks simple edits (black and white, warm or cool tones, vintage, brighter or darker, more
contrast, blur or sharpen, slow motion or speed-up) by their keywords; `edit_video` applies them
with FFmpeg filters and writes an MP4 (H.264 + AAC, "faststart") that Telegram can stream.

Audio: kept and re-encoded to AAC; when the speed changes, its tempo is changed with FFmpeg's
`atempo` filter, so the sound keeps its pitch and stays in step with the picture.

Everything here is CPU-bound and synchronous: callers run `edit_video` in a worker thread.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import av.error
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.filter import Graph
from av.filter.context import FilterContext
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

__all__ = ["Edit", "EditError", "VideoInfo", "choose_edits", "edit_video", "probe"]

# Durations read from containers are rounded; a clip this much over the limit still passes.
DURATION_SLACK_SECONDS = 0.1
# Larger pictures are scaled down to fit in a square of this side (keeping their shape).
MAX_SIDE = 1920
# Sped-up video keeps at most the source's frame rate, and never more than this.
MAX_FPS = 60
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
AUDIO_BIT_RATE = 128_000
# Sample rates the AAC encoder accepts; other rates are resampled to 48 kHz.
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)

_FrameT = TypeVar("_FrameT", VideoFrame, AudioFrame)


class EditError(Exception):
    """The video cannot be edited; the message is a sentence fit to show a user."""


@dataclass(frozen=True)
class Edit:
    """One edit: a name shown to users, FFmpeg video filters, and a speed factor."""

    name: str
    video_filters: tuple[tuple[str, str], ...]  # FFmpeg filter (name, args), applied in order
    speed: float = 1.0  # 2.0 = twice as fast, 0.5 = slow motion (half speed)


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` reads from a video file."""

    duration: float  # seconds
    width: int
    height: int
    frames: int
    has_audio: bool


# --- Choosing edits from a prompt -------------------------------------------------------------

BLACK_AND_WHITE = Edit("black and white", (("hue", "s=0"),))
VINTAGE = Edit(
    "vintage film",
    (
        # Sepia, softened a little towards the original, then darker corners.
        (
            "colorchannelmixer",
            "rr=0.51:rg=0.62:rb=0.15:gr=0.28:gg=0.75:gb=0.13:br=0.22:bg=0.43:bb=0.31",
        ),
        ("curves", "master=0/0.06 0.5/0.52 1/0.94"),  # faded blacks and whites
        ("vignette", "angle=PI/7"),
    ),
)
# Channel gains: more red and less blue for warm, the other way round for cool.
WARM = Edit("warm tones", (("colorchannelmixer", "rr=1.1:gg=1.0:bb=0.85"),))
COOL = Edit("cool tones", (("colorchannelmixer", "rr=0.88:gg=1.0:bb=1.1"),))
ENHANCE = Edit(
    "enhanced colours",
    (("vibrance", "intensity=0.15"), ("curves", "master=0/0 0.25/0.22 0.75/0.8 1/1")),
)
BRIGHTEN = Edit("brighter", (("lutyuv", "y=gammaval(0.7)"),))
DARKEN = Edit("darker", (("lutyuv", "y=gammaval(1.5)"),))
CONTRAST = Edit("more contrast", (("curves", "preset=medium_contrast"),))
BLUR = Edit("soft blur", (("gblur", "sigma=3"),))
SHARPEN = Edit(
    "sharper",
    (("unsharp", "luma_msize_x=5:luma_msize_y=5:luma_amount=1.2:chroma_amount=0.3"),),
)
SLOW_MOTION = Edit("slow motion", (), speed=0.5)
SPEED_UP = Edit("sped up", (), speed=2.0)

# The edit a prompt with no known keyword gets, so the result is always visibly edited.
DEFAULT_EDIT = ENHANCE


@dataclass(frozen=True)
class _Choice:
    key: str
    edit: Edit
    pattern: re.Pattern[str]
    conflicts: frozenset[str]


def _choice(key: str, edit: Edit, phrases: Sequence[str], conflicts: Sequence[str]) -> _Choice:
    # Whole words only: no letter, digit or "&" just before or after the phrase.
    alternatives = "|".join(phrases)
    pattern = re.compile(rf"(?<![\w&])(?:{alternatives})(?![\w&])")
    return _Choice(key, edit, pattern, frozenset(conflicts))


# In the order the edits are applied. Phrases are regular expressions over the prompt after
# lower-casing it and turning hyphens and underscores into spaces ("slow-mo" -> "slow mo").
# An edit is dropped when one it conflicts with was mentioned earlier in the prompt.
_CHOICES = (
    _choice(
        "bw",
        BLACK_AND_WHITE,
        [
            r"black (?:and|&|n) white",
            r"b ?& ?w",
            r"b/w",
            r"gr[ae]y ?scale",
            r"monochrome",
            r"noir",
        ],
        ["vintage", "warm", "cool", "enhance"],
    ),
    _choice(
        "vintage",
        VINTAGE,
        [r"vintage", r"sepia", r"retro", r"old (?:film|movie|footage)"],
        ["bw", "warm", "cool", "enhance"],
    ),
    _choice(
        "warm",
        WARM,
        [r"warm(?:er|th)?", r"golden"],
        ["bw", "vintage", "cool"],
    ),
    _choice(
        "cool",
        COOL,
        [r"cool(?:er)?", r"cold(?:er)?", r"blue tint(?:ed)?", r"bluish"],
        ["bw", "vintage", "warm"],
    ),
    _choice(
        "enhance",
        ENHANCE,
        [r"enhance(?:d)?", r"vivid", r"vibrant", r"saturated?", r"colou?rful"],
        ["bw", "vintage"],
    ),
    _choice(
        "brighten",
        BRIGHTEN,
        [r"brighten", r"brighter", r"bright", r"brightness", r"lighten"],
        ["darken"],
    ),
    _choice(
        "darken",
        DARKEN,
        [r"darken", r"darker", r"dark", r"night(?: ?time)?"],
        ["brighten"],
    ),
    _choice(
        "contrast",
        CONTRAST,
        [r"contrast(?:y)?", r"punchy", r"dramatic", r"cinematic"],
        [],
    ),
    _choice(
        "blur",
        BLUR,
        [r"blur(?:red|ry)?", r"dreamy", r"soft ?focus"],
        ["sharpen"],
    ),
    _choice(
        "sharpen",
        SHARPEN,
        [r"sharpen", r"sharper", r"sharp", r"crisp(?:er)?"],
        ["blur"],
    ),
    _choice(
        "slow",
        SLOW_MOTION,
        [
            r"slow ?mo(?:tion)?",
            r"slo ?mo",
            r"slow(?: it| this| the video)? down",
            r"slower",
            r"half speed",
        ],
        ["fast"],
    ),
    _choice(
        "fast",
        SPEED_UP,
        [
            r"speed(?: it| this| the video)? up",
            r"sped up",
            r"faster",
            r"fast ?forward(?:ed)?",
            r"time ?lapse",
            r"double speed",
        ],
        ["slow"],
    ),
)

# A keyword right after one of these words (in the same clause, up to three words back) is
# not asked for: "no blur", "not too dark", "without the slow motion", "lower the contrast".
_NEGATIONS = frozenset(
    (
        "no",
        "not",
        "without",
        "dont",
        "don't",
        "never",
        "less",
        "too",
        "reduce",
        "remove",
        "avoid",
        "lower",
        "decrease",
    )
)
_CLAUSE_BREAK = re.compile(r"[.,;:!?()]")
_WORD = re.compile(r"[a-z']+")


def _normalise(prompt: str) -> str:
    text = prompt.lower().replace("\u2019", "'")
    text = re.sub(r"[-_]+", " ", text)
    return re.sub(r"[ \t\r\n]+", " ", text)


def _negated(text: str, start: int) -> bool:
    before = _CLAUSE_BREAK.split(text[:start])[-1]
    return any(word in _NEGATIONS for word in _WORD.findall(before)[-3:])


def _first_mention(choice: _Choice, text: str) -> int | None:
    for match in choice.pattern.finditer(text):
        if not _negated(text, match.start()):
            return match.start()
    return None


def choose_edits(prompt: str) -> list[Edit]:
    """The edits an English prompt asks for, in the order they are applied.

    Keywords are matched case-insensitively as whole words or phrases. When two mentioned
    edits contradict each other (slow motion and speed-up, brighter and darker, blur and
    sharpen, two colour looks), the one mentioned first wins. A prompt with no keyword gets
    one gentle colour and contrast enhancement, so the result is always visibly edited.
    """
    text = _normalise(prompt)
    mentions: list[tuple[int, int, _Choice]] = []
    for order, choice in enumerate(_CHOICES):
        position = _first_mention(choice, text)
        if position is not None:
            mentions.append((position, order, choice))
    taken: set[str] = set()
    for _, _, choice in sorted(mentions, key=lambda m: (m[0], m[1])):
        if not choice.conflicts & taken:
            taken.add(choice.key)
    chosen = [choice.edit for choice in _CHOICES if choice.key in taken]
    return chosen or [DEFAULT_EDIT]


# --- Reading videos ---------------------------------------------------------------------------


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
def _reading() -> Iterator[None]:
    """Turn FFmpeg's errors while opening, demuxing or decoding into an EditError."""
    try:
        yield
    except (av.error.FFmpegError, ValueError) as error:
        raise _read_error(error) from error


@contextmanager
def _editing() -> Iterator[None]:
    """Turn FFmpeg's errors while filtering, encoding or writing into an EditError."""
    try:
        yield
    except (av.error.FFmpegError, ValueError) as error:
        raise EditError(f"The video could not be edited: {_reason(error)}.") from error


def _open_input(path: Path) -> InputContainer:
    with _reading():
        return av.open(str(path), "r")


def _picture_stream(container: InputContainer) -> VideoStream:
    """The first real video stream (not a cover picture), or EditError."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    raise EditError("The video has no picture track.")


def _container_duration(container: InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe(path: Path) -> VideoInfo:
    """Read a video's duration, picture size, frame count and whether it has sound.

    Raises EditError when the file cannot be read or has no picture track.
    """
    with _open_input(path) as container:
        video = _picture_stream(container)
        frames = video.frames
        duration = _container_duration(container) or _seconds(video.duration, video.time_base)
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
    start = _seconds(video.start_time, video.time_base) or 0.0
    with _reading():
        for packet in container.demux(video):
            if packet.size == 0 or packet.pts is None:
                continue
            frames += 1
            finish = _seconds(packet.pts + (packet.duration or 0), packet.time_base) or 0.0
            end = max(end, finish - start)
    return frames, end


# --- Editing ----------------------------------------------------------------------------------


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
        with _open_input(source) as container:
            video = _picture_stream(container)
            duration = _container_duration(container)
            if duration is not None:
                _check_duration(duration, max_seconds)
            with (
                _editing(),
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


class _VideoPath:
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


class _AudioPath:
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
        start = _seconds(video.start_time, video.time_base)
        if start is None and container.start_time is not None:
            start = container.start_time / av.time_base
        self.start = start or 0.0
        self.video: _VideoPath | None = None  # made from the first picture
        self.audio: _AudioPath | None = None
        self.waiting_audio: list[AudioFrame] = []  # sound decoded before the first picture
        self.last_pts: int | None = None

    def run(self) -> None:
        streams = [s for s in (self.video_in, self.audio_in) if s is not None]
        packets = self.container.demux(streams)
        while True:
            with _reading():
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
            self.video = _VideoPath(self.out, self.video_in, frame, self.edits, self.speed)
            if self.audio_in is not None:
                self.audio = _AudioPath(self.out, self.audio_in, self.speed)
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
