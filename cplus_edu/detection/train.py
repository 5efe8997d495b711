"""Training and inference for the tiny detector: assignment + DC loss per batch, raw detections,
NMS variants on stored predictions.

``cplus_edu.train.fit`` takes one target tensor per sample; detection has a variable number of
boxes per image, so this is a separate small loop in the same style (``seed_everything``, tqdm
bar quiet under CI, loss terms in a ``History``, checkpoint / resume after every epoch).

``DetectionCriterion`` is the per-batch glue of the poster's training side: for every image it
labels the anchors (eq. 5; RetinaNet's IoU rule, or with ``iac=True`` the IAC score of eq. (4)
using the model's own detached class probabilities), then applies ``DCLoss`` (eq. 3; with
``dynamic=False`` RetinaNet's focal + box loss) to all anchors of the batch.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from cplus_edu.detection.assignment import assign_anchors, class_prob_per_gt
from cplus_edu.detection.boxes import BoxCoder
from cplus_edu.detection.dc_loss import DCLoss
from cplus_edu.detection.nms import cl_balanced_nms
from cplus_edu.train import History, torch_threads
from cplus_edu.utils import progress_bar, seed_everything

__all__ = ["DetectionCriterion", "train_detector", "detect_raw", "apply_nms"]


class DetectionCriterion(nn.Module):
    """``criterion(output, boxes, labels, anchors)``: anchor assignment per image + ``DCLoss``.

    ``output`` is the detector's ``DetectorOutput``, ``boxes`` / ``labels`` lists of the images'
    ground truth. ``terms`` holds the loss parts and ``positives`` (mean positives per image) and
    ``by_score`` (mean anchors per image made positive only by the IAC score).
    """

    def __init__(
        self,
        iac: bool = False,
        dynamic: bool = False,
        alpha: float = 0.5,
        score_threshold: float = 0.7,
        fg_threshold: float = 0.5,
        bg_threshold: float = 0.4,
        box_loss: str = "giou",
        allow_low_quality_matches: bool = True,
    ):
        super().__init__()
        self.iac, self.alpha, self.score_threshold = bool(iac), alpha, score_threshold
        self.fg_threshold, self.bg_threshold = fg_threshold, bg_threshold
        self.allow_low_quality_matches = bool(allow_low_quality_matches)
        self.loss = DCLoss(dynamic=dynamic, box_loss=box_loss)
        self.terms: dict[str, float] = {}

    def forward(self, output, boxes: list[Tensor], labels: list[Tensor], anchors: Tensor):
        cls_logits, box_deltas = output
        batch = len(cls_logits)
        if len(boxes) != batch or len(labels) != batch:
            raise ValueError(f"{batch} images but {len(boxes)} boxes and {len(labels)} labels")
        probs = torch.sigmoid(cls_logits.detach())  # [B, A, K]
        all_labels, all_classes, all_boxes = [], [], []
        positives = by_score = 0
        for i in range(batch):  # a loop over images (ground truths differ in number)
            cls_prob = class_prob_per_gt(probs[i], labels[i]) if self.iac else None
            a = assign_anchors(
                anchors, boxes[i], labels[i], cls_prob, alpha=self.alpha,
                fg_threshold=self.fg_threshold, bg_threshold=self.bg_threshold,
                score_threshold=self.score_threshold,
                allow_low_quality_matches=self.allow_low_quality_matches,
            )  # fmt: skip
            matched = a.matched.clamp(min=0)
            all_labels.append(a.labels)
            if len(boxes[i]):
                all_classes.append(labels[i][matched])
                all_boxes.append(boxes[i][matched])
            else:
                all_classes.append(torch.zeros_like(a.labels))
                all_boxes.append(anchors.clone())
            positives += a.num_positive
            by_score += int(a.by_score.sum())
        loss = self.loss(
            cls_logits.reshape(-1, cls_logits.shape[-1]),
            box_deltas.reshape(-1, 4),
            anchors.repeat(batch, 1),
            torch.cat(all_labels),
            torch.cat(all_classes),
            torch.cat(all_boxes),
        )
        self.terms = {
            **self.loss.terms,
            "positives": positives / batch,
            "by_score": by_score / batch,
        }
        return loss


def train_detector(
    model: nn.Module,
    scenes,
    criterion: DetectionCriterion,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    threads: int | None = 1,
) -> History:
    """Train ``model`` (a ``TinyDetector``) on ``scenes`` (``DetectionScenes``) with Adam, a
    short warm-up and a cosine learning-rate schedule; returns the ``History`` of epoch means
    (loss and terms). With ``checkpoint`` set, everything is saved after every epoch and a later
    call with the same path and arguments resumes after the last saved epoch."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    with torch_threads(threads):
        generator = seed_everything(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-len(scenes) // batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps))
        history, start = History(), 0
        if checkpoint is not None and Path(checkpoint).exists():
            state = torch.load(checkpoint, weights_only=False)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            history, start = state["history"], state["epoch"]
            generator.set_state(state["generator"])
        bar = progress_bar(range(start, epochs), show=progress, desc="training", initial=start,
                           total=epochs)  # fmt: skip
        for epoch in bar:
            model.train()
            order = torch.randperm(len(scenes), generator=generator)
            total, count, sums = 0.0, 0, {}
            for s in range(0, len(scenes), batch_size):
                idx = order[s : s + batch_size].tolist()
                _, out = model(scenes.images[idx])
                loss = criterion(
                    out, [scenes.boxes[i] for i in idx], [scenes.labels[i] for i in idx],
                    model.anchors,
                )  # fmt: skip
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
                count += len(idx)
                for name, value in criterion.terms.items():
                    sums[name] = sums.get(name, 0.0) + value * len(idx)
            history.loss.append(total / count)
            for name, value in sums.items():
                history.terms.setdefault(name, []).append(value / count)
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
            if checkpoint is not None:
                _save(checkpoint, model, opt, sched, history, generator, epoch + 1)
        model.eval()
    return history


def warmup_cosine(total_steps: int, warmup: float = 0.1, floor: float = 0.02):
    """Learning-rate factor per step: linear warm-up over the first ``warmup`` share of the
    steps, then a cosine down to ``floor``."""
    import math

    ramp = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        t = min(1.0, (step - ramp) / max(1, total_steps - ramp))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def _save(path, model, opt, sched, history, generator, epoch) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "history": history,
             "generator": generator.get_state(), "epoch": epoch}  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


@torch.no_grad()
def detect_raw(
    model: nn.Module,
    images: Tensor,
    score_threshold: float = 0.05,
    topk: int = 300,
    batch_size: int = 128,
    threads: int | None = 1,
) -> list[dict[str, Tensor]]:
    """Detections *before* NMS, one dict per image (``boxes``, ``scores``, ``labels``,
    ``anchor``): every (anchor, class) with sigmoid score above ``score_threshold``, the
    ``topk`` best, as RetinaNet's post-processing does before its NMS. Store these once and try
    NMS variants on them without running the model again."""
    with torch_threads(threads):
        return _detect_raw(model, images, score_threshold, topk, batch_size)


def _detect_raw(model, images, score_threshold, topk, batch_size):
    model.eval()
    coder = BoxCoder()
    results = []
    for s in range(0, len(images), batch_size):
        _, (cls_logits, box_deltas) = model(images[s : s + batch_size])
        k = cls_logits.shape[-1]
        boxes = coder.decode(box_deltas, model.anchors.expand_as(box_deltas))  # [B, A, 4]
        boxes = boxes.clamp(0, model.image_size)
        for scores, bx in zip(torch.sigmoid(cls_logits), boxes):
            flat = scores.reshape(-1)
            keep = torch.nonzero(flat > score_threshold).squeeze(1)
            keep = keep[flat[keep].topk(min(topk, len(keep))).indices]
            anchor, label = keep // k, keep % k
            b = bx[anchor]
            ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
            results.append({"boxes": b[ok], "scores": flat[keep][ok], "labels": label[ok],
                            "anchor": anchor[ok]})  # fmt: skip
    return results


def apply_nms(
    raw: list[dict[str, Tensor]],
    gamma: float = 0.0,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
    threads: int | None = 1,
) -> list[dict[str, Tensor]]:
    """Final detections from :func:`detect_raw` output: ``cl_balanced_nms`` per image
    (``gamma = 0``: plain greedy NMS, identical to ``torchvision.ops.batched_nms``), at most
    ``max_detections`` per image."""
    out = []
    with torch_threads(threads):  # many small tensors: one thread is fastest
        for r in raw:
            keep = cl_balanced_nms(r["boxes"], r["scores"], r["labels"], iou_threshold, gamma)
            keep = keep[:max_detections]
            out.append({"boxes": r["boxes"][keep], "scores": r["scores"][keep],
                        "labels": r["labels"][keep]})  # fmt: skip
    return out
