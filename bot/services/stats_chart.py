"""/stats' picture: the tasks that ended on each of the last 14 UTC days by outcome, and the
median and 90th percentile of the delivered ones' processing time, as a small PNG.

`daily` is pure (the per-day figures); `draw` is matplotlib's object API on its headless Agg
canvas, no pyplot and its global figures, so it may run in a worker thread (AdminService runs it
in one: drawing takes tens of milliseconds, and matplotlib's first import about a second).
matplotlib is imported inside `draw` only: a bot nobody asks /stats of never loads it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.domain.records import TaskState

DAYS = 14
DAY = 86400.0
# 800 x 450 px: readable in Telegram's preview, about 40 KB as a PNG.
WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.5, 100
# matplotlib's default palette: colour-blind-safe enough, and the same in every language.
_COLOURS = {"delivered": "#2ca02c", "failed": "#d62728", "other": "#7f7f7f"}


@dataclass(frozen=True)
class DayFigures:
    """One UTC day of the chart."""

    day: date
    delivered: int
    failed: int
    other: int  # outcome unknown, undeliverable, cancelled
    median: float | None  # seconds from submit to finish of the day's delivered tasks
    p90: float | None

    @property
    def ended(self) -> int:
        return self.delivered + self.failed + self.other


@dataclass(frozen=True)
class ChartLabels:
    """The picture's words, in the admin's language (made by bot.texts in the event loop)."""

    title: str
    delivered: str
    failed: str
    other: str
    median: str
    p90: str
    tasks_axis: str
    time_axis: str
    days: list[str]  # one label for each of the DAYS days, oldest first


def window_start(now: float) -> float:
    """The first second of the chart's first day: UTC midnight DAYS - 1 days before today's."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=DAYS - 1)).timestamp()


def _percentile(values: list[float], share: float) -> float:
    """As /stats' figures compute it (bot/texts/admin.py): the nearest rank of sorted values."""
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def daily(rows: Iterable[tuple[float, TaskState, float | None]], now: float) -> list[DayFigures]:
    """The DAYS days up to `now`'s, oldest first, from (finished at, end state, seconds from
    submit to finish) of ended tasks (TaskRepository.finished_since). Rows outside the window
    are left out; a delivered task without a time (or a negative one, clocks moved) is counted
    but not timed."""
    start = window_start(now)
    counts = [[0, 0, 0] for _ in range(DAYS)]
    times: list[list[float]] = [[] for _ in range(DAYS)]
    for finished_at, state, seconds in rows:
        index = math.floor((finished_at - start) / DAY)
        if not 0 <= index < DAYS or state.is_active:
            continue
        if state is TaskState.DELIVERED:
            counts[index][0] += 1
            if seconds is not None and seconds >= 0:
                times[index].append(seconds)
        elif state is TaskState.FAILED:
            counts[index][1] += 1
        else:
            counts[index][2] += 1
    first = datetime.fromtimestamp(start, UTC).date()
    figures = []
    for index in range(DAYS):
        day_times = sorted(times[index])
        figures.append(
            DayFigures(
                day=first + timedelta(days=index),
                delivered=counts[index][0],
                failed=counts[index][1],
                other=counts[index][2],
                median=_percentile(day_times, 0.5) if day_times else None,
                p90=_percentile(day_times, 0.9) if day_times else None,
            )
        )
    return figures


def draw(days: list[DayFigures], labels: ChartLabels) -> bytes:
    """The PNG: stacked bars of the day's endings (left axis), and lines of the median and
    90th-percentile processing time in minutes (right axis; a day without a delivered task
    leaves a gap). Blocking: run it in a worker thread."""
    import matplotlib  # here: only when /stats draws

    matplotlib.use("Agg")  # headless, whatever MPLBACKEND says
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # the figure's canvas: Agg's, no window
    bars = figure.add_subplot()
    x = list(range(len(days)))
    delivered = [d.delivered for d in days]
    failed = [d.failed for d in days]
    other = [d.other for d in days]
    bars.bar(x, delivered, color=_COLOURS["delivered"], label=labels.delivered)
    bars.bar(x, failed, bottom=delivered, color=_COLOURS["failed"], label=labels.failed)
    below_other = [a + b for a, b in zip(delivered, failed, strict=True)]
    bars.bar(x, other, bottom=below_other, color=_COLOURS["other"], label=labels.other)
    bars.set_ylabel(labels.tasks_axis)
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    bars.set_xticks(x, labels.days, rotation=45, ha="right", fontsize=8)
    bars.set_title(labels.title)
    bars.grid(axis="y", alpha=0.3)

    times = bars.twinx()
    nan = float("nan")
    median = [nan if d.median is None else d.median / 60 for d in days]
    p90 = [nan if d.p90 is None else d.p90 / 60 for d in days]
    times.plot(x, median, color="#1f77b4", marker="o", markersize=4, label=labels.median)
    times.plot(x, p90, color="#ff7f0e", marker="o", markersize=4, ls="--", label=labels.p90)
    times.set_ylabel(labels.time_axis)
    times.set_ylim(bottom=0)

    handles, names = bars.get_legend_handles_labels()
    more_handles, more_names = times.get_legend_handles_labels()
    bars.legend(
        handles + more_handles, names + more_names, loc="upper left", fontsize=8, framealpha=0.8
    )
    out = io.BytesIO()
    figure.savefig(out, format="png")
    figure.clear()
    return out.getvalue()
