"""Choosing the sandbox's edits from an English prompt.

An `Edit` is a name shown to users, FFmpeg video filters and a speed factor. `choose_edits`
picks among the named edits below (black and white, warm or cool tones, vintage, brighter or
darker, more contrast, blur or sharpen, slow motion or speed-up) by their keywords, leaving out
negated ones ("no blur") and, of two that contradict each other, the one mentioned later.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    """One edit: a name shown to users, FFmpeg video filters, and a speed factor."""

    name: str
    video_filters: tuple[tuple[str, str], ...]  # FFmpeg filter (name, args), applied in order
    speed: float = 1.0  # 2.0 = twice as fast, 0.5 = slow motion (half speed)


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
