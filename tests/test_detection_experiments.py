"""Chapter 07 recipe: the component table's arithmetic and the score / IoU correlation."""

import pytest
import torch

from cplus_edu.data import make_shape_scenes
from cplus_edu.experiments import (
    PAPER_DETECTION_TABLE,
    ComponentStudy,
    component_table,
    format_component_table,
    format_steps,
    paired_step,
    row_summary,
    score_iou_correlation,
)


def fake_study():
    study = ComponentStudy()
    aps = {"baseline": [0.10, 0.12], "+ IAC": [0.11, 0.14], "+ IAC + DC": [0.13, 0.12]}
    for row, values in aps.items():
        study.metrics[row] = {s: {"map": v, "map_50": 2 * v, "map_75": v / 2}
                              for s, v in enumerate(values)}  # fmt: skip
    return study


def test_component_table_means_spreads_and_paired_steps():
    study = fake_study()
    rows = component_table(study)
    assert [r["row"] for r in rows] == ["baseline", "+ IAC", "+ IAC + DC"]
    iac = rows[1]
    assert iac["map"][0] == pytest.approx(12.5)
    assert iac["map"][1] == pytest.approx(2.1213, abs=1e-3)
    assert iac["paper"] == PAPER_DETECTION_TABLE["+ IAC"] and iac["seeds"] == [0, 1]
    text = format_component_table(rows)
    assert "35.9" in text and "12.5 ± 2.1" in text and "(n = 1)" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
    # IAC - baseline per seed: +1, +2 (points); t(0.975, 1) = 12.706 -> 1.5 ± 12.706 * 0.5
    step = paired_step(study, "+ IAC", "baseline")
    assert (step.n, step.up) == (2, 2) and step.mean == pytest.approx(1.5)
    assert step.low == pytest.approx(1.5 - 12.706 * 0.5, abs=1e-3)
    assert step.verdict == "inconclusive at this scale"
    # DC on top of IAC: +2, -2 -> mean 0
    assert paired_step(study, "+ IAC + DC", "+ IAC").mean == pytest.approx(0.0, abs=1e-9)
    steps = format_steps(study).splitlines()
    assert [line.split()[0] for line in steps[2:]] == ["+", "+"]
    assert "+0.5" in steps[2] and "+1.50 [" in steps[2] and "inconclusive" in steps[2]
    assert max(len(line) for line in steps) <= 100


def test_one_seed_says_n_1_instead_of_a_zero_spread():
    study = ComponentStudy()
    for row in ("baseline", "+ IAC + DC"):
        study.metrics[row] = {0: {"map": 0.2, "map_50": 0.4, "map_75": 0.1}}
    text = format_component_table(component_table(study))
    assert "(n = 1)" in text and "± 0.0" not in text
    assert row_summary(study, "baseline") == "AP 20.0, AP50 40.0, AP75 10.0"
    assert row_summary(fake_study(), "+ IAC").startswith("AP 12.5 ± 2.1, AP50 25.0 ± 4.2")
    assert paired_step(study, "+ IAC + DC", "baseline").verdict == "inconclusive at this scale"


def test_score_iou_correlation_sees_a_calibrated_and_a_reversed_detector():
    test = make_shape_scenes(8, seed=0)
    g = torch.Generator().manual_seed(0)
    raws = {}
    for sign in (1, -1):
        raw = []
        for boxes, labels in zip(test.boxes, test.labels):
            shift = torch.rand(len(boxes), 6, generator=g) * 6  # six detections per object
            b = boxes[:, None, :] + shift[..., None] * torch.tensor([1.0, 1, 1, 1])
            iou_proxy = 1 - shift / 6
            score = 0.5 + sign * 0.4 * (iou_proxy - 0.5)
            raw.append({"boxes": b.reshape(-1, 4), "scores": score.reshape(-1),
                        "labels": labels.repeat_interleave(6)})  # fmt: skip
        raws[sign] = score_iou_correlation(raw, test)
    assert raws[1] > 0.5 and raws[-1] < -0.5


def fake_results(n_seeds=5, digits=True):
    """A stored-results dict of the reference scale's form: the whole method gains 0.9 to 1.1 AP
    points on every seed on both data sets, IAC +-0.1, CL-NMS +0.5."""
    from cplus_edu.experiments.detection import SCALES, jobs

    params = {**SCALES["reference"], "seeds": list(range(n_seeds)),
              "digit_seeds": list(range(n_seeds)) if digits else []}  # fmt: skip
    runs = []
    for job in jobs(params):
        s, name = job["seed"], job["setting"]
        jitter = 0.001 * (s % 2)
        base = 0.50 + 0.01 * s
        ap = base + {"baseline": 0.0, "+ IAC": jitter, "+ IAC + DC": 0.005 - jitter}[name]
        ap = ap if job["data"] == "shapes" or name == "baseline" else base + 0.005 + jitter
        m = {"ap": {"map": ap, "map_50": ap + 0.2, "map_75": ap - 0.1},
             "score_iou_correlation": 0.5 + 0.01 * s * (name != "baseline")}
        if name == "+ IAC + DC":
            m["cl_nms"] = {str(g): {k: v + 0.005 for k, v in m["ap"].items()}
                           for g in params["gammas"] if g > 0}  # fmt: skip
        if name == "baseline" and job["data"] == "shapes":
            m["misalignment"] = {"boundary_gap": 0.1 + 0.01 * s, "boundary_more": 0.9,
                                 "detections": 40}  # fmt: skip
        runs.append({"job": job, "metrics": m, "wall_seconds": 1.0, "cpu_seconds": 1.0})
    return {"params": params, "runs": runs}


def test_reference_steps_claims_and_credibility_read_the_stored_form():
    from cplus_edu.experiments.detection import (
        credibility,
        reference_claims,
        reference_steps,
        step_differences,
    )

    data = fake_results()
    assert step_differences(data, "whole method") == pytest.approx([1.0, 0.9, 1.0, 0.9, 1.0])
    assert step_differences(data, "+ CL-NMS") == pytest.approx([0.5] * 5)
    steps = reference_steps(data)
    assert steps["whole method"].verdict == steps["+ CL-NMS"].verdict == "holds"
    assert steps["+ IAC"].verdict == "inconclusive at this scale"
    assert steps["whole method, digits"].n == 5 and steps["whole method, digits"].low > 0
    claims = {c.id: c for c in reference_claims(data)}
    assert set(claims) == {"07-misalignment", "07-iac", "07-dc-loss", "07-cl-nms",
                           "07-second-dataset"}  # fmt: skip
    assert all(c.scale == "reference" for c in claims.values())
    assert claims["07-cl-nms"].verdict == claims["07-second-dataset"].verdict == "holds"
    assert claims["07-misalignment"].verdict == "holds"
    bars = credibility(data)
    assert [round(v[0], 6) for v in bars.values()] == [52.0, 52.0]  # mean baseline AP, percent


def test_without_digit_runs_only_the_shape_steps_and_claims_are_made():
    from cplus_edu.experiments.detection import credibility, reference_claims, reference_steps

    data = fake_results(digits=False)
    assert "whole method, digits" not in reference_steps(data)
    assert "07-second-dataset" not in {c.id for c in reference_claims(data)}
    assert len(credibility(data)) == 1
