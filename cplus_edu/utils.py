"""Helpers every chapter uses: seeding, the device, progress bars and the chapter's stopwatch."""

from __future__ import annotations

import functools
import os
import random
import time

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's generators; return a ``torch.Generator`` seeded too.

    Two runs that call ``seed_everything(s)`` first and do the same work give identical results on
    the same machine (CPU kernels are deterministic for the small models used here).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    """The first CUDA device when one is available, else the CPU (every chapter runs there)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def progress_disabled() -> bool:
    """Progress bars are quiet under CI (env ``CI``) or when ``CPLUS_EDU_QUIET`` is set."""
    return bool(os.environ.get("CI") or os.environ.get("CPLUS_EDU_QUIET"))


def progress_bar(iterable=None, *, show: bool | None = None, **kwargs):
    """A tqdm progress bar that stays readable in a saved notebook.

    In a terminal this is tqdm's text bar. In a Jupyter kernel it is tqdm's widget while it runs,
    and, once closed, the widget's output is replaced by the bar's last text line ("training:
    100%|...| 30/30 [00:04<00:00, loss=0.12]"; where it stopped, after an error). A notebook saves
    the *text* of an output, not a widget's state, so without this a saved or exported notebook
    shows the bar as it was when first drawn: a frozen "0%" (tqdm issue #1120) or "model not
    found". ``show=None`` shows the bar unless :func:`progress_disabled`; ``kwargs`` go to tqdm
    (``desc``, ``total``, ``initial``, ``leave``: with ``leave=False`` the bar leaves no line).
    """
    show = (not progress_disabled()) if show is None else show
    return _bar_class()(iterable, disable=not show, **kwargs)


@functools.cache
def _bar_class():
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not issubclass(tqdm, notebook_tqdm):  # not in a Jupyter kernel (or no ipywidgets)
        return tqdm
    from IPython.display import display

    class SavedNotebookBar(tqdm):
        """tqdm's notebook widget, shown with a display id so that ``close`` can replace it by
        its final text line."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self._handle = None if self.disable else display(self.container, display_id=True)

        def close(self):
            super().close()
            handle, self._handle = getattr(self, "_handle", None), None
            if handle is not None:
                handle.update({"text/plain": str(self) if self.leave else ""}, raw=True)
                self.container.close()  # the widget is no longer shown: free its model

    return SavedNotebookBar


class Stopwatch:
    """Wall-clock time since it was made. Each chapter starts one in its first code cell and
    prints it in its last, so the run time it states is measured, not typed.

    ``str(watch)`` is the wall time ("1 min 47 s"); ``watch.report()`` adds the CPU time this
    process spent meanwhile, which a busy machine does not inflate (on one thread it is close to
    the wall time the same run takes on an idle machine).

    >>> watch = Stopwatch()
    >>> watch.seconds() >= 0
    True
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def seconds(self) -> float:
        """Wall-clock seconds since the stopwatch was made."""
        return time.perf_counter() - self._start

    def cpu_seconds(self) -> float:
        """CPU seconds this process (all its threads) spent since the stopwatch was made."""
        return time.process_time() - self._cpu_start

    def report(self) -> str:
        """One line for the end of a chapter: wall time and CPU time."""
        return (f"This chapter ran in {self} (wall clock; CPU time of this process "
                f"{_minutes(self.cpu_seconds())}).")  # fmt: skip

    def __str__(self) -> str:
        return _minutes(self.seconds())


def _minutes(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
