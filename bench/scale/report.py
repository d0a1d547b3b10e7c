"""The tracking bench's report: one block per mode, as BENCHMARKS.md records it."""

from __future__ import annotations

import os
from typing import Any

from bench.scale.figures import SEND_RATE, TELEGRAM_RATE, Figures
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
        f"  peak memory (ru_maxrss) {rss_mb:.0f} MB "
        f"{'(target < 200 MB: met)' if rss_mb < 200 else '(target < 200 MB: MISSED)'}; "
        f"{ready['rss_kb'] / 1024:.0f} MB resident when it started tracking, "
        f"{child['rss_end_kb'] / 1024:.0f} MB at the end; at most {child['files_max']} "
        "open files"
    )
    print(f"    peak while tracking {child['max_rss_tracking_kb'] / 1024:.0f} MB (before the stop)")
    steps = child["timeline"][::3]
    print(
        "    resident MB / asyncio tasks alive, every 30 s: "
        + ", ".join(f"{at:.0f} s {mb} MB {alive}" for at, mb, alive in steps)
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
    calls = "sendChatAction, sendVideo" + (", editMessageText" if options.cards else "")
    print(
        f"    of which the bot's {SEND_RATE:g} sends a second (Telegram allows "
        f"{TELEGRAM_RATE:g}) impose at this load ({options.calls_per_task} calls a task: "
        f"{calls}): p50 {ms(percentile(imp, 50))}, p99 {ms(percentile(imp, 99))}"
    )
    excess = percentile(beyond, 99)
    verdict = "met" if excess < 1.0 else "MISSED"
    print(
        f"    beyond that wait: p50 {ms(percentile(beyond, 50))}, p99 {ms(excess)} "
        f"(target p99 < 1 s: {verdict}); p99 latency - p99 wait = "
        f"{ms(percentile(lat, 99) - percentile(imp, 99))}"
    )
    alone = figures.imposed_video_only
    beyond_alone = [a - b for a, b in zip(lat, alone, strict=True)]
    print(
        f"    were a delivery its video alone (no chat action; issue 7's model): wait p50 "
        f"{ms(percentile(alone, 50))}, p99 {ms(percentile(alone, 99))}; beyond it p50 "
        f"{ms(percentile(beyond_alone, 50))}, p99 {ms(percentile(beyond_alone, 99))}"
    )
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
    seen = sum(figures.chat_calls.values()) / max(1, figures.delivered)
    if abs(seen - options.calls_per_task) > 0.05:
        print(
            f"    NOTE: the fake saw {seen:.2f} rate-limited calls per delivered task, not "
            f"{options.calls_per_task}: the waits above are modelled on the wrong count"
        )


def report_send_rates(figures: Figures) -> None:
    verdict = "within" if figures.max_rate_calendar <= TELEGRAM_RATE else "OVER"
    mix = ", ".join(f"{m} {n}" for m, n in sorted(figures.chat_calls.items()))
    print(
        f"  highest send rate at the fake Telegram: {figures.max_rate_calendar} in one second "
        f"({verdict} {TELEGRAM_RATE:g}); {figures.max_rate_sliding} in any 1 s window; "
        f"calls: {mix}"
    )
    print(
        f"    as the bot started them: {figures.bot_rates[0]} in one second, "
        f"{figures.bot_rates[1]} in any 1 s window"
    )
