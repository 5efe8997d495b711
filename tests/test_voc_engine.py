"""cplus_edu.voc end to end on the CPU: train -> eval per loss, kill -9 + resume, 2-process DDP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cplus_edu.losses import MovingAverageCenters
from cplus_edu.voc import get_config, list_samples, read_run, write_voc_tree
from cplus_edu.voc.checkpoints import CorruptCheckpointError, load_checkpoint
from cplus_edu.voc.cli import main
from cplus_edu.voc.data import read_sample
from cplus_edu.voc.engine import poly_lr

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "CPLUS_EDU_QUIET": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_voc_tree(tmp_path_factory.mktemp("voc"), n_train=6, n_val=2)


def _train_args(tree, out, *extra):
    return ["train", "--data-root", str(tree), "--out", str(out), "--config", "cpu-smoke",
            "--iters", "2", "--threads", "1", *extra]  # fmt: skip


def _fused_available() -> bool:
    import cplus_edu.losses

    return "FusedLoss" in cplus_edu.losses._EXPORTS


@pytest.mark.parametrize(
    "loss, centers",
    [("ce", "moving_average"), ("cplus1", "moving_average"), ("cplus1", "learnable"),
     ("cplus1", "shared"), ("fused", "moving_average")],
)  # fmt: skip
def test_train_then_eval(tree, tmp_path, capsys, loss, centers):
    args = _train_args(
        tree, tmp_path / "run", "--loss", loss, "--centers", centers, "--eval-every", "2"
    )
    if loss == "fused" and not _fused_available():
        with pytest.raises(RuntimeError, match="FusedLoss"):
            main(args)
        return
    main(args)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["iteration"] == 2 and set(state["model"]) and state["world_size"] == 1
    assert {"optimizer", "schedule", "loss", "rng", "scaler"} <= set(state)
    run = read_run(tmp_path / "run")
    terms = {"ce"} if loss == "ce" else {"separability", "compact", "background"}
    if loss == "fused":
        terms = {"softmax", "positive_sharing"}  # FusedLoss.terms (Liu & Lew)
    assert terms | {"aux_ce", "total", "lr", "images_per_s"} <= set(run.train[-1])
    assert [r["iteration"] for r in run.train] == [1, 2] and run.evals[-1]["iteration"] == 2
    if loss == "cplus1" and centers != "shared":
        assert state["loss"]  # the centres are in the checkpoint
    main(["eval", "--data-root", str(tree), "--checkpoint", str(tmp_path / "run" / "last.pt"),
          "--out", str(tmp_path / "run" / "metrics.json"), "--threads", "1"])  # fmt: skip
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"mIoU", "mAcc", "aAcc"} <= set(metrics) and len(metrics["per_class_iou"]) == 21
    assert 0 <= metrics["aAcc"] <= 100
    assert "tvmonitor" in capsys.readouterr().out  # the per-class table was printed
    # the periodic evaluation at the last iteration saw the same model
    assert metrics["mIoU"] == pytest.approx(run.evals[-1]["mIoU"])


def test_refuses_to_overwrite_and_amp_runs(tree, tmp_path):
    main(_train_args(tree, tmp_path / "run", "--iters", "1", "--amp", "--loss", "cplus1"))
    with pytest.raises(FileExistsError, match="--resume"):
        main(_train_args(tree, tmp_path / "run", "--iters", "1"))


def test_poly_schedule_is_mmsegs():
    cfg = get_config("paper-voc-20k")
    assert poly_lr(0, cfg) == pytest.approx(0.01)
    assert poly_lr(cfg.iterations, cfg) == pytest.approx(1e-4)
    assert poly_lr(10_000, cfg) == pytest.approx((0.01 - 1e-4) * 0.5**0.9 + 1e-4)


def test_moving_average_all_reduce_hook_uses_the_summed_statistics():
    torch.manual_seed(0)
    local = MovingAverageCenters(3, 4)
    synced = MovingAverageCenters(3, 4, all_reduce=lambda t: t.mul_(2))  # two identical ranks
    synced.load_state_dict(local.state_dict())
    sums, counts = torch.randn(3, 4), torch.tensor([2.0, 0.0, 5.0])
    local.update(sums, counts)
    synced.update(sums.clone(), counts.clone())
    assert torch.allclose(local.running_centers, synced.running_centers)  # same means
    other = MovingAverageCenters(3, 4, all_reduce=lambda t: t.add_(torch.ones_like(t)))
    other.load_state_dict(local.state_dict())
    before = other.running_centers.clone()
    other.update(torch.zeros(3, 4), torch.zeros(3))  # class 1 gets a count from "another rank"
    assert not torch.equal(before[1], other.running_centers[1])


def _run(args, **kw):
    return subprocess.run([sys.executable, "-m", "cplus_edu.voc", *args], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, **kw)  # fmt: skip


def test_sigkill_and_resume_gives_the_uninterrupted_weights(tree, tmp_path):
    args = ["--loss", "cplus1", "--iters", "5", "--checkpoint-every", "1", "--eval-every", "100"]
    main(_train_args(tree, tmp_path / "ref", *args))  # uninterrupted, in this process
    killed = subprocess.Popen([sys.executable, "-m", "cplus_edu.voc",
                               *_train_args(tree, tmp_path / "run", *args)], env=ENV, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    ckpt, log = tmp_path / "run" / "last.pt", tmp_path / "run" / "log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 2:  # iteration 2 logged
            break
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)  # somewhere in iteration 2 or 3, maybe mid-checkpoint
    assert killed.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    at_kill = load_checkpoint(ckpt)["iteration"]
    assert 1 <= at_kill < 5
    resumed = _run(_train_args(tree, tmp_path / "run", *args, "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load_checkpoint(tmp_path / "ref" / "last.pt"), load_checkpoint(ckpt)
    assert a["iteration"] == b["iteration"] == 5
    for part in ("model", "loss"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs after resume"
    # the log has each iteration once, as an uninterrupted run's
    assert [r["iteration"] for r in read_run(tmp_path / "run").train] == list(range(1, 6))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_ddp_keeps_the_centres_identical(tree, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "cplus_edu.voc", *_train_args(tree, out, "--loss", "cplus1", "--batch", "4",
                                               "--iters", "3", "--eval-every", "3")]  # fmt: skip
    result = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(out / "last.pt")
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert state["rank_differences"] == {"model_parameters": 0.0, "loss_state": 0.0}
    torch.manual_seed(0)  # the centres moved from their seeded start
    start = MovingAverageCenters(20, 64).running_centers
    assert not torch.allclose(state["loss"]["cplus.center_representation.running_centers"], start)
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    evals = read_run(out).evals  # the val split evaluated by both ranks, confusion summed
    assert len(evals) == 1 and evals[0]["pixels"] == sum(
        int((read_sample(s)[1] != 255).sum()) for s in list_samples("val", tree)
    )


def test_loss_runs_in_float32_under_autocast():
    from cplus_edu.voc import SegmentationCriterion, build_model

    cfg = get_config("cpu-smoke")
    model = build_model(cfg)
    criterion = SegmentationCriterion(cfg, "cplus1", classifier=model.classifier)
    y = torch.randint(0, 21, (2, 32, 32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 32, 32))
        assert out.logits.dtype == torch.bfloat16
        loss = criterion(out, y)
    assert loss.dtype == torch.float32
    assert all(t.dtype == torch.float32 for t in criterion.terms.values())
    loss.backward()


# --- what the command line refuses ----------------------------------------------------------------


@pytest.mark.parametrize("flag, value", [("--iters", "0"), ("--iters", "-3"),
                                         ("--checkpoint-every", "0"), ("--eval-every", "0"),
                                         ("--batch", "0"), ("--eval-images", "0")])  # fmt: skip
def test_cli_refuses_non_positive_counts(tree, tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(_train_args(tree, tmp_path / "run", flag, value))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be a positive integer" in err and value in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_config_refuses_non_positive_counts_too():
    with pytest.raises(ValueError, match="iterations must be a positive integer, got 0"):
        get_config("cpu-smoke").replace(iterations=0)
    with pytest.raises(ValueError, match="eval_images must be None or a positive integer"):
        get_config("cpu-smoke").replace(eval_images=0)


def test_paper_config_refuses_random_weights_unless_told(tree, tmp_path):
    with pytest.raises(ValueError, match=r"75\.93 mIoU.*--backbone-weights none"):
        main(["train", "--data-root", str(tree), "--out", str(tmp_path / "p"), "--config",
              "paper-voc-20k", "--threads", "1"])  # fmt: skip


def test_a_local_backbone_file_is_loaded_into_a_run(tree, tmp_path, capsys):
    from cplus_edu.voc import build_model
    from cplus_edu.voc.weights import MMCV_STEM

    torch.manual_seed(5)
    backbone = build_model(get_config("cpu-smoke")).backbone.state_dict()
    mmcv = {v: k for k, v in MMCV_STEM.items()}  # our stem names back to mmcv's

    def mmcv_name(key):
        return next((mmcv[p] + key[len(p) :] for p in mmcv if key.startswith(p)), key)

    torch.save({"state_dict": {mmcv_name(k): v for k, v in backbone.items()}},
               tmp_path / "r18.pth")  # fmt: skip
    main(_train_args(tree, tmp_path / "run", "--iters", "1", "--backbone-weights",
                     str(tmp_path / "r18.pth")))  # fmt: skip
    assert f"ImageNet tensors from {tmp_path / 'r18.pth'}" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["args"]["backbone_weights"] == str(tmp_path / "r18.pth")
    # after one SGD step the stem's first conv is still close to the file's, not to a fresh init
    first = state["model"]["backbone.stem.0.conv.weight"]
    assert (first - backbone["stem.0.conv.weight"]).abs().max() < 0.05


@pytest.fixture
def finished_run(tree, tmp_path):
    """A 2-iteration cplus1 run with a checkpoint after each: last.pt and previous.pt."""
    out = tmp_path / "run"
    main(_train_args(tree, out, "--loss", "cplus1", "--checkpoint-every", "1"))
    return out


@pytest.mark.parametrize("change, names", [
    (["--loss", "ce"], ["--loss cplus1 there", "--loss ce here"]),
    (["--loss", "cplus1", "--centers", "learnable"],
     ["--centers moving_average there", "--centers learnable here"]),
    (["--loss", "cplus1", "--config", "paper-voc-20k", "--backbone-weights", "none"],
     ["--config cpu-smoke there", "--config paper-voc-20k here"]),
])  # fmt: skip
def test_resume_refuses_another_loss_or_config(tree, finished_run, change, names):
    with pytest.raises(ValueError, match="belongs to another run") as info:
        main(_train_args(tree, finished_run, "--iters", "3", "--resume", *change))
    assert all(name in str(info.value) for name in names), str(info.value)


def test_resume_refuses_another_model(tree, finished_run):
    ckpt = finished_run / "last.pt"
    state = load_checkpoint(ckpt)
    state["config"]["backbone"] = "resnet18"  # what the torchvision-based runner saved
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match="model .*resnet18.* there, DeepLabV3\\+ resnet18_v1c"):
        main(_train_args(tree, finished_run, "--loss", "cplus1", "--iters", "3", "--resume"))


def test_a_corrupt_checkpoint_names_the_file_and_the_previous_one(tree, finished_run):
    ckpt, previous = finished_run / "last.pt", finished_run / "previous.pt"
    assert load_checkpoint(previous)["iteration"] == 1 and load_checkpoint(ckpt)["iteration"] == 2
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # cut short, as by a full disk
    eval_args = ["eval", "--data-root", str(tree), "--checkpoint", str(ckpt), "--out",
                 str(finished_run / "m.json"), "--threads", "1"]  # fmt: skip
    for args in (_train_args(tree, finished_run, "--loss", "cplus1", "--resume"), eval_args):
        with pytest.raises(CorruptCheckpointError) as info:
            main(args)
        assert str(ckpt) in str(info.value) and f"cp {previous} {ckpt}" in str(info.value)
    previous.unlink()
    with pytest.raises(CorruptCheckpointError, match="no previous checkpoint"):
        load_checkpoint(ckpt)


def test_stale_temporary_files_of_a_killed_save_are_removed(tree, finished_run, capsys):
    stale = [finished_run / ".last.pt.12345.tmp", finished_run / ".previous.pt.999.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    keep = finished_run / "notes.tmp"  # not ours: left alone
    keep.write_text("mine")
    main(_train_args(tree, finished_run, "--loss", "cplus1", "--iters", "3", "--resume"))
    assert not any(path.exists() for path in stale) and keep.exists()
    assert ".last.pt.12345.tmp" in capsys.readouterr().err
    assert load_checkpoint(finished_run / "last.pt")["iteration"] == 3
