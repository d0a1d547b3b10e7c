"""The sandbox's offline editor: prompts pick edits, and edit_video really edits real videos."""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.audio.stream import AudioStream
from av.video.stream import VideoStream

from bot.providers import sandbox_prompt as prompts
from bot.providers.sandbox_edit import Edit, EditError, choose_edits, edit_video, probe
from tests.videos import colour_spread, make_clip, make_sound, mean_luma

# --- choose_edits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("make it black and white", prompts.BLACK_AND_WHITE),
        ("B&W please", prompts.BLACK_AND_WHITE),
        ("black & white", prompts.BLACK_AND_WHITE),
        ("Grayscale", prompts.BLACK_AND_WHITE),
        ("greyscale look", prompts.BLACK_AND_WHITE),
        ("monochrome", prompts.BLACK_AND_WHITE),
        ("film noir style", prompts.BLACK_AND_WHITE),
        ("warm", prompts.WARM),
        ("a bit warmer", prompts.WARM),
        ("golden hour light", prompts.WARM),
        ("cool", prompts.COOL),
        ("cooler tones", prompts.COOL),
        ("cold winter look", prompts.COOL),
        ("add a blue tint", prompts.COOL),
        ("vintage", prompts.VINTAGE),
        ("sepia", prompts.VINTAGE),
        ("retro vibe", prompts.VINTAGE),
        ("like an old film", prompts.VINTAGE),
        ("brighten it", prompts.BRIGHTEN),
        ("brighter", prompts.BRIGHTEN),
        ("bright and airy", prompts.BRIGHTEN),
        ("darken", prompts.DARKEN),
        ("darker", prompts.DARKEN),
        ("dark mood", prompts.DARKEN),
        ("make it night", prompts.DARKEN),
        ("more contrast", prompts.CONTRAST),
        ("punchy", prompts.CONTRAST),
        ("dramatic", prompts.CONTRAST),
        ("blur", prompts.BLUR),
        ("blurry background", prompts.BLUR),
        ("dreamy", prompts.BLUR),
        ("soft focus", prompts.BLUR),
        ("sharpen", prompts.SHARPEN),
        ("sharper", prompts.SHARPEN),
        ("crisp details", prompts.SHARPEN),
        ("slow motion", prompts.SLOW_MOTION),
        ("slow-mo", prompts.SLOW_MOTION),
        ("SLOWMO", prompts.SLOW_MOTION),
        ("slow down the video", prompts.SLOW_MOTION),
        ("a little slower", prompts.SLOW_MOTION),
        ("speed up", prompts.SPEED_UP),
        ("faster", prompts.SPEED_UP),
        ("fast forward", prompts.SPEED_UP),
        ("timelapse", prompts.SPEED_UP),
        ("time-lapse effect", prompts.SPEED_UP),
    ],
)
def test_each_keyword_picks_its_edit(prompt: str, expected: Edit) -> None:
    assert choose_edits(prompt) == [expected]


def test_speed_edits_change_speed_only() -> None:
    assert prompts.SLOW_MOTION.speed == 0.5
    assert prompts.SPEED_UP.speed == 2.0
    assert prompts.WARM.speed == 1.0


def test_several_edits_combine_in_a_stable_order() -> None:
    expected = [prompts.WARM, prompts.CONTRAST, prompts.SLOW_MOTION]
    assert choose_edits("Add cinematic color grading with warm tones and slow motion") == expected
    assert choose_edits("slow motion, contrast, warm") == expected
    assert choose_edits("SHARPEN and black and white, slow-mo") == [
        prompts.BLACK_AND_WHITE,
        prompts.SHARPEN,
        prompts.SLOW_MOTION,
    ]


def test_duplicates_count_once() -> None:
    assert choose_edits("warm, warmer, warmth, golden") == [prompts.WARM]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("slow motion and then speed up", [prompts.SLOW_MOTION]),
        ("speed up, no wait, slow motion", [prompts.SPEED_UP]),
        ("brighten, then darken", [prompts.BRIGHTEN]),
        ("darker and brighter", [prompts.DARKEN]),
        ("blur but also sharpen", [prompts.BLUR]),
        ("cool and warm", [prompts.COOL]),
        ("black and white with warm tones", [prompts.BLACK_AND_WHITE]),
    ],
)
def test_contradictions_keep_the_first_mentioned(prompt: str, expected: list[Edit]) -> None:
    assert choose_edits(prompt) == expected


def test_whole_words_only() -> None:
    # "darkness", "coolant", "sharpie", "warmup" and "blurb" contain keywords but are other words.
    assert choose_edits("darkness, coolant, sharpie, warmup, blurb") == [prompts.DEFAULT_EDIT]


def test_negated_keywords_are_not_edits() -> None:
    assert choose_edits("no blur, just make it warmer") == [prompts.WARM]
    assert choose_edits("warm, but not too dark") == [prompts.WARM]
    assert choose_edits("without slow motion") == [prompts.DEFAULT_EDIT]


def test_no_keyword_gets_the_default_enhancement() -> None:
    edits = choose_edits("make it look like a watercolor painting")
    assert edits == [prompts.DEFAULT_EDIT]
    assert edits[0].video_filters
    assert edits[0].speed == 1.0
    assert choose_edits("") == [prompts.DEFAULT_EDIT]


# --- edit_video --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def clip(clips: Path) -> Path:
    """A 2 s colourful 160x96 MP4 with sound."""
    return make_clip(clips / "clip.mp4")


def _top_level_boxes(path: Path) -> list[bytes]:
    """The names of an MP4 file's top-level boxes, in order."""
    names: list[bytes] = []
    data = path.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        names.append(name)
        if size < 8:
            break
        offset += size
    return names


def test_output_is_streamable_h264_in_mp4(clip: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    info = edit_video(clip, target, choose_edits("warm"))
    assert info == probe(target)
    assert (info.width, info.height) == (160, 96)
    assert info.frames == 24
    assert info.duration == pytest.approx(2.0, rel=0.1)
    assert info.has_audio
    with av.open(str(target)) as container:
        assert "mp4" in container.format.name
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert container.streams.audio[0].codec_context.name == "aac"
    boxes = _top_level_boxes(target)
    assert boxes.index(b"moov") < boxes.index(b"mdat")  # faststart
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temporary file left


def test_black_and_white_removes_colour(clip: Path, tmp_path: Path) -> None:
    target = tmp_path / "bw.mp4"
    edit_video(clip, target, choose_edits("black and white"))
    assert colour_spread(clip) > 20
    assert colour_spread(target) < 1


def test_slow_motion_doubles_the_duration(clip: Path, tmp_path: Path) -> None:
    target = tmp_path / "slow.mp4"
    info = edit_video(clip, target, choose_edits("slow motion"))
    assert info.duration == pytest.approx(4.0, rel=0.1)
    assert info.has_audio  # slowed down with atempo, not dropped
    with av.open(str(target)) as container:
        audio = container.streams.audio[0]
        assert audio.duration is not None
        assert audio.time_base is not None
        assert float(audio.duration * audio.time_base) == pytest.approx(4.0, rel=0.1)


def test_speed_up_halves_the_duration(clip: Path, tmp_path: Path) -> None:
    info = edit_video(clip, tmp_path / "fast.mp4", choose_edits("speed up"))
    assert info.duration == pytest.approx(1.0, rel=0.1)
    assert info.frames == 12  # thinned back to the source's 12 frames a second
    assert info.has_audio


def test_brighten_and_darken_change_the_luma(clip: Path, tmp_path: Path) -> None:
    before = mean_luma(clip)
    brighter = edit_video(clip, tmp_path / "b.mp4", choose_edits("brighten"))
    darker = edit_video(clip, tmp_path / "d.mp4", choose_edits("darken"))
    assert brighter.frames == darker.frames == 24
    assert mean_luma(tmp_path / "b.mp4") > before + 10
    assert mean_luma(tmp_path / "d.mp4") < before - 10


@pytest.mark.parametrize(
    "prompt", ["blur", "sharpen", "vintage", "warm", "cool", "contrast", "anything else"]
)
def test_other_edits_make_valid_video(clip: Path, tmp_path: Path, prompt: str) -> None:
    target = tmp_path / "out.mp4"
    info = edit_video(clip, target, choose_edits(prompt))
    assert (info.width, info.height, info.frames) == (160, 96, 24)
    assert info.duration == pytest.approx(2.0, rel=0.1)
    assert colour_spread(target) > 5
    # The picture really changed (a plain re-encode would keep these close to the source's).
    change = abs(colour_spread(target) - colour_spread(clip)) + abs(
        mean_luma(target) - mean_luma(clip)
    )
    assert change > 1


def test_all_edits_together(clip: Path, tmp_path: Path) -> None:
    edits = choose_edits("vintage, dreamy, dark, dramatic, time-lapse")
    assert [e.name for e in edits] == [
        e.name
        for e in (prompts.VINTAGE, prompts.DARKEN, prompts.CONTRAST, prompts.BLUR, prompts.SPEED_UP)
    ]
    info = edit_video(clip, tmp_path / "out.mp4", edits)
    assert info.duration == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("container", ["webm", "mov", "avi"])
def test_other_containers_are_read(clips: Path, tmp_path: Path, container: str) -> None:
    source = make_clip(clips / f"clip.{container}", container=container)
    target = tmp_path / "out.mp4"
    info = edit_video(source, target, choose_edits("black and white slow motion"))
    assert info.duration == pytest.approx(4.0, rel=0.1)
    assert info.frames == 24
    assert colour_spread(target) < 1
    with av.open(str(target)) as output:
        assert output.streams.video[0].codec_context.name == "h264"


def test_odd_sizes_become_even(clips: Path, tmp_path: Path) -> None:
    source = make_clip(clips / "odd.webm", container="webm", size=(161, 97), audio=False)
    info = edit_video(source, tmp_path / "out.mp4", [])
    assert info.width % 2 == 0
    assert info.height % 2 == 0
    assert abs(info.width - 161) <= 1
    assert abs(info.height - 97) <= 1
    assert not info.has_audio


def test_rotated_phone_video_is_turned_upright(clips: Path, tmp_path: Path) -> None:
    source = make_clip(clips / "portrait.mp4", rotation=90, audio=False)
    info = edit_video(source, tmp_path / "out.mp4", [])
    assert (info.width, info.height) == (96, 160)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert next(container.decode(video=0)).rotation == 0


def test_audio_is_kept_at_normal_speed(clip: Path, tmp_path: Path) -> None:
    assert probe(clip).has_audio
    info = edit_video(clip, tmp_path / "out.mp4", choose_edits("cool"))
    assert info.has_audio
    with av.open(str(tmp_path / "out.mp4")) as container:
        audio = container.streams.audio[0]
        assert audio.duration is not None
        assert audio.time_base is not None
        assert float(audio.duration * audio.time_base) == pytest.approx(2.0, rel=0.05)


def test_silent_video_stays_silent(clips: Path, tmp_path: Path) -> None:
    source = make_clip(clips / "silent.mp4", audio=False)
    info = edit_video(source, tmp_path / "out.mp4", choose_edits("slow motion"))
    assert not info.has_audio
    assert info.duration == pytest.approx(4.0, rel=0.1)


# --- refusals ---------------------------------------------------------------------------------


def test_too_long_is_refused(clip: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(
        EditError, match=r"^The video is 2\.0 seconds long; the limit is 1 second\."
    ):
        edit_video(clip, target, choose_edits("warm"), max_seconds=1)
    assert list(tmp_path.iterdir()) == []


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "noise.mp4"
    source.write_bytes(os.urandom(20_000))
    target = tmp_path / "out.mp4"
    with pytest.raises(EditError, match=r"^The video file could not be read: ") as caught:
        edit_video(source, target, choose_edits("warm"))
    assert str(tmp_path) not in str(caught.value)  # no paths shown to users
    assert [p.name for p in tmp_path.iterdir()] == ["noise.mp4"]
    with pytest.raises(EditError, match="could not be read"):
        probe(source)


def test_truncated_file_is_refused(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "half.mp4"
    source.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(EditError, match="could not be read"):
        edit_video(source, tmp_path / "out.mp4", [])
    assert [p.name for p in tmp_path.iterdir()] == ["half.mp4"]


def test_sound_without_picture_is_refused(tmp_path: Path) -> None:
    source = make_sound(tmp_path / "tone.m4a")
    with pytest.raises(EditError, match=r"^The video has no picture track\.$"):
        edit_video(source, tmp_path / "out.mp4", [])
    with pytest.raises(EditError, match="no picture track"):
        probe(source)
    assert [p.name for p in tmp_path.iterdir()] == ["tone.m4a"]


def test_failed_edit_leaves_an_existing_target_alone(clip: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"earlier result")
    with pytest.raises(EditError):
        edit_video(clip, target, [], max_seconds=1)
    assert target.read_bytes() == b"earlier result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_missing_source_is_an_edit_error(tmp_path: Path) -> None:
    with pytest.raises(EditError, match="could not be read"):
        edit_video(tmp_path / "nowhere.mp4", tmp_path / "out.mp4", [])
    assert list(tmp_path.iterdir()) == []


def live_matroska(path: Path, *, picture_seconds: int, sound_seconds: int) -> Path:
    """A Matroska file written as a live stream: its container states no duration at all."""
    with av.open(str(path), "w", format="matroska", options={"live": "1"}) as out:
        video = out.add_stream("libx264", rate=12)
        assert isinstance(video, VideoStream)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"preset": "ultrafast"}
        sound = out.add_stream("aac", rate=48000)
        assert isinstance(sound, AudioStream)
        sound.layout = "mono"
        picture = av.VideoFrame(64, 48, "yuv420p")
        for index in range(12 * picture_seconds):
            picture.pts, picture.time_base = index, Fraction(1, 12)
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
        silence = bytes(4 * 1024)
        for start in range(0, 48000 * sound_seconds, 1024):
            frame = av.AudioFrame(format="flt", layout="mono", samples=1024)
            frame.planes[0].update(silence)
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    with av.open(str(path)) as check:
        assert check.duration is None
    return path


def test_sound_longer_than_the_limit_is_refused_even_with_a_short_picture(tmp_path: Path) -> None:
    source = live_matroska(tmp_path / "live.mkv", picture_seconds=1, sound_seconds=8)
    with pytest.raises(EditError, match="the limit is 3"):
        edit_video(source, tmp_path / "out.mp4", choose_edits("warm"), max_seconds=3.0)
    assert not (tmp_path / "out.mp4").exists()
