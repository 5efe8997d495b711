"""The reference scale (cplus_edu/experiments/reference.py): the stored results in results/ are
well-formed, complete, made with today's reference parameters and meet their baselines'
credibility bars; one seed of every recipe still runs at teaching size through the same code
path (the CLI), and a second call resumes instead of retraining."""

import json
import math
import re
from pathlib import Path

import pytest

from cplus_edu.experiments.__main__ import main
from cplus_edu.experiments.reference import (
    CHAPTERS,
    check_results,
    describe_provenance,
    load_results,
    recipe,
    run_scale,
    scale_params,
)

ROOT = Path(__file__).resolve().parents[1]
STORED = sorted(p.stem for p in (ROOT / "results").glob("*.json"))


def _finite_numbers(value):
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_numbers(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_each_recipe_has_both_scales_and_unique_jobs(chapter):
    module = recipe(chapter)
    for scale in ("teaching", "reference"):
        jobs = module.jobs(scale_params(chapter, scale))
        keys = [job["key"] for job in jobs]
        assert jobs and len(set(keys)) == len(keys), (chapter, scale)
        assert all(re.fullmatch(r"[\w.=+-]+", k) for k in keys), keys
    seeds = {job["seed"] for job in module.jobs(scale_params(chapter, "reference"))}
    assert len(seeds) >= 5, f"{chapter}: the reference scale needs >= 5 paired seeds, has {seeds}"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_one_seed_of_each_recipe_runs_at_teaching_size(chapter, tmp_path):
    jobs = recipe(chapter).jobs(scale_params(chapter, "teaching"))
    seed = jobs[0]["seed"]
    out, work = tmp_path / "results.json", tmp_path / "work"
    args = ["run", chapter, "--scale", "teaching", "--seeds", str(seed), "--workers", "0",
            "--out", str(out), "--work", str(work)]  # fmt: skip
    assert main(args) == 0
    data = json.loads(out.read_text())
    check_results(data, chapter)
    assert [r["job"] for r in data["runs"]] == [j for j in jobs if j["seed"] == seed]
    for run in data["runs"]:
        assert run["metrics"] and _finite_numbers(run["metrics"]), run
    again = run_scale(chapter, "teaching", work=work, workers=0, seeds=[seed], progress=False)
    assert again["provenance"]["resumed_jobs"] == len(data["runs"])
    assert [r["metrics"] for r in again["runs"]] == [r["metrics"] for r in data["runs"]]


def test_unknown_chapter_scale_and_seed_are_refused():
    with pytest.raises(ValueError, match="chapter must be one of"):
        scale_params("99_nothing", "reference")
    with pytest.raises(ValueError, match="scale must be one of"):
        scale_params("09_cc_loss", "paper")
    with pytest.raises(ValueError, match="select no job"):
        run_scale("09_cc_loss", "teaching", seeds=[12345], workers=0, progress=False)
    with pytest.raises(SystemExit):
        main(["run", "09_cc_loss", "--workers", "-1"])


def test_results_are_stored_for_the_chapters_the_ledger_takes_them_from():
    ledger = (ROOT / "CLAIMS.md").read_text()
    for chapter in CHAPTERS:
        if re.search(rf"\| reference \| [^|]+ \| {chapter}\s*\|", ledger):
            assert chapter in STORED, f"CLAIMS.md takes {chapter}'s verdicts from missing results"


@pytest.mark.parametrize("chapter", STORED)
def test_stored_results_are_complete_and_credible(chapter):
    data = load_results(chapter, ROOT)  # checks the schema
    assert data["scale"] == "reference"
    params = scale_params(chapter, "reference")
    assert data["params"] == params, "made with other reference parameters: re-run, or restore"
    module = recipe(chapter)
    assert [r["job"] for r in data["runs"]] == module.jobs(params), "not every job is stored"
    assert re.fullmatch(r"[0-9a-f]{40}", data["provenance"]["git_commit"] or "")
    for run in data["runs"]:
        assert _finite_numbers(run["metrics"]), run["job"]
    for name, (measured, bar) in module.credibility(data).items():
        assert measured >= bar, f"{chapter}: {name} is {measured}, below its bar {bar}"


FAKE_RECIPE = '''
import os
from pathlib import Path

SCALES = {"teaching": {"n": 3}, "reference": {"n": 5}}


def jobs(params):
    return [{"key": f"run{s}", "seed": s} for s in range(params["n"])]


def run_job(params, job, checkpoint):
    fail = Path(os.environ["FAKE_FAIL_FLAG"])
    if job["seed"] == 1 and fail.exists():
        fail.unlink()
        raise RuntimeError("killed")
    return {"square": float(job["seed"] ** 2), "threads": os.environ.get("OMP_NUM_THREADS")}
'''


@pytest.mark.parametrize("workers", [0, 2])
def test_an_interrupted_run_resumes_after_its_last_finished_job(tmp_path, monkeypatch, workers):
    """A job that dies stops the run; the same call again reuses the finished jobs (in worker
    processes of one thread each, or in this process) and only runs what is missing."""
    from cplus_edu.experiments import reference

    (tmp_path / "fakepkg").mkdir()
    (tmp_path / "fakepkg" / "__init__.py").write_text("")
    (tmp_path / "fakepkg" / "recipe.py").write_text(FAKE_RECIPE)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    monkeypatch.setitem(reference.CHAPTERS, "99_fake", "fakepkg.recipe")
    flag = tmp_path / "fail-once"
    flag.touch()
    monkeypatch.setenv("FAKE_FAIL_FLAG", str(flag))
    work, out = tmp_path / "work", tmp_path / "out.json"
    with pytest.raises(RuntimeError, match="killed"):
        run_scale("99_fake", "teaching", work=work, workers=workers, progress=False)
    finished = sorted(p.name for p in work.glob("*.json"))
    assert "run1.json" not in finished and finished
    data = run_scale("99_fake", "teaching", work=work, out=out, workers=workers, progress=False)
    check_results(json.loads(out.read_text()), "99_fake")
    assert [r["metrics"]["square"] for r in data["runs"]] == [0.0, 1.0, 4.0]
    assert data["provenance"]["resumed_jobs"] == len(finished)
    assert f"reused {len(finished)} runs" in describe_provenance(data)
    if workers:
        assert {r["metrics"]["threads"] for r in data["runs"]} == {"1"}
    import fakepkg.recipe

    monkeypatch.setitem(fakepkg.recipe.SCALES, "teaching", {"n": 3, "epochs": 2})
    changed = run_scale("99_fake", "teaching", work=work, workers=workers, progress=False)
    assert changed["provenance"]["resumed_jobs"] == 0, "runs of other parameters were reused"
