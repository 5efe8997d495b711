"""Reading a run directory back: its configuration, the logged curves and the evaluations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Run:
    path: Path
    config: dict
    train: list[dict] = field(default_factory=list)  # one record per logged iteration
    evals: list[dict] = field(default_factory=list)  # one record per evaluation
    metrics: dict | None = None  # RUN_DIR/metrics.json when `eval --out` wrote it there

    @property
    def label(self) -> str:
        c = self.config
        return c["loss"] + (f" ({c['centers']})" if c["loss"] == "cplus1" else "")

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(iterations, values)`` of a logged training quantity (a loss term, ``lr`` ...)."""
        rows = [r for r in self.train if key in r]
        return (np.array([r["iteration"] for r in rows]), np.array([r[key] for r in rows]))

    @property
    def last_eval(self) -> dict | None:
        """``metrics.json`` if present, else the last periodic evaluation."""
        return self.metrics or (self.evals[-1] if self.evals else None)


def read_run(path) -> Run:
    """Read ``config.json``, ``log.jsonl`` and (if present) ``metrics.json`` of a run."""
    path = Path(path)
    config_path = path / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{path} is not a run directory: {config_path} does not exist")
    run = Run(path, json.loads(config_path.read_text()))
    log = path / "log.jsonl"
    if log.is_file():
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            (run.train if record.get("kind") == "train" else run.evals).append(record)
    if (path / "metrics.json").is_file():
        run.metrics = json.loads((path / "metrics.json").read_text())
    return run
