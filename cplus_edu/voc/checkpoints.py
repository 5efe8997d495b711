"""Checkpoints of a run directory: written so that a kill never leaves a broken one, read back
with a clear message when one is broken anyway, and resumed only into the same run.

- ``save_checkpoint`` writes ``last.pt`` to a temporary file, flushes it to disk and renames it
  over the old one; the old one is kept as ``previous.pt`` first (a hard link, renamed into
  place), so a ``last.pt`` damaged later (a full disk, a bad copy) has a fallback one checkpoint
  older. A process killed mid-save leaves only a ``.last.pt.<pid>.tmp`` file, which
  ``remove_stale_temporaries`` deletes when the next run starts.
- ``load_checkpoint`` names the file when it cannot be read and says which checkpoint to use
  instead.
- ``check_resumable`` refuses to continue a run with another loss, centres, configuration or
  model than the checkpoint's, naming both.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from cplus_edu.voc.config import MODEL_FIELDS, VOCConfig

PREVIOUS = "previous.pt"


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file that exists but cannot be read."""


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_save(obj, path) -> None:
    """``torch.save`` to a temporary file in the same folder, flushed, then renamed over
    ``path``: a reader (or a resumed run) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = _temporary(path)
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(obj, path) -> None:
    """``atomic_save`` to ``path`` (``RUN_DIR/last.pt``), keeping the file it replaces as
    ``previous.pt`` beside it."""
    path = Path(path)
    if path.exists():
        link = _temporary(path.with_name(PREVIOUS))
        try:
            os.link(path, link)  # no copy: the old file gets a second name
        except OSError:  # a file system without hard links
            shutil.copy2(path, link)
        os.replace(link, path.with_name(PREVIOUS))
    atomic_save(obj, path)


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the ``.*.pt.<pid>.tmp`` files a killed save left in ``folder``; returns them."""
    stale = sorted(Path(folder).glob(".*.pt.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def load_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint at ``path``; a ``CorruptCheckpointError`` naming it (and ``previous.pt``
    if there is one) when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
        if not isinstance(state, dict) or "model" not in state:
            raise ValueError("not a cplus_edu.voc checkpoint (no 'model' entry)")
    except Exception as e:  # truncated zip, unpickling errors, a wrong file ...
        previous = path.with_name(PREVIOUS)
        if previous.is_file() and previous != path:
            advice = (f"the previous checkpoint {previous} (one --checkpoint-every earlier) is "
                      f"kept beside it: `cp {previous} {path}` and run again")  # fmt: skip
        else:
            advice = "there is no previous checkpoint beside it: start again with a new --out"
        raise CorruptCheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: "
                                     f"{e}); {advice}") from e  # fmt: skip
    return state


def check_resumable(state: dict, cfg: VOCConfig, loss: str, centers: str, path) -> None:
    """A ``ValueError`` naming both sides when ``--resume`` would continue the checkpoint at
    ``path`` with another ``--loss``, ``--centers``, ``--config`` or model."""
    saved = state.get("args", {})
    saved_cfg = state.get("config", {})
    problems = []
    if saved.get("loss") != loss:
        problems.append(f"--loss {saved.get('loss')} there, --loss {loss} here")
    if loss == "cplus1" and saved.get("centers") != centers:
        problems.append(f"--centers {saved.get('centers')} there, --centers {centers} here")
    if saved_cfg.get("name") != cfg.name:
        problems.append(f"--config {saved_cfg.get('name')} there, --config {cfg.name} here")
    else:
        ours = {k: getattr(cfg, k) for k in MODEL_FIELDS}
        theirs = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in saved_cfg.items() if k in MODEL_FIELDS}  # fmt: skip
        if theirs != ours:
            try:
                old = VOCConfig.from_dict(saved_cfg).model_summary()
            except (TypeError, ValueError):  # a checkpoint of an older version of this code
                old = ", ".join(f"{k}={theirs.get(k)}" for k in MODEL_FIELDS)
            problems.append(f"model {old} there, {cfg.model_summary()} here")
    if problems:
        raise ValueError(
            f"--resume: {path} belongs to another run: "
            + "; ".join(problems)
            + ". Resume with the checkpoint's settings, or train into a new --out"
        )
