"""Summaries of repeated runs for every chapter: mean ± spread, paired differences, text tables.

A chapter's runs are *rows*: one dict per trained model, with the setting's name under ``by``
(``"loss"`` by default), the ``seed`` (and, where the data changes too, a ``split``), and the
measured numbers. The spread is the sample standard deviation over runs (0 for a single run).

Paired differences compare each run with the baseline run that shares its seed (and split):
same data order, same initial weights, so the difference removes most of the run-to-run noise a
comparison of means carries, and "on how many pairs is it better" is the honest headline.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, sample std)`` of ``values``; the std of a single value is 0."""
    values = list(values)
    if not values:
        raise ValueError("values is empty")
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), spread


def summarize(rows: list[dict], metrics: Sequence[str], by: str = "loss") -> dict[str, dict]:
    """``{setting: {metric: (mean, std over its runs)}}`` in the order the settings first appear;
    ``(nan, nan)`` for a metric a setting's runs do not have (CE has no ``term_compact``)."""
    if not rows:
        raise ValueError("rows is empty")
    summary: dict[str, dict] = {}
    for name in dict.fromkeys(r[by] for r in rows):
        runs = [r for r in rows if r[by] == name]
        summary[name] = {}
        for m in metrics:
            values = [r[m] for r in runs if m in r]
            summary[name][m] = mean_std(values) if values else (math.nan, math.nan)
    return summary


def paired_differences(
    rows: list[dict],
    baseline: str,
    metrics: Sequence[str],
    by: str = "loss",
    pair_on: Sequence[str] = ("seed",),
) -> dict[str, dict[str, list[float]]]:
    """``{setting: {metric: [value - baseline's value, per pair]}}``; runs are paired with the
    baseline run that has the same values of every key in ``pair_on`` (seed, split ...)."""
    key = lambda r: tuple(r.get(k) for k in pair_on)  # noqa: E731
    base = {key(r): r for r in rows if r[by] == baseline}
    if not base:
        raise ValueError(f"no run of the baseline {baseline!r} in rows")
    diffs: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r[by] == baseline or key(r) not in base:
            continue
        per_metric = diffs.setdefault(r[by], {m: [] for m in metrics})
        for m in metrics:
            per_metric[m].append(r[m] - base[key(r)][m])
    return diffs


def text_table(header: Sequence[str], lines: Sequence[Sequence]) -> str:
    """A plain-text table with left-aligned columns and a rule under the header."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)])


def format_table(
    summary: dict[str, dict],
    metrics: Sequence[str],
    *,
    headings: Sequence[str] | None = None,
    percent: bool = True,
    digits: int = 1,
    paper: dict[str, float] | None = None,
    paper_heading: str = "paper",
    first_heading: str = "loss",
) -> str:
    """One row per setting, ``mean ± std`` per metric (×100 if ``percent``; ``-`` where a
    setting has no such metric), and the paper's number beside it when ``paper`` maps the
    same setting names to numbers."""
    headings = list(headings) if headings is not None else list(metrics)
    header = [first_heading, *headings] + ([paper_heading] if paper else [])
    scale = 100.0 if percent else 1.0
    lines = []
    for name, values in summary.items():
        cells = [name] + [f"{scale * m:.{digits}f} ± {scale * s:.{digits}f}"
                          if not math.isnan(m) else "-"
                          for m, s in (values[k] for k in metrics)]  # fmt: skip
        if paper:
            cells.append(f"{paper[name]:.2f}" if name in paper else "")
        lines.append(cells)
    return text_table(header, lines)
