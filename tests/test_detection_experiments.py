"""Chapter 07 recipe: the component table's arithmetic and the score / IoU correlation."""

import pytest
import torch

from cplus_edu.data import make_shape_scenes
from cplus_edu.experiments import (
    PAPER_DETECTION_TABLE,
    ComponentStudy,
    component_table,
    format_component_table,
    score_iou_correlation,
)


def fake_study():
    study = ComponentStudy()
    aps = {"baseline": [0.10, 0.12], "+ IAC": [0.11, 0.14], "+ IAC + DC": [0.13, 0.12]}
    for row, values in aps.items():
        study.metrics[row] = {s: {"map": v, "map_50": 2 * v, "map_75": v / 2}
                              for s, v in enumerate(values)}  # fmt: skip
    return study


def test_component_table_means_spreads_and_paired_gains():
    rows = component_table(fake_study())
    assert [r["row"] for r in rows] == ["baseline", "+ IAC", "+ IAC + DC"]
    iac = rows[1]
    assert iac["map"][0] == pytest.approx(12.5)
    assert iac["map"][1] == pytest.approx(2.1213, abs=1e-3)
    assert iac["gain_per_seed"] == pytest.approx([1.0, 2.0])
    assert iac["paper"] == PAPER_DETECTION_TABLE["+ IAC"]
    text = format_component_table(rows)
    assert "35.9" in text and "12.5" in text and "+1.50" in text


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
