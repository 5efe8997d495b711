"""Chapter 05's runs: every loss reads the same noisy annotation; tiny studies give one row per
(loss, setting, seed); the small measurements against obvious loop versions."""

import pytest
import torch

from cplus_edu.data import flip_region_labels, make_saliency_scenes, make_texture_mosaics
from cplus_edu.experiments import (
    between_margin,
    merged_share,
    per_seed,
    saliency_study,
    segmentation_study,
    segments_per_image,
)

TINY = dict(width=4, batch_size=8)


def test_merged_share_counts_images_under_one_label():
    mask = torch.zeros(4, 3, 3, dtype=torch.long)
    mask[:, 1, 1] = 1  # two regions in every image
    labels = mask.clone()
    labels[1] = 1  # background flipped: one label
    labels[2] = 0  # object flipped: one label
    labels[3] = 1 - mask[3]  # both flipped: still two regions
    assert merged_share(labels) == 0.5
    # at p = 0.5 a merge needs exactly one of two fair coins: about half of the images
    scenes = make_saliency_scenes(400, 12, object_radius=(2, 3), seed=0)
    noisy = flip_region_labels(scenes.mask, scenes.mask, 0.5, seed=1)
    loop = sum(len(image.unique()) == 1 for image in noisy) / len(noisy)
    assert merged_share(noisy) == pytest.approx(loop) and 0.4 < loop < 0.6


def test_segments_between_and_per_seed():
    prediction = torch.tensor([[[0, 0], [0, 0]], [[3, 1], [1, 7]]])
    assert segments_per_image(prediction).tolist() == [1, 3]
    assert between_margin(0.0, 0.3, 1.0) == pytest.approx(0.3)  # nearer the low end
    assert between_margin(0.0, 0.9, 1.0) == pytest.approx(0.1)  # nearer the high end
    assert between_margin(0.5, 0.2, 1.0) == pytest.approx(-0.3)  # below: negative
    rows = [{"model": "a", "seed": 0, "x": 1.0}, {"model": "a", "seed": 1, "x": 2.0},
            {"model": "b", "seed": 0, "x": 5.0}]  # fmt: skip
    assert per_seed(rows, "x", model="a") == {0: 1.0, 1: 2.0}
    with pytest.raises(ValueError, match="no row"):
        per_seed(rows, "x", model="c")


def test_saliency_study_rows_and_maps():
    train = make_saliency_scenes(16, 12, object_radius=(2, 4), seed=0)
    val = make_saliency_scenes(8, 12, object_radius=(2, 4), seed=1)
    test = make_saliency_scenes(8, 12, object_radius=(2, 4), seed=2)
    rows, maps = saliency_study(train, val, test, seeds=[0, 1], noise_levels=[0.0, 0.5],
                                epochs=1, **TINY)  # fmt: skip
    keys = {(r["model"], r["p"], r["seed"]) for r in rows}
    expected = {(m, p, s) for m in ("CE", "CAS") for p in (0.0, 0.5) for s in (0, 1)}
    assert keys == expected | {("CACE", 0.5, 0), ("CACE", 0.5, 1)} and len(rows) == len(keys)
    assert set(maps) == {"CE, p = 0.0", "CE, p = 0.5", "CAS, p = 0.0", "CAS, p = 0.5",
                         "CACE, p = 0.5"}  # fmt: skip
    for r in rows:
        assert 0 <= r["f_beta"] <= 1 and 0 <= r["mae"] <= 1
    for saliency in maps.values():
        assert saliency.shape == test.mask.shape and 0 <= saliency.min() <= saliency.max() <= 1
    with pytest.raises(ValueError, match="non-empty"):
        saliency_study(train, val, test, seeds=[], noise_levels=[0.0], epochs=1)


def test_segmentation_study_rows_and_predictions():
    train = make_texture_mosaics(8, 12, num_regions=(2, 3), seed=0)
    test = make_texture_mosaics(4, 12, num_regions=(2, 3), seed=1)
    rows, predictions = segmentation_study(train, test, seeds=[3], epochs=1, channels=4, **TINY)
    assert [r["model"] for r in rows] == ["CAS", "discriminative", "CE on region ids"]
    assert all(r["seed"] == 3 and -1 <= r["ari"] <= 1 for r in rows)
    for r in rows:
        expected = segments_per_image(predictions[r["model"]]).float().mean().item()
        assert r["segments"] == pytest.approx(expected) and r["segments"] >= 1
    assert predictions["CAS"].max() < 4  # argmax of 4 channels


def _fake_reference(ce_noisy=(0.0, 0.01, 0.02, 0.0, 0.01)):
    """A stored-results dict of the reference recipe's jobs with made-up metrics."""
    from cplus_edu.experiments.low_fidelity import SCALES, jobs

    params = SCALES["reference"]
    runs = []
    for job in jobs(params):
        s = job["seed"]
        if job["study"] == "saliency":
            f_beta = {"CE": ce_noisy[s] if job["p"] else 0.99, "CAS": 0.97, "CACE": 0.0}
            mae = {"CE": 0.5 if job["p"] else 0.01, "CAS": 0.02, "CACE": 0.8}
            metrics = {"model": job["model"], "p": job["p"], "seed": s,
                       "f_beta": f_beta[job["model"]], "mae": mae[job["model"]] + 0.001 * s}
        else:
            ari = {"CAS": 0.5, "discriminative": 0.6, "CE on region ids": 0.2,
                   "CE on texture classes": 0.95}[job["model"]] + 0.01 * s  # fmt: skip
            metrics = {"model": job["model"], "seed": s, "ari": ari, "segments": 2.5,
                       "true segments": 3.4}
        runs.append({"job": job, "metrics": metrics, "wall_seconds": 1.0, "cpu_seconds": 1.0})
    return {"params": params, "runs": runs}


def test_reference_claims_and_credibility_read_the_stored_rows():
    from cplus_edu.experiments.low_fidelity import credibility, reference_claims

    data = _fake_reference()
    bars = credibility(data)
    assert [round(v, 3) for v, _ in bars.values()] == [0.99, 0.97]
    claims = {c.id: c for c in reference_claims(data)}
    assert all(c.scale == "reference" for c in claims.values())
    assert claims["05-ce-collapses"].verdict == "holds"  # 0.99 -> ~0.01 on every seed
    assert claims["05-cace-between"].verdict == "does not reproduce at this scale"
    assert claims["05-cas-vs-discriminative"].verdict == "does not reproduce at this scale"
    assert "(5 seeds)" in claims["05-ce-collapses"].ours
    assert "true 3.40" in claims["05-cas-vs-discriminative"].ours
