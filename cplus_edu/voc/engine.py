"""The training loop: DDP under torchrun, AMP, poly schedule, atomic checkpoints, a JSON-lines log.

One process per device. ``torchrun --nproc_per_node N -m cplus_edu.voc train ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; ``setup_distributed`` then joins the process group (NCCL on
GPUs, gloo on the CPU) and the model is wrapped in ``DistributedDataParallel``; without torchrun
the same code runs in one process. The global batch (16 for the paper) is split evenly over the
processes.

What runs where under DDP:

- BatchNorm becomes ``SyncBatchNorm`` on GPUs, so statistics are over the global batch as in
  mmseg. PyTorch's SyncBatchNorm runs only on GPU-like devices ("expected input tensor to be on
  GPU"), so on the CPU each process keeps plain BatchNorm over its own images (and DDP broadcasts
  rank 0's running statistics, its default);
- the C+1 loss's moving-average centres are updated from per-class sums and counts that are
  all-reduced first (``MovingAverageCenters(all_reduce=...)``): every rank holds the same centres;
- learnable centres are a parameter of the loss: broadcast from rank 0 at the start and their
  gradient averaged over the processes after each backward, as DDP does for the model's
  parameters; shared centres *are* the model's classifier weights.

The loss always runs in float32: under ``--amp`` the model runs in float16 (CUDA, with a
``GradScaler``) or bfloat16 (CPU) and its outputs are cast before the loss.

Checkpoints (``RUN_DIR/last.pt``, the one before it kept as ``previous.pt``; ``checkpoints``)
hold ``iteration``, ``model``, ``optimizer``, ``schedule``, ``loss`` (the centres),
``scaler``, every rank's RNG states, the configuration and the arguments. The data order is a
function of the iteration (``data.IterationSampler``), so ``--resume`` continues exactly where the
checkpoint was taken: on the CPU a run killed and resumed ends with the same weights, bit for bit,
as an uninterrupted one.

``RUN_DIR/log.jsonl`` gets one line per logged iteration (``kind: "train"``: every loss term,
the learning rate, images per second) and one per evaluation (``kind: "eval"``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cplus_edu.utils import progress_bar, progress_disabled, seed_everything
from cplus_edu.voc.checkpoints import (
    check_resumable,
    load_checkpoint,
    remove_stale_temporaries,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cplus_edu.voc.config import VOCConfig
from cplus_edu.voc.criterion import SegmentationCriterion
from cplus_edu.voc.data import IterationSampler, VOCEvalSet, VOCTrainSet, list_samples
from cplus_edu.voc.evaluate import _amp_dtype, evaluate
from cplus_edu.voc.model import build_model
from cplus_edu.voc.weights import load_backbone_weights

# --- processes -----------------------------------------------------------------------------------


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None = None) -> Dist:
    """Join torchrun's process group if there is one; pick this process's device."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    dev = torch.device("cuda", local_rank) if cuda else torch.device(device or "cpu")
    if cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Dist(rank, world, local_rank, dev)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def poly_lr(iteration: int, cfg: VOCConfig) -> float:
    """mmseg's poly: ``(lr - min_lr) * (1 - it / iterations) ** power + min_lr``."""
    return (cfg.lr - cfg.min_lr) * (1 - iteration / cfg.iterations) ** cfg.power + cfg.min_lr


# --- the loop ---------------------------------------------------------------


@dataclass
class TrainOptions:
    data_root: str | None
    out: str
    config: VOCConfig
    loss: str = "ce"
    centers: str = "moving_average"
    resume: bool = False
    amp: bool = False
    backbone_weights: str | None = None  # "open-mmlab", a path, "none"; None: not said
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    progress: bool | None = None


def rank_differences(model: nn.Module, criterion: nn.Module) -> dict:
    """Largest absolute difference between ranks of the model's parameters and of the loss's
    state (the centres): both must be 0 under DDP. Every rank calls it (an all-gather)."""
    import torch.distributed as dist

    def spread(tensors) -> float:
        if not tensors:
            return 0.0
        flat = torch.cat([t.detach().float().flatten() for t in tensors])
        gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, flat)
        return max(float((g - gathered[0]).abs().max()) for g in gathered)

    return {"model_parameters": spread(list(unwrap(model).parameters())),
            "loss_state": spread(list(criterion.state_dict().values()))}  # fmt: skip


def _log(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, iteration: int) -> None:
    """Drop the records of iterations after ``iteration`` (they are redone on resume)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if record.get("iteration", 0) <= iteration:
            keep.append(line)
    path.write_text("".join(line + "\n" for line in keep))


def train(opts: TrainOptions) -> Path:
    """Run (or resume) a training run into ``opts.out``; returns the path of ``last.pt``."""
    from cplus_edu.train import torch_threads

    with torch_threads(opts.threads):
        return _train(opts)


def _train(opts: TrainOptions) -> Path:
    import torch.distributed as dist
    from torch.utils.data import DataLoader

    cfg = opts.config
    d = setup_distributed(opts.device)
    if cfg.global_batch % d.world_size:
        raise ValueError(f"the global batch {cfg.global_batch} does not split over "
                         f"{d.world_size} processes")  # fmt: skip
    batch = cfg.global_batch // d.world_size
    out = Path(opts.out)
    ckpt_path, log_path = out / "last.pt", out / "log.jsonl"
    resuming = opts.resume and ckpt_path.exists()
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temporaries(out):
            print(f"removed {stale}, left by a save that was killed", file=sys.stderr)
        if ckpt_path.exists() and not opts.resume:
            raise FileExistsError(f"{ckpt_path} exists: pass --resume to continue that run, or "
                                  "choose another --out")  # fmt: skip
    state = load_checkpoint(ckpt_path, map_location=d.device) if resuming else None
    weights = opts.backbone_weights
    if resuming:
        check_resumable(state, cfg, opts.loss, opts.centers, ckpt_path)
        weights = state["args"].get("backbone_weights", weights)
    if weights is None and not resuming:
        if cfg.backbone_weights_required:
            raise ValueError(
                f"--backbone-weights: {cfg.name} starts from ImageNet weights "
                f"(mmseg's open-mmlab://{cfg.backbone}); from random weights the run cannot "
                "come near the paper's 75.93 mIoU. Pass --backbone-weights open-mmlab "
                "(downloads them), --backbone-weights FILE, or --backbone-weights none to train "
                "from scratch anyway"
            )
        weights = "none"
    train_samples = list_samples(cfg.train_split, opts.data_root)
    val_samples = list_samples(cfg.val_split, opts.data_root)

    seed_everything(opts.seed)  # the same initial model and centres on every rank
    model = build_model(cfg)
    if d.main and not resuming:  # a resumed run takes its weights from the checkpoint
        # rank 0 only (one download): DDP gives every rank rank 0's weights when it wraps the model
        loaded = load_backbone_weights(model.backbone, weights, cfg.backbone)
        if weights != "none":
            print(loaded, flush=True)
    criterion = SegmentationCriterion(cfg, opts.loss, opts.centers, classifier=model.classifier)
    sync_bn = d.world_size > 1 and d.device.type != "cpu"
    if sync_bn:  # SyncBatchNorm needs a GPU-like device
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(d.device)
    criterion.to(d.device)
    loss_params = [p for p in criterion.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(list(model.parameters()) + loss_params, lr=cfg.lr,
                                momentum=cfg.momentum, weight_decay=cfg.weight_decay)  # fmt: skip
    scaler = torch.amp.GradScaler("cuda") if opts.amp and d.device.type == "cuda" else None
    start = 0
    seed_everything(opts.seed + 1000 * d.rank + 1)  # dropout differs between ranks
    if resuming:
        model.load_state_dict(state["model"])
        criterion.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if state.get("world_size") == d.world_size:
            set_rng_state(state["rng"][d.rank])
        start = int(state["iteration"])
        if d.main:
            _truncate_log(log_path, start)
    if d.world_size > 1:
        criterion.set_all_reduce(dist.all_reduce)
        for t in criterion.state_dict().values():  # identical centres on every rank
            dist.broadcast(t, 0)
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[d.device] if d.device.type == "cuda" else None
        )
    if d.main:
        (out / "config.json").write_text(json.dumps(
            {"config": cfg.to_dict(), "loss": opts.loss, "centers": opts.centers,
             "world_size": d.world_size, "amp": opts.amp, "seed": opts.seed,
             "backbone_weights": weights},
            indent=1))  # fmt: skip

    sampler = IterationSampler(
        len(train_samples), batch, seed=opts.seed, start=start, stop=cfg.iterations,
        rank=d.rank, world_size=d.world_size,
    )  # fmt: skip
    loader = DataLoader(
        VOCTrainSet(train_samples, cfg), batch_sampler=sampler, num_workers=cfg.num_workers,
        pin_memory=d.device.type == "cuda", generator=torch.Generator(),  # leaves global RNG be
    )  # fmt: skip
    val_set = VOCEvalSet(val_samples, cfg)
    show = d.main and ((not progress_disabled()) if opts.progress is None else opts.progress)
    bar = progress_bar(total=cfg.iterations, initial=start, desc=f"train {opts.loss}", show=show)
    amp_dtype = _amp_dtype(d.device.type)
    tick, images = time.perf_counter(), 0

    for iteration, (x, y) in enumerate(loader, start=start):
        lr = poly_lr(iteration, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        criterion.train()
        x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
        with torch.autocast(d.device.type, dtype=amp_dtype, enabled=opts.amp):
            output = model(x)
        loss = criterion(output, y)
        optimizer.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if d.world_size > 1:  # learnable centres: averaged like DDP averages the model's grads
            for p in loss_params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad)
                p.grad /= d.world_size
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        done = iteration + 1
        images += cfg.global_batch
        bar.update(1)

        if d.main and (done % cfg.log_every == 0 or done == cfg.iterations):
            now = time.perf_counter()
            record = {"kind": "train", "iteration": done, "lr": lr,
                      "images_per_s": images / max(now - tick, 1e-9)}  # fmt: skip
            record.update({k: float(v) for k, v in criterion.terms.items()})
            _log(log_path, record)
            bar.set_postfix(loss=f"{record['total']:.3f}", lr=f"{lr:.2e}")
            tick, images = now, 0
        if done % cfg.eval_every == 0:
            metrics = evaluate(unwrap(model), val_set, num_classes=cfg.num_classes,
                               device=d.device, rank=d.rank, world_size=d.world_size,
                               amp=opts.amp, limit=cfg.eval_images)  # fmt: skip
            if d.main:
                _log(log_path, {"kind": "eval", "iteration": done, **metrics})
        if done % cfg.checkpoint_every == 0 or done == cfg.iterations:
            rngs, differences = [rng_state()], None
            if d.world_size > 1:
                rngs = [None] * d.world_size
                dist.all_gather_object(rngs, rng_state())
                differences = rank_differences(model, criterion)
            if d.main:
                save_checkpoint({
                    "iteration": done, "model": unwrap(model).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": {"kind": "poly", "lr": cfg.lr, "min_lr": cfg.min_lr,
                                 "power": cfg.power, "iterations": cfg.iterations},
                    "loss": criterion.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "rng": rngs, "world_size": d.world_size, "config": cfg.to_dict(),
                    "rank_differences": differences,
                    "args": {"loss": opts.loss, "centers": opts.centers, "seed": opts.seed,
                             "amp": opts.amp, "backbone_weights": weights},
                }, ckpt_path)  # fmt: skip
            if d.world_size > 1:
                dist.barrier()
    bar.close()
    return ckpt_path
