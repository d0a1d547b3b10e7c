"""Edit strengths of Luma Modify: three families (adhere, flex, reimagine), each at levels 1-3.
How the card names them is bot.texts' (describe_mode)."""

from __future__ import annotations

FAMILIES = ("adhere", "flex", "reimagine")
LEVELS = (1, 2, 3)
ALL_MODES: tuple[str, ...] = tuple(f"{family}_{level}" for family in FAMILIES for level in LEVELS)


def split(mode: str) -> tuple[str, int]:
    """`"flex_2"` -> `("flex", 2)`."""
    family, _, level = mode.rpartition("_")
    return family, int(level)
