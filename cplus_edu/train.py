"""One small training loop for every chapter: seeding, progress bar, loss terms, checkpoints.

``fit`` works with any loss of the package's common interface:

- ``loss_fn(logits, target)`` for a plain loss (``nn.CrossEntropyLoss()``, the CAS loss ...);
- ``loss_fn(features, logits, target)`` when the loss sets ``needs_features = True`` (C+1 loss);
- with several targets per sample (data ``(x, labels, regions)``), every target is passed in order:
  ``loss_fn(logits, labels, regions)``.

Threads: one policy for the whole package. ``fit(threads=...)`` sets torch's intra-op thread count
for the run and restores it afterwards. The default, ``TINY_MODEL_THREADS = 1``, was measured with
``benchmarks/threads.py`` on the chapters' tiny models on a 2-core machine: on a busy machine (load
8.7) two threads took 4x (SmallCNN) to 19x (MLPs) as long as one; on an idle one, two threads were
1.2x-1.9x faster. One thread loses little where it loses and wins big where it wins (a laptop with
a browser open, Binder's shared CPUs). Pass ``threads=None`` for a large model to keep torch's
setting.

A loss that keeps a ``terms`` dict of detached scalars after each call (the C+1 loss's
separability / compact / background parts) has the epoch mean of each term recorded in the history,
so a notebook can plot what every part of the loss did.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from cplus_edu.utils import default_device, progress_bar, seed_everything


@dataclass
class History:
    """Epoch-mean loss and loss terms: ``loss[i]`` and ``terms[name][i]`` for epoch ``i``; and
    ``metrics[name][i]``, what an ``on_epoch_end`` callback records (a validation score), saved
    in the checkpoints with the rest so a resumed run keeps its learning curve."""

    loss: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.loss)


TINY_MODEL_THREADS = 1
SCHEDULES = ("constant", "cosine")


def _as_dataset(data) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) >= 2:
        if not all(torch.is_tensor(t) for t in data):
            raise TypeError("data must be a Dataset or a tuple (x, y, ...) of tensors")
        x, *targets = data
        for i, y in enumerate(targets):
            if len(y) != len(x):
                raise ValueError(f"data: x has {len(x)} samples but target {i} has {len(y)}")
        if len(x) == 0:
            raise ValueError("data is empty")
        return TensorDataset(x, *targets)
    raise TypeError(
        f"data must be a Dataset or a tuple (x, y, ...) of tensors, got {type(data).__name__}"
    )


def compute_loss(loss_fn: Callable, features, logits, *targets) -> torch.Tensor:
    """Call ``loss_fn`` with features when it asks for them (``needs_features``), else without;
    every target of the batch follows the logits, in order."""
    if getattr(loss_fn, "needs_features", False):
        return loss_fn(features, logits, *targets)
    return loss_fn(logits, *targets)


@contextmanager
def torch_threads(threads: int | None):
    """Run a block with ``threads`` intra-op threads (``None``: leave the setting alone)."""
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def fit(
    model: nn.Module,
    loss_fn: Callable,
    data,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-2,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "constant",
    bf16: bool = False,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    on_epoch_end: Callable[[int, nn.Module, History], None] | None = None,
    threads: int | None = TINY_MODEL_THREADS,
) -> History:
    """Train ``model`` (returning ``(features, logits)``) with ``loss_fn`` on ``data``.

    ``data`` is a ``(x, y)`` pair of tensors, a tuple ``(x, y1, y2, ...)`` when the loss takes
    several targets, or a ``Dataset`` of such tuples. Parameters of the loss
    (learnable centres) are optimised with the model's. ``progress=None`` shows a tqdm bar unless
    running under CI. ``schedule="cosine"`` lowers the learning rate after every step from ``lr``
    to 0 along ``lr (1 + cos(pi t / T)) / 2`` (``t`` steps done of ``T``), which ends a short run
    at a settled point instead of mid-stride; ``"constant"`` (default) keeps ``lr``. ``bf16=True``
    runs the model's forward pass under bfloat16 autocast (weights, optimizer and loss stay in
    float32): about 1.6x faster on CPUs with AVX512-BF16, slightly different numbers. With
    ``checkpoint`` set, model, loss, optimizer and history are saved after
    every epoch, and a later call with the same path resumes after the last saved epoch.
    ``threads`` torch threads are used during the run (``None``: torch's current setting; the
    default suits the chapters' tiny models, pass ``None`` for a large one).
    ``on_epoch_end(epoch, model, history)`` runs after each epoch, before the checkpoint is saved
    (what it writes into ``history.metrics`` is saved too).
    Returns the ``History`` of epoch-mean losses and loss terms.
    """
    with torch_threads(threads):
        return _fit(
            model,
            loss_fn,
            data,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            schedule=schedule,
            bf16=bf16,
            seed=seed,
            device=device,
            progress=progress,
            checkpoint=checkpoint,
            on_epoch_end=on_epoch_end,
        )


def _fit(
    model,
    loss_fn,
    data,
    *,
    epochs,
    batch_size,
    lr,
    optimizer,
    weight_decay,
    schedule,
    bf16,
    seed,
    device,
    progress,
    checkpoint,
    on_epoch_end,
) -> History:
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    dataset = _as_dataset(data)
    device = torch.device(device) if device is not None else default_device()
    generator = seed_everything(seed)
    model.to(device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)
    params = list(model.parameters())
    if isinstance(loss_fn, nn.Module):
        params += [p for p in loss_fn.parameters() if p.requires_grad]
    opt = _make_optimizer(optimizer, params, lr, weight_decay)
    history = History()
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        if isinstance(loss_fn, nn.Module):
            loss_fn.load_state_dict(state["loss_fn"])
        opt.load_state_dict(state["optimizer"])
        history = state["history"]
        generator.set_state(state["generator"])
        start = state["epoch"]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)
    bar = progress_bar(range(start, epochs), show=progress, desc="training", initial=start,
                       total=epochs)  # fmt: skip
    steps = epochs * len(loader)
    for epoch in bar:
        model.train()
        if isinstance(loss_fn, nn.Module):
            loss_fn.train()
        total, count, term_sums = 0.0, 0, {}
        for step, (x, *targets) in enumerate(loader, start=epoch * len(loader)):
            if schedule == "cosine":  # a function of the step: a resumed run needs no state
                for group in opt.param_groups:
                    group["lr"] = lr * (1 + math.cos(math.pi * step / steps)) / 2
            x, targets = x.to(device), [y.to(device) for y in targets]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                features, logits = model(x)
            if bf16:
                features, logits = features.float(), logits.float()
            loss = compute_loss(loss_fn, features, logits, *targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
            count += len(x)
            for name, value in getattr(loss_fn, "terms", {}).items():
                term_sums[name] = term_sums.get(name, 0.0) + float(value) * len(x)
        history.loss.append(total / count)
        for name, value in term_sums.items():
            history.terms.setdefault(name, []).append(value / count)
        bar.set_postfix(loss=f"{history.loss[-1]:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, model, history)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, loss_fn, opt, history, generator,
                             epoch + 1)  # fmt: skip
    model.eval()
    return history


def _save_checkpoint(path, model, loss_fn, opt, history, generator, epoch) -> None:
    state = {
        "model": model.state_dict(),
        "loss_fn": loss_fn.state_dict() if isinstance(loss_fn, nn.Module) else {},
        "optimizer": opt.state_dict(),
        "history": history,
        "generator": generator.get_state(),
        "epoch": epoch,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: an interrupted save never leaves a broken checkpoint


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, device=None):
    """Run ``model`` in eval mode over ``x`` in batches; ``(features, logits)`` on the CPU."""
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    feats, logits = [], []
    for start in range(0, len(x), batch_size):
        f, z = model(x[start : start + batch_size].to(device))
        feats.append(f.cpu())
        logits.append(z.cpu())
    return torch.cat(feats), torch.cat(logits)
