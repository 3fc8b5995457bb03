"""A one-line progress bar on stderr (redrawn in place on a terminal,
printed once per finished job otherwise)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: float, width: int = 30, stream=sys.stderr):
        self.total, self.width, self.stream = total, width, stream
        self.start = time.perf_counter()
        self.live = stream.isatty()

    def show(self, done: float, label: str) -> None:
        if not self.live:
            return
        fraction = min(1.0, done / self.total) if self.total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r[{bar}] {fraction:4.0%} {elapsed:5.0f}s  {label:<40.40}")
        self.stream.flush()

    def log(self, line: str) -> None:
        """A line that stays (a finished job), printed above the bar."""
        self.stream.write(("\r\033[K" if self.live else "") + line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
