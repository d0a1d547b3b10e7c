"""Small real test videos made on the fly with PyAV (no numpy), and measures of their pictures.

`make_clip` writes coloured bars that slide sideways every frame over a luma ramp, plus an
optional sine tone, into MP4 (H.264 + AAC), MOV (H.264 + AAC) or WebM (VP8 + Opus/Vorbis).
`colour_spread` and `mean_luma` decode a few frames back to tell how colourful and how bright
a video is, so tests can check that an edit really changed the picture.
"""

from __future__ import annotations

import math
from array import array
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

SAMPLE_RATE = 48_000
TONE_HZ = 440.0

# Eight saturated bars (R, G, B): the picture is far from grey, so a black-and-white edit shows.
_BARS = (
    (230, 40, 40),
    (240, 200, 30),
    (40, 200, 60),
    (30, 200, 220),
    (40, 60, 230),
    (200, 50, 210),
    (250, 130, 20),
    (120, 230, 120),
)

_VIDEO_CODECS = {"mp4": "libx264", "mov": "libx264", "webm": "libvpx", "avi": "mpeg4"}
_AUDIO_CODECS: dict[str, tuple[str, ...]] = {
    "mp4": ("aac",),
    "mov": ("aac",),
    "webm": ("libopus", "opus", "libvorbis", "vorbis"),
    "avi": ("pcm_s16le",),
}


def _rgb_frame(width: int, height: int, index: int) -> VideoFrame:
    """Bars shifted by `index` steps, darker towards the bottom (so blur and sharpen show)."""
    bar_width = max(1, width // len(_BARS))
    shift = index * max(1, width // 24)
    row = bytearray()
    for x in range(width):
        row += bytes((*_BARS[((x + shift) // bar_width) % len(_BARS)], 255))
    data = bytearray()
    scaled = row
    for y in range(height):
        if y % 4 == 0:  # the ramp steps every four lines: cheap to build, still smooth enough
            scale = 1.0 - 0.6 * y / max(1, height - 1)
            scaled = bytearray(int(v * scale) for v in row)
        data += scaled
    return VideoFrame.from_bytes(bytes(data), width, height, format="rgba")


def _encoder_available(name: str) -> bool:
    return name in av.codecs_available


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: int = 12,
    size: tuple[int, int] = (160, 96),
    colour: bool = True,
    audio: bool = True,
    container: str = "mp4",
    rotation: int = 0,
    audio_seconds: float | None = None,
) -> Path:
    """Write a small real video to `path` and return `path`.

    `colour=False` makes a black-and-white picture. `container` is "mp4", "mov", "webm" or
    "avi"; audio is left out where no encoder for the container is available. `rotation`
    (degrees counter-clockwise) is stored as the display rotation phones write.
    `audio_seconds` makes the sound longer (or shorter) than the picture.
    """
    if container not in _VIDEO_CODECS:
        raise ValueError(f"unsupported container {container!r}")
    width, height = size
    frame_count = max(1, round(seconds * fps))
    audio_codec = next((c for c in _AUDIO_CODECS[container] if _encoder_available(c)), None)
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream(_VIDEO_CODECS[container], rate=fps)
        assert isinstance(video, VideoStream)
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        if container == "webm":
            video.options = {"deadline": "realtime", "cpu-used": "8", "b": "400k"}
        elif container == "avi":
            video.options = {"qscale": "4"}
        else:
            video.options = {"preset": "ultrafast", "crf": "28"}
        if rotation:
            video.set_display_rotation(rotation)
        sound: AudioStream | None = None
        if audio and audio_codec is not None:
            added = out.add_stream(audio_codec, rate=SAMPLE_RATE)
            assert isinstance(added, AudioStream)
            added.layout = "mono"
            sound = added
        # Colour bars change with the frame index modulo the bar count: make each distinct
        # picture once and reuse it.
        cache: dict[int, VideoFrame] = {}
        for index in range(frame_count):
            key = index % 24
            if key not in cache:
                picture = _rgb_frame(width, height, key)
                if not colour:
                    picture = picture.reformat(format="gray").reformat(format="rgba")
                cache[key] = picture.reformat(format="yuv420p")
            frame = cache[key]
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_tone(out, sound, seconds if audio_seconds is None else audio_seconds)
    return path


def _write_tone(out: av.container.OutputContainer, sound: AudioStream, seconds: float) -> None:
    total = round(seconds * SAMPLE_RATE)
    chunk = 1024
    for start in range(0, total, chunk):
        count = min(chunk, total - start)
        samples = array(
            "f",
            (
                0.3 * math.sin(2 * math.pi * TONE_HZ * (start + i) / SAMPLE_RATE)
                for i in range(count)
            ),
        )
        frame = av.AudioFrame(format="flt", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def make_sound(path: Path, *, seconds: float = 1.0) -> Path:
    """Write an audio-only M4A file (a sine tone, no picture) to `path` and return `path`."""
    with av.open(str(path), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=SAMPLE_RATE)
        sound.layout = "mono"
        _write_tone(out, sound, seconds)
    return path


def _sample_frames(path: Path, count: int = 4) -> list[VideoFrame]:
    """Up to `count` decoded frames spread over the first part of the video, as yuv420p."""
    frames: list[VideoFrame] = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 3 == 0:
                frames.append(frame.reformat(format="yuv420p"))
                if len(frames) >= count:
                    break
    if not frames:
        raise ValueError(f"{path} has no decodable video frames")
    return frames


def _plane_bytes(frame: VideoFrame, index: int) -> bytes:
    """The visible bytes of one plane, without the padding at the end of each line."""
    plane = frame.planes[index]
    data = bytes(plane)
    width = plane.width
    stride = plane.line_size
    if stride == width:
        return data[: width * plane.height]
    return b"".join(data[y * stride : y * stride + width] for y in range(plane.height))


def colour_spread(path: Path) -> float:
    """How colourful the video is: mean |U-128| + |V-128| over a few frames (about 0 for grey)."""
    total = 0.0
    count = 0
    for frame in _sample_frames(path):
        for index in (1, 2):
            data = _plane_bytes(frame, index)
            total += sum(abs(b - 128) for b in data)
            count += len(data)
    return 2 * total / count


def mean_luma(path: Path) -> float:
    """The mean Y value (0-255) over a few frames."""
    total = 0
    count = 0
    for frame in _sample_frames(path):
        data = _plane_bytes(frame, 0)
        total += sum(data)
        count += len(data)
    return total / count
