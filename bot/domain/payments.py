"""Payments in Telegram Stars (PAYMENTS=stars): the packs of credits users can buy, and what a
task costs in credits. Read from the settings CREDIT_PACKS, TASK_PRICE and TASK_PRICE_BY_MODE."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.modes import ALL_MODES

MAX_PACKS = 8  # an invoice button each: more would not fit a chat screen
MAX_STARS = 100_000  # far above any real pack; a typo of extra zeros is refused
MAX_CREDITS = 1_000_000


@dataclass(frozen=True, slots=True)
class CreditPack:
    credits: int
    stars: int


@dataclass(frozen=True, slots=True)
class Prices:
    """A task's price in credits: `default`, or its mode's own."""

    default: int
    by_mode: dict[str, int] = field(default_factory=dict)

    def of(self, mode: str | None) -> int:
        if mode is not None and mode in self.by_mode:
            return self.by_mode[mode]
        return self.default


class ChargeState(StrEnum):
    HELD = "held"  # reserved at Submit: spent if the provider takes the task, else returned
    SPENT = "spent"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True)
class TaskCharge:
    """What a task's price has become, for its card."""

    credits: int
    state: ChargeState


class FoundPrice(StrEnum):
    """What became of a task's price when the provider turned out to have the task after all
    (its outcome was unknown)."""

    CHARGED = "charged"  # held until now: spent
    TAKEN_AGAIN = "taken_again"  # an admin had returned it: taken from the balance again
    FREE = "free"  # an admin had returned it, and the balance is short of it: the task is free


@dataclass(frozen=True, slots=True)
class FoundCharge:
    state: FoundPrice
    credits: int  # the task's price
    balance: int  # the user's balance after


def parse_packs(text: str) -> tuple[CreditPack, ...]:
    """`10:50,50:225` (credits:stars, separated by commas) as packs, cheapest first. Raises
    ValueError with a sentence for the operator."""
    packs: list[CreditPack] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        credits, stars = _pair(part, "credits:stars, e.g. 10:50,50:225")
        if not 1 <= credits <= MAX_CREDITS or not 1 <= stars <= MAX_STARS:
            raise ValueError(
                f"{part!r}: a pack is 1 to {MAX_CREDITS} credits for 1 to {MAX_STARS} Stars"
            )
        packs.append(CreditPack(credits, stars))
    if len(packs) > MAX_PACKS:
        raise ValueError(f"must have at most {MAX_PACKS} packs")
    if len({p.credits for p in packs}) != len(packs):
        raise ValueError("must not have two packs of the same number of credits")
    return tuple(sorted(packs, key=lambda p: (p.stars, p.credits)))


def parse_prices_by_mode(text: str) -> dict[str, int]:
    """`flex_1:10,adhere_1:12` (mode:credits) as a price per mode. Raises ValueError."""
    prices: dict[str, int] = {}
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        mode, _, credits = part.partition(":")
        mode = mode.strip().lower()
        if mode not in ALL_MODES:
            raise ValueError(f"{mode!r} is not a mode: one of {', '.join(ALL_MODES)}")
        value = _count(credits, f"{part!r}: mode:credits, e.g. flex_1:10")
        if value > MAX_CREDITS:
            raise ValueError(f"{part!r}: at most {MAX_CREDITS} credits")
        prices[mode] = value
    return prices


def _pair(part: str, shape: str) -> tuple[int, int]:
    left, sep, right = part.partition(":")
    if not sep:
        raise ValueError(f"{part!r} should be {shape}")
    return _count(left, f"{part!r} should be {shape}"), _count(right, f"{part!r} should be {shape}")


def _count(text: str, problem: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ValueError(problem)
    return int(text)
