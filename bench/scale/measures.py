"""Small measures both of the bench's processes take: percentiles, CPU time, resident memory."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "mean": sum(values) / len(values) if values else float("nan"),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_kb() -> int:
    """The resident set now (ru_maxrss only knows the peak)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def max_rss_kb() -> int:
    """The process's peak resident set: VmHWM, its own memory's high-water mark.

    Not ru_maxrss (getrusage): Linux folds the peak of the memory a process had before execve
    into it, and a child started by Python's subprocess (vfork, then exec) had its parent's
    memory until then. The tracking bench's bot was started by a process holding every upload
    the fake Telegram had received (250 MB after a polling run): its ru_maxrss read 396 MB
    while the bot never held more than 85 (issue 18)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # kB
    return inherited_max_rss_kb()


def inherited_max_rss_kb() -> int:
    """ru_maxrss: the peak resident set, with that of whatever this process exec'd from."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
