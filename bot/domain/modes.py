"""Edit strengths of Luma Modify: adhere (subtle), flex (stylistic), reimagine; each 1-3."""

from __future__ import annotations

FAMILIES: dict[str, str] = {
    "adhere": "subtle",
    "flex": "stylistic",
    "reimagine": "transformative",
}
LEVELS = (1, 2, 3)
ALL_MODES: tuple[str, ...] = tuple(f"{family}_{level}" for family in FAMILIES for level in LEVELS)


def split(mode: str) -> tuple[str, int]:
    """`"flex_2"` -> `("flex", 2)`."""
    family, _, level = mode.rpartition("_")
    return family, int(level)


def describe(mode: str) -> str:
    """`"flex_2"` -> `"Flex 2 (stylistic)"`."""
    family, level = split(mode)
    return f"{family.capitalize()} {level} ({FAMILIES[family]})"
