"""The tracking bench's report: one block per mode, as BENCHMARKS.md records it."""

from __future__ import annotations

import os
from typing import Any

from bench.scale.figures import BEST_EFFORT, SEND_RATE, TELEGRAM_RATE, Figures
from bench.scale.measures import percentile
from bench.scale.options import Options

NOISY = 0.5  # CPUs kept busy by other processes above which the figures are flagged


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def report(figures: Figures, options: Options, postgres: bool = False) -> None:
    """`postgres`: the bot ran on PostgreSQL (whose server's CPU time is printed apart)."""
    low, high = options.finish
    title = (
        f"Polling only (a check every {options.poll:g} s; tasks finishing {low:g}-{high:g} s "
        "after the start):"
        if figures.mode == "polling"
        else f"Webhook mode (callbacks {low:g}-{high:g} s after the start; safety poll not due):"
    )
    print(title)
    print(
        f"  delivered {figures.delivered} of {figures.tasks} "
        f"({figures.duplicates} sent twice); tracking took {figures.children[0]['seconds']:.0f} "
        f"s, whole run {figures.seconds:.0f} s"
    )
    for index, (ready, child) in enumerate(
        zip(figures.children_ready, figures.children, strict=True)
    ):
        if len(figures.children) > 1:
            print(f"  instance {index + 1} of {len(figures.children)}:")
        report_memory(ready, child)
        report_tracker(child, figures.delivered)
    report_status_requests(figures, options)
    report_cpu(figures, postgres)
    report_latency(figures, options)
    report_send_rates(figures)


def report_memory(ready: dict[str, Any], child: dict[str, Any]) -> None:
    """The bot's peak memory, its resident set along the run, and its open files."""
    rss_mb = child["max_rss_kb"] / 1024
    print(
        f"  peak memory (VmHWM) {rss_mb:.0f} MB "
        f"{'(target < 100 MB: met)' if rss_mb < 100 else '(target < 100 MB: MISSED)'}; "
        f"{ready['rss_kb'] / 1024:.0f} MB resident when it started tracking, "
        f"{child['rss_end_kb'] / 1024:.0f} MB at the end; at most {child['files_max']} "
        "open files"
    )
    print(
        f"    peak by the start of tracking {ready['max_rss_kb'] / 1024:.0f} MB, while tracking "
        f"{child['max_rss_tracking_kb'] / 1024:.0f} MB (before the stop); ru_maxrss "
        f"{child.get('ru_maxrss_kb', 0) / 1024:.0f} MB (with the peak of the bench's process it "
        "was started from)"
    )
    steps = child["timeline"][::3]
    print(
        "    resident MB / asyncio tasks alive, every 30 s: "
        + ", ".join(f"{at:.0f} s {mb} MB {alive}" for at, mb, alive in steps)
    )
    for at, peak, resident, alive, files in child.get("rises", []):
        print(
            f"    the peak rose to {peak} MB at {at:.1f} s (resident then {resident} MB, "
            f"{alive} asyncio tasks, {files} open files)"
        )
    if "traced_peak_bytes" in child:
        print(
            f"  tracemalloc: Python allocations of the tracking phase peaked at "
            f"{child['traced_peak_bytes'] / 1e6:.1f} MB; largest near the peak:"
        )
        for line in child["traced_top"]:
            print(f"    {line}")


def report_status_requests(figures: Figures, options: Options) -> None:
    per_task = figures.status_per_task
    mean_requests = sum(per_task) / len(per_task)
    if figures.mode == "polling":
        over = sum(1 for n, b in zip(per_task, figures.bounds, strict=True) if n > b)
        target = sum(figures.bounds) / len(per_task)
        print(
            f"  status requests per task: {mean_requests:.2f} mean, {max(per_task)} max; target "
            f"(processing time / poll interval + 1) {target:.2f} mean; {over} tasks over their "
            "own target"
        )
        gaps = figures.poll_gaps
        print(
            f"  time between two checks of a task: p50 {percentile(gaps, 50):.2f} s, "
            f"p95 {percentile(gaps, 95):.2f} s (poll interval {options.poll:g} s); "
            f"{figures.early_check_rate:.0f} checks a second while all were running "
            f"(asked for: {figures.tasks / options.poll:.0f})"
        )
    else:
        verdict = "met" if mean_requests < 0.1 else "MISSED"
        print(f"  status requests per task: {mean_requests:.2f} (target < 0.1: {verdict})")


def report_tracker(child: dict[str, Any], delivered: int) -> None:
    """The tracker's rounds and their database time, the per-task work."""
    phase = child["seconds"]
    rounds, db, busy = child["rounds"], child["round_db"], child["round_busy"]
    print(
        f"  tracker: {rounds} rounds, {rounds / phase:.1f} a second; database time per round "
        f"mean {ms(db['mean'])}, p95 {ms(db['p95'])}, max {ms(db['max'])} "
        f"(the round's work, database included: p95 {ms(busy['p95'])}); "
        f"{child['picked']['mean']:.1f} tasks picked per round"
    )
    calls = child["tracker_calls"]
    parts = [
        f"{name} {n:.0f}× {total / n * 1000:.2f} ms"
        for name, (n, total) in sorted(calls.items(), key=lambda kv: -kv[1][1])
    ]
    print(f"    by query (mean): {', '.join(parts)}")
    other = child["other_calls"]
    other_total = sum(total for _, total in other.values())
    other_n = sum(n for n, _ in other.values())
    print(
        f"    per-task work: {other_n:.0f} repository calls, {other_total:.1f} s in all "
        f"({other_total / max(1, delivered) * 1000:.1f} ms a task delivered by any instance); "
        "by query (mean):"
    )
    parts = [
        f"{name} {n:.0f}× {ms(total / n)}"
        for name, (n, total) in sorted(other.items(), key=lambda kv: -kv[1][1])
    ]
    print(f"      {', '.join(parts)}")


def report_cpu(figures: Figures, postgres: bool) -> None:
    """The CPU time of the bot's processes, of this one, of the server, and of others."""
    phase = figures.children[0]["seconds"]
    bots = " + ".join(f"{child['cpu_seconds'] / phase * 100:.0f} %" for child in figures.children)
    server = (
        f", PostgreSQL server {figures.server_cpu / phase * 100:.0f} % (its own processes, "
        "not in the bot's figure; from the bot's start of tracking to the last video)"
        if postgres
        else ""
    )
    print(
        f"  CPU: bot {bots} of a core, fakes and driver "
        f"{figures.parent_cpu / phase * 100:.0f} %{server}; other processes on the machine "
        f"kept {figures.others:.1f} of its {os.cpu_count()} CPUs busy meanwhile"
        + (" (noisy)" if figures.others > NOISY else "")
    )


def report_latency(figures: Figures, options: Options) -> None:
    """From the result to its sendVideo, and how much of it Telegram's limit alone explains."""
    lat, imp = figures.latencies, figures.imposed
    beyond = [a - b for a, b in zip(lat, imp, strict=True)]
    what = "complete" if figures.mode == "polling" else "callback sent"
    print(
        f"  {what} -> sendVideo: p50 {ms(percentile(lat, 50))}, p99 {ms(percentile(lat, 99))}, "
        f"max {ms(max(lat, default=float('nan')))}"
    )
    calls = "sendVideo" + (", editMessageText" if options.cards else "")
    print(
        f"    of which the bot's {SEND_RATE:g} sends a second (Telegram allows "
        f"{TELEGRAM_RATE:g}) impose at this load ({options.calls_per_task} "
        f"call{'s' if options.calls_per_task > 1 else ''} a task: {calls}): "
        f"p50 {ms(percentile(imp, 50))}, p99 {ms(percentile(imp, 99))}"
    )
    excess = percentile(beyond, 99)
    verdict = "met" if excess < 1.0 else "MISSED"
    print(
        f"    beyond that wait: p50 {ms(percentile(beyond, 50))}, p99 {ms(excess)} "
        f"(target p99 < 1 s: {verdict}); p99 latency - p99 wait = "
        f"{ms(percentile(lat, 99) - percentile(imp, 99))}"
    )
    paced = {m: n for m, n in figures.chat_calls.items() if m != BEST_EFFORT}
    sent, span = figures.send_span
    if sent > 1 and span > 0:
        rate = (sent - 1) / span
        late = sent / rate - sent / SEND_RATE
        print(
            f"    the bot's sends came at {rate:.2f} a second on average, first to last (the "
            f"wait above assumes {SEND_RATE:g}): its {sent} calls took {ms(late)} longer than "
            f"at {SEND_RATE:g} (while the queue never empties, what its last tasks wait beyond "
            "it)"
        )
    print(
        "    longest gaps between the sends that wait for a turn: "
        + ", ".join(f"{ms(gap)} at {at:.1f} s" for gap, at in figures.gaps)
    )
    seen = sum(paced.values()) / max(1, figures.delivered)
    actions = figures.chat_calls.get(BEST_EFFORT, 0)
    print(
        f'    "sending video…" shown {actions} times ({BEST_EFFORT}: only when a turn was '
        "free at once)"
    )
    if abs(seen - options.calls_per_task) > 0.05:
        print(
            f"    NOTE: the fake saw {seen:.2f} calls per delivered task that wait for a turn, "
            f"not {options.calls_per_task}: the waits above are modelled on the wrong count"
        )


def report_send_rates(figures: Figures) -> None:
    verdict = "within" if figures.max_rate_sliding <= TELEGRAM_RATE else "OVER"
    mix = ", ".join(f"{m} {n}" for m, n in sorted(figures.chat_calls.items()))
    print(
        f"  highest send rate at the fake Telegram: {figures.max_rate_sliding} in any 1 s window "
        f"({verdict} {TELEGRAM_RATE:g}); {figures.max_rate_calendar} in one whole second; "
        f"calls: {mix}"
    )
    print(
        f"    as the bot started them: {figures.bot_rates[1]} in any 1 s window, "
        f"{figures.bot_rates[0]} in one whole second"
    )
    print(f"    windows of 1 s from each call on, by calls in them: {histogram(figures)}")


def histogram(figures: Figures) -> str:
    """How many 1 s windows (one from each call at the fake on) held how many calls: those
    under 20 together, then each count."""
    counts: dict[int, int] = {}
    for n in figures.window_counts:
        counts[max(n, 19)] = counts.get(max(n, 19), 0) + 1
    return ", ".join(f"{'< 20' if n == 19 else n}: {counts[n]}" for n in sorted(counts))
