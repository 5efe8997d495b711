"""``python -m cplus_edu.experiments run CHAPTER --scale reference --out results/CHAPTER.json``:
run a chapter's recipe at a scale and store its results with provenance (see ``reference.py``).
Interrupt it at any time; the same command resumes after the last finished run (and a run in
progress resumes after its last epoch)."""

from __future__ import annotations

import argparse
import sys

from .reference import CHAPTERS, SCALE_NAMES, describe_provenance, run_scale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cplus_edu.experiments", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one chapter's recipe at a scale")
    run.add_argument("chapter", choices=sorted(CHAPTERS))
    run.add_argument("--scale", choices=SCALE_NAMES, default="reference")
    run.add_argument("--out", help="write the results JSON here (e.g. results/CHAPTER.json)")
    run.add_argument("--work", help="folder of finished runs and checkpoints, for resuming "
                     "(default results/.work/CHAPTER/SCALE)")  # fmt: skip
    run.add_argument("--workers", type=int, default=2,
                     help="parallel processes of one thread each; 0 runs in this process")
    run.add_argument("--seeds", type=int, nargs="+", help="only these seeds (default: all)")
    commands.add_parser("list", help="the chapters that have a reference scale")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(sorted(CHAPTERS)))
        return 0
    if args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    result = run_scale(args.chapter, args.scale, out=args.out, work=args.work,
                       workers=args.workers, seeds=args.seeds)  # fmt: skip
    print(describe_provenance(result))
    if args.out:
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
