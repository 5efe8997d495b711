"""Two scales per chapter, one code path: ``teaching`` and ``reference``.

* **teaching**: what the notebook runs live, a minute or two on a CPU, tested by nbval. It
  illustrates; its baselines are weak.
* **reference**: the same recipe, run once at a scale where the baseline is credible for its
  data (e.g. MNIST >= 99 %), with enough paired seeds to decide, by::

      python -m cplus_edu.experiments run 09_cc_loss --scale reference --out results/09_cc_loss.json

  The results (per run, with provenance: git commit, command, CPU, torch, threads, wall and CPU
  time) are stored in ``results/`` and shown in the chapter beside the live run; the claims
  ledger's verdicts come from them.

A chapter's recipe module (``CHAPTERS`` maps the chapter to it) provides

* ``SCALES = {"teaching": {...}, "reference": {...}}``: JSON-able parameters of each scale;
* ``jobs(params) -> list[dict]``: one JSON-able dict per training run, with a ``"seed"`` and a
  unique ``"key"`` (a file name stem);
* ``run_job(params, job, checkpoint) -> dict``: trains one run (through ``fit(...,
  checkpoint=checkpoint)`` so a killed run resumes after its last epoch) and returns its
  JSON-able metrics.

The runner keeps one JSON file per finished job in ``--work`` (default ``results/.work/CHAPTER``)
and skips those on a second call, so an interrupted ``run`` resumes where it stopped; it runs the
jobs in ``--workers`` processes of one torch thread each.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

SCALE_NAMES = ("teaching", "reference")
SCHEMA = 1
CHAPTERS = {
    "02_open_set_mnist": "open_set",
    "05_low_fidelity_labels": "low_fidelity",
    "06_fused_loss": "fused",
    "07_detection": "detection",
    "08_margin_family": "margin_family",
    "09_cc_loss": "channel_corr",
}
RESULTS_DIR = "results"
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _module_name(chapter: str) -> str:
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {sorted(CHAPTERS)}, got {chapter!r}")
    name = CHAPTERS[chapter]
    return name if "." in name else f"{__package__}.{name}"


def recipe(chapter: str):
    """The recipe module of ``chapter`` (a key of ``CHAPTERS``)."""
    return importlib.import_module(_module_name(chapter))


def scale_params(chapter: str, scale: str) -> dict:
    """The parameters of ``chapter`` at ``scale`` ("teaching" or "reference"), a fresh copy."""
    if scale not in SCALE_NAMES:
        raise ValueError(f"scale must be one of {SCALE_NAMES}, got {scale!r}")
    return json.loads(json.dumps(recipe(chapter).SCALES[scale]))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(workers: int) -> dict:
    """Where and how a run was made (without its times, which :func:`run_scale` adds)."""
    import torch

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "workers": workers,
        "threads_per_worker": 1,
    }


def params_sha(params: dict) -> str:
    """A short hash of a scale's parameters (key order does not matter)."""
    import hashlib

    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)  # atomic: a kill never leaves half a file


def _run_one(module: str, params: dict, job: dict, work: str) -> dict:
    """One job in a worker process (one torch thread); its record is written to ``work``."""
    import torch

    torch.set_num_threads(1)
    work_dir = Path(work)
    wall, cpu = time.perf_counter(), time.process_time()
    metrics = importlib.import_module(module).run_job(params, job, work_dir / f"{job['key']}.pt")
    record = {"job": job, "metrics": metrics, "wall_seconds": time.perf_counter() - wall,
              "cpu_seconds": time.process_time() - cpu}  # fmt: skip
    # the work file also names the scale's parameters, so a changed scale redoes its runs
    _write_json(work_dir / f"{job['key']}.json", {**record, "params_sha": params_sha(params)})
    (work_dir / f"{job['key']}.pt").unlink(missing_ok=True)
    return record


def run_scale(chapter: str, scale: str = "reference", *, out: str | os.PathLike | None = None,
              work: str | os.PathLike | None = None, workers: int = 2, seeds=None,
              progress: bool = True) -> dict:  # fmt: skip
    """Run every job of ``chapter`` at ``scale`` (only ``seeds`` if given) and return, and
    write to ``out`` if given, ``{"schema", "chapter", "scale", "params", "provenance", "runs"}``.
    Finished jobs found in ``work`` are reused (resume); ``workers`` = 0 runs in this process."""
    from cplus_edu.utils import progress_bar

    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")
    params, module = scale_params(chapter, scale), _module_name(chapter)
    jobs = recipe(chapter).jobs(params)
    if seeds is not None:
        jobs = [j for j in jobs if j["seed"] in set(seeds)]
        if not jobs:
            raise ValueError(f"seeds {list(seeds)} select no job of {chapter} at {scale} scale")
    keys = [j["key"] for j in jobs]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"{chapter}: job keys are not unique")
    work_dir = Path(work) if work is not None else Path(RESULTS_DIR) / ".work" / chapter / scale
    work_dir.mkdir(parents=True, exist_ok=True)
    started, wall = datetime.now(timezone.utc), time.perf_counter()
    records, todo, unverified = {}, [], 0
    for job in jobs:
        done = work_dir / f"{job['key']}.json"
        if done.exists():
            record = json.loads(done.read_text())
            sha = record.pop("params_sha", None)
            # a run of another job or of other scale parameters is redone, not reused
            if record["job"] == job and sha in (params_sha(params), None):
                records[job["key"]] = record
                unverified += sha is None
                continue
        todo.append(job)
    if unverified:
        print(f"{unverified} finished runs in {work_dir} carry no parameter hash (an older "
              "runner): reused on their job description alone")  # fmt: skip
    bar = progress_bar(total=len(jobs), initial=len(records), desc=f"{chapter} {scale}",
                       show=progress)  # fmt: skip
    if workers == 0:
        for job in todo:
            records[job["key"]] = _run_one(module, params, job, str(work_dir))
            bar.update()
    else:
        import multiprocessing

        saved = {k: os.environ.get(k) for k in _ONE_THREAD}
        os.environ.update(_ONE_THREAD)  # the workers inherit one thread each
        try:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(_run_one, module, params, job, str(work_dir))
                           for job in todo]  # fmt: skip
                for future in as_completed(futures):
                    record = future.result()
                    records[record["job"]["key"]] = record
                    bar.update()
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    bar.close()
    result = {
        "schema": SCHEMA,
        "chapter": chapter,
        "scale": scale,
        "params": params,
        "provenance": {
            **provenance(workers),
            "started": started.isoformat(timespec="seconds"),
            "wall_seconds": time.perf_counter() - wall,
            "cpu_seconds": sum(r["cpu_seconds"] for r in records.values()),
            "resumed_jobs": len(jobs) - len(todo),
        },
        "runs": [records[k] for k in keys],
    }
    if out is not None:
        _write_json(Path(out), result)
    return result


def results_path(chapter: str, root: str | os.PathLike | None = None) -> Path:
    """``results/CHAPTER.json`` in ``root``, else in the working directory or a parent, else
    beside the package's source tree (the repository)."""
    name = Path(RESULTS_DIR) / f"{chapter}.json"
    if root is not None:
        return Path(root) / name
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if (folder / name).is_file():
            return folder / name
    return Path(__file__).resolve().parents[2] / name


def load_results(chapter: str, root: str | os.PathLike | None = None) -> dict | None:
    """The stored reference results of ``chapter`` (see :func:`run_scale`), or ``None`` if this
    copy has none (say so in the chapter rather than fail: an installed package has no
    ``results/``)."""
    recipe(chapter)  # a clear error for an unknown chapter
    path = results_path(chapter, root)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    check_results(data, chapter)
    return data


def check_results(data: dict, chapter: str | None = None) -> None:
    """Raise ``ValueError`` naming what is wrong if ``data`` is not a results file."""
    keys = {"schema", "chapter", "scale", "params", "provenance", "runs"}
    if not isinstance(data, dict) or set(data) != keys:
        raise ValueError(f"results must have exactly the keys {sorted(keys)}")
    if data["schema"] != SCHEMA:
        raise ValueError(f"results schema {data['schema']!r}, this code reads {SCHEMA}")
    if chapter is not None and data["chapter"] != chapter:
        raise ValueError(f"results are for {data['chapter']!r}, not {chapter!r}")
    if data["scale"] not in SCALE_NAMES:
        raise ValueError(f"results scale {data['scale']!r} is not one of {SCALE_NAMES}")
    needed = {"git_commit", "command", "cpu", "torch", "workers", "threads_per_worker",
              "wall_seconds", "cpu_seconds", "started"}  # fmt: skip
    missing = needed - set(data["provenance"])
    if missing:
        raise ValueError(f"results provenance lacks {sorted(missing)}")
    for run in data["runs"]:
        if set(run) != {"job", "metrics", "wall_seconds", "cpu_seconds"}:
            raise ValueError(f"a run record has keys {sorted(run)}")
        if "seed" not in run["job"] or "key" not in run["job"]:
            raise ValueError(f"run {run['job']!r} has no seed or key")


def describe_provenance(data: dict) -> str:
    """One line a chapter prints under the stored results: when, where and how long (the wall
    time is the last call's: a resumed run says how many runs it reused from earlier calls)."""
    p = data["provenance"]
    commit = (p["git_commit"] or "unknown")[:10]
    commit += " (+ local changes)" if p.get("git_dirty") else ""
    reused = p.get("resumed_jobs", 0)
    wall = f"{p['wall_seconds'] / 60:.0f} min wall"
    if reused:
        wall += f" in the last call, which reused {reused} runs from earlier calls"
    return (f"{len(data['runs'])} runs at {data['scale']} scale, commit {commit}, {p['started']}, "
            f"{p['cpu']}, torch {p['torch']}, {p['workers']} processes x "
            f"{p['threads_per_worker']} thread: {wall}; {p['cpu_seconds'] / 60:.0f} CPU-min "
            "over all runs")  # fmt: skip
