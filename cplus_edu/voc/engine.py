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

Checkpoints (``RUN_DIR/last.pt``, written to a temporary file and renamed, so a kill never leaves
a broken one) hold ``iteration``, ``model``, ``optimizer``, ``schedule``, ``loss`` (the centres),
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
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cplus_edu.utils import progress_disabled, seed_everything
from cplus_edu.voc.config import VOCConfig
from cplus_edu.voc.data import IterationSampler, VOCEvalSet, VOCTrainSet, list_samples
from cplus_edu.voc.evaluate import _amp_dtype, evaluate
from cplus_edu.voc.model import build_model

LOSSES = ("ce", "cplus1", "fused")
CENTERS = ("moving_average", "learnable", "shared")


# --- the loss ------------------------------------------------------------------------------------


def mean_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int):
    """CE averaged over non-void pixels; 0 (not NaN) when every pixel is void."""
    n_valid = (target != ignore_index).sum().clamp_min(1)
    return F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="sum") / n_valid


def _fused_loss_class():
    try:
        from cplus_edu.losses import FusedLoss
    except (ImportError, AttributeError) as e:
        raise RuntimeError(
            "--loss fused needs cplus_edu.losses.FusedLoss (the fused softmax + positive-sharing "
            "loss of seed 002, chapter 06), which this copy of cplus_edu does not have yet; use "
            "--loss ce or --loss cplus1"
        ) from e
    return FusedLoss


class SegmentationCriterion(nn.Module):
    """Main loss on the logits upsampled to the label size + ``aux_weight`` x CE on the aux head.

    ``loss``: ``"ce"`` (the paper's L_separability baseline), ``"cplus1"`` (``CPlusOneLoss`` on
    the decoder features, centres ``centers``) or ``"fused"`` (``FusedLoss``, seed 002). After a
    call ``terms`` holds every part as a detached float32 scalar.
    """

    def __init__(self, cfg: VOCConfig, loss: str = "ce", centers: str = "moving_average",
                 classifier: nn.Module | None = None):  # fmt: skip
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if centers not in CENTERS:
            raise ValueError(f"centers must be one of {CENTERS}, got {centers!r}")
        self.kind, self.cfg = loss, cfg
        self.ignore_index, self.aux_weight = cfg.ignore_index, cfg.aux_weight
        if loss == "cplus1":
            from cplus_edu.losses import CPlusOneLoss

            self.cplus = CPlusOneLoss(
                cfg.num_classes, cfg.decoder_channels, background_index=0, alpha=cfg.alpha,
                beta=cfg.beta, margin=cfg.margin, centers=centers, momentum=cfg.center_momentum,
                ignore_index=cfg.ignore_index, classifier=classifier,
            )  # fmt: skip
        elif loss == "fused":
            self.fused = _fused_loss_class()(cfg.fused_ws, cfg.fused_wp, background_index=0,
                                             ignore_index=cfg.ignore_index)  # fmt: skip
        self.terms: dict[str, torch.Tensor] = {}

    @property
    def centers(self) -> torch.Tensor | None:
        return self.cplus.centers if self.kind == "cplus1" else None

    def set_all_reduce(self, all_reduce) -> None:
        """Sum the moving average's per-class statistics over the processes (DDP)."""
        rep = getattr(getattr(self, "cplus", None), "center_representation", None)
        if rep is not None and hasattr(rep, "all_reduce"):
            rep.all_reduce = all_reduce

    def forward(self, out, target: torch.Tensor) -> torch.Tensor:
        size = target.shape[1:]
        with torch.autocast(target.device.type, enabled=False):  # the loss in float32
            logits = F.interpolate(out.logits.float(), size=size, mode="bilinear",
                                   align_corners=False)  # fmt: skip
            if self.kind == "ce":
                main = mean_cross_entropy(logits, target, self.ignore_index)
                terms = {"ce": main.detach()}
            elif self.kind == "cplus1":
                main = self.cplus(out.features.float(), logits, target)
                terms = dict(self.cplus.terms)
            else:
                main = self.fused(logits, target)
                terms = dict(getattr(self.fused, "terms", {}) or {"fused": main.detach()})
            terms["main"] = main.detach()
            loss = main
            if out.aux_logits is not None and self.aux_weight > 0:
                aux_logits = F.interpolate(out.aux_logits.float(), size=size, mode="bilinear",
                                           align_corners=False)  # fmt: skip
                aux = mean_cross_entropy(aux_logits, target, self.ignore_index)
                terms["aux_ce"] = aux.detach()
                loss = loss + self.aux_weight * aux
        terms["total"] = loss.detach()
        self.terms = terms
        return loss


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


# --- checkpoints ------------------------------------------------------------


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


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, flushed, then renamed over
    ``path``: a reader (or a resumed run) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location=map_location, weights_only=False)


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
    pretrained: bool = False
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
    from tqdm.auto import tqdm

    cfg = opts.config
    d = setup_distributed(opts.device)
    if cfg.global_batch % d.world_size:
        raise ValueError(f"the global batch {cfg.global_batch} does not split over "
                         f"{d.world_size} processes")  # fmt: skip
    batch = cfg.global_batch // d.world_size
    out = Path(opts.out)
    ckpt_path, log_path = out / "last.pt", out / "log.jsonl"
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        if ckpt_path.exists() and not opts.resume:
            raise FileExistsError(f"{ckpt_path} exists: pass --resume to continue that run, or "
                                  "choose another --out")  # fmt: skip
    train_samples = list_samples(cfg.train_split, opts.data_root)
    val_samples = list_samples(cfg.val_split, opts.data_root)

    seed_everything(opts.seed)  # the same initial model and centres on every rank
    model = build_model(cfg, pretrained=opts.pretrained)
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
    if opts.resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=d.device)
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
             "world_size": d.world_size, "amp": opts.amp, "seed": opts.seed},
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
    bar = tqdm(total=cfg.iterations, initial=start, desc=f"train {opts.loss}", disable=not show)
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
                atomic_save({
                    "iteration": done, "model": unwrap(model).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": {"kind": "poly", "lr": cfg.lr, "min_lr": cfg.min_lr,
                                 "power": cfg.power, "iterations": cfg.iterations},
                    "loss": criterion.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "rng": rngs, "world_size": d.world_size, "config": cfg.to_dict(),
                    "rank_differences": differences,
                    "args": {"loss": opts.loss, "centers": opts.centers, "seed": opts.seed,
                             "amp": opts.amp},
                }, ckpt_path)  # fmt: skip
            if d.world_size > 1:
                dist.barrier()
    bar.close()
    return ckpt_path
