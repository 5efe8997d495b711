"""The command line: ``python -m cplus_edu.voc train|eval ...`` (or ``torchrun ... -m``).

Examples::

    # the paper's CE baseline and C+1 on 8 GPUs (global batch 16 = 8 x 2), from mmcv's ImageNet
    # ResNetV1c-50 (open-mmlab://resnet50_v1c, downloaded once through torch.hub)
    torchrun --nproc_per_node 8 -m cplus_edu.voc train --data-root $CPLUS_EDU_DATA \\
        --out runs/ce --config paper-voc-20k --loss ce --amp --backbone-weights open-mmlab
    torchrun --nproc_per_node 8 -m cplus_edu.voc train --data-root $CPLUS_EDU_DATA \\
        --out runs/cplus1 --config paper-voc-20k --loss cplus1 --centers moving_average --amp \\
        --backbone-weights open-mmlab
    python -m cplus_edu.voc eval --data-root $CPLUS_EDU_DATA --checkpoint runs/cplus1/last.pt \\
        --out runs/cplus1/metrics.json

    # the same code on a CPU, in seconds
    python -m cplus_edu.voc train --data-root DIR --out runs/smoke --config cpu-smoke --loss cplus1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cplus_edu.voc.config import CONFIGS, get_config
from cplus_edu.voc.criterion import CENTERS, LOSSES


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse names the flag in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (>= 1), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cplus_edu.voc",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or --resume) a run into --out")
    t.add_argument(
        "--data-root",
        default=None,
        help="folder holding VOCdevkit/ (and SBD/); default $CPLUS_EDU_DATA",
    )
    t.add_argument("--out", required=True, help="run directory (last.pt, log.jsonl, config.json)")
    t.add_argument("--config", default="paper-voc-20k", choices=sorted(CONFIGS))
    t.add_argument("--loss", default="ce", choices=LOSSES)
    t.add_argument("--centers", default="moving_average", choices=CENTERS)
    t.add_argument("--alpha", type=float, default=None, help="C+1 weight of L_compact (0.1)")
    t.add_argument("--beta", type=float, default=None, help="C+1 weight of L_background (1e-4)")
    t.add_argument("--margin", type=float, default=None, help="C+1 background margin m_b (1.0)")
    t.add_argument("--ws", type=float, default=None, help="fused loss: softmax weight W_s (0.5)")
    t.add_argument("--wp", type=float, default=None, help="fused: positive-sharing W_p (0.5)")
    t.add_argument("--iters", type=positive_int, default=None,
                   help="iterations (default: the config's)")  # fmt: skip
    t.add_argument("--batch", type=positive_int, default=None,
                   help="global batch (default: the config's)")  # fmt: skip
    t.add_argument("--checkpoint-every", type=positive_int, default=None)
    t.add_argument("--eval-every", type=positive_int, default=None)
    t.add_argument(
        "--eval-images",
        type=positive_int,
        default=None,
        help="evaluate on the first N val images only (periodic evaluation)",
    )
    t.add_argument("--train-split", default=None, choices=("train", "trainaug"))
    t.add_argument("--workers", type=int, default=None, help="data loader workers per process")
    t.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    t.add_argument("--amp", action="store_true", help="mixed precision (loss stays float32)")
    t.add_argument(
        "--backbone-weights",
        default=None,
        metavar="open-mmlab|PATH|none",
        help="ImageNet weights for the ResNetV1c backbone: mmcv's checkpoint through torch.hub "
        "(open-mmlab), a local file (mmcv or timm names), or none; paper-voc-20k requires it",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    t.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads per process")  # fmt: skip
    e = sub.add_parser("eval", help="evaluate a checkpoint on the val split")
    e.add_argument("--data-root", default=None)
    e.add_argument("--checkpoint", required=True, help="RUN_DIR/last.pt")
    e.add_argument("--out", required=True, help="metrics.json to write")
    e.add_argument("--split", default="val", choices=("train", "val"))
    e.add_argument("--device", default=None)
    e.add_argument("--amp", action="store_true")
    e.add_argument("--threads", type=positive_int, default=None)
    e.add_argument("--quiet", action="store_true", help="do not print the per-class table")
    return parser


def run_train(args) -> Path:
    from cplus_edu.voc.engine import TrainOptions, train

    cfg = get_config(args.config).replace(
        iterations=args.iters, global_batch=args.batch, checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every, eval_images=args.eval_images, train_split=args.train_split,
        num_workers=args.workers, alpha=args.alpha, beta=args.beta, margin=args.margin,
        fused_ws=args.ws, fused_wp=args.wp,
    )  # fmt: skip
    opts = TrainOptions(data_root=args.data_root, out=args.out, config=cfg, loss=args.loss,
                        centers=args.centers, resume=args.resume, amp=args.amp,
                        backbone_weights=args.backbone_weights, seed=args.seed, device=args.device,
                        threads=args.threads)  # fmt: skip
    return train(opts)


def run_eval(args) -> dict:
    from cplus_edu.train import torch_threads

    with torch_threads(args.threads):
        return _run_eval(args)


def _run_eval(args) -> dict:
    import torch

    from cplus_edu.voc.checkpoints import load_checkpoint
    from cplus_edu.voc.config import VOCConfig
    from cplus_edu.voc.data import VOCEvalSet, list_samples
    from cplus_edu.voc.evaluate import evaluate, format_table
    from cplus_edu.voc.model import build_model

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    state = load_checkpoint(args.checkpoint)
    cfg = VOCConfig.from_dict(state["config"])
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    model.to(device)
    dataset = VOCEvalSet(list_samples(args.split, args.data_root), cfg)
    metrics = evaluate(model, dataset, num_classes=cfg.num_classes, device=device, amp=args.amp,
                       progress=True)  # fmt: skip
    metrics.update({"checkpoint": str(args.checkpoint), "iteration": state["iteration"],
                    "split": args.split, **state.get("args", {})})  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=1))
    if not args.quiet:
        print(format_table(metrics))
    return metrics


def run_cli(argv) -> int:
    """``run_cli(["train", "--data-root", ...])`` is ``python -m cplus_edu.voc train ...``."""
    return main(list(argv))


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``), as ``python -m`` does."""
    args = build_parser().parse_args(argv)
    if args.command == "train":
        run_train(args)
    else:
        run_eval(args)
    return 0
