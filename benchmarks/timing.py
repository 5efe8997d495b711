"""Shared by the benchmark scripts: time candidates in turn, round after round.

Interleaving (A, B, C, A, B, C, ...) means a burst of load from elsewhere hits every candidate
alike, so the ratios of medians stay meaningful on a shared machine where absolute times do not.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


def interleaved_times(
    candidates: dict[str, Callable[[], None]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each call of each candidate: ``warmup`` untimed calls each, then ``rounds``
    rounds in which every candidate is called once."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """The median of each candidate's times."""
    return {name: statistics.median(t) for name, t in times.items()}
