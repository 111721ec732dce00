"""Progress lines a person can follow in a job's log: done / total, rate and time left.

Training and feature extraction over thousands of task-sized images run for minutes; a log that
stays silent that long looks hung. `Progress` logs at most every ``every`` seconds (each epoch,
with ``every=0``) and always at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Seconds between two progress lines of a long loop (the issue asked for at least every ~10 s).
EVERY = 10.0


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12s``: short enough for a log line."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts units of work (``what``: images, epochs) and logs done / total, rate, time left."""

    def __init__(
        self,
        total: int,
        what: str,
        *,
        log: Callable[[str], None] | None = None,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.what, self.every, self.clock = int(total), what, every, clock
        self.log = log if log is not None else logging.getLogger("medimprint").info
        self.done = 0
        self.start = self.last = clock()

    def step(self, n: int = 1, detail: str = "") -> None:
        """Record ``n`` more units; log when ``every`` seconds have passed or all are done."""
        self.done += n
        now = self.clock()
        if now - self.last < self.every and self.done < self.total:
            return
        self.last = now
        self.log(self.line(now, detail))

    def line(self, now: float, detail: str = "") -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        if rate >= 1:
            speed = f"{rate:.1f} {self.what}/s"
        else:
            speed = f"{1 / rate:.1f} s each" if rate > 0 else "no rate yet"
        eta = "done" if self.done >= self.total else f"~{duration(left)} left"
        text = f"{self.done}/{self.total} {self.what} ({speed}, {duration(elapsed)} so far, {eta})"
        return f"{text}: {detail}" if detail else text
