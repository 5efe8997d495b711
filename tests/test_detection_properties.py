"""Issue 16, detection: every public function returns the slow reference's value or refuses
with a ValueError / TypeError naming the argument. Feeds the audited inputs and their
neighbours (other integer and float dtypes, sizes, empty batches): anchor assignment's
class_prob_per_gt, the DC loss (eqs. 1-3) and detection_map against pycocotools' COCOeval.
(CL-balanced NMS has its own property tests in test_detection_nms.py.)"""

import contextlib
import io
import math

import pytest
import torch

from cplus_edu.detection import DCLoss, class_prob_per_gt, detection_map, dynamic_coefficients

INT_DTYPES = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8]
FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


# --- class_prob_per_gt -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_class_prob_per_gt_reads_each_gts_class_for_any_integer_dtype(dtype):
    probs = torch.rand(7, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([3, 0, 0, 2, 1])
    got = class_prob_per_gt(probs, labels.to(dtype))
    expected = torch.tensor([[float(probs[a, int(y)]) for y in labels] for a in range(7)])
    assert got.shape == (7, 5) and torch.equal(got, expected)


@pytest.mark.parametrize("bad", [-1, 4, 100, -100])
def test_class_prob_per_gt_refuses_labels_outside_the_classes(bad):
    probs = torch.rand(7, 4)
    with pytest.raises(ValueError, match=r"gt_labels must be class indices in \[0, 3\]"):
        class_prob_per_gt(probs, torch.tensor([0, bad]))


def test_class_prob_per_gt_refuses_bad_probs_and_float_labels():
    labels = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="probs contains NaN"):
        class_prob_per_gt(torch.full((3, 2), math.nan), labels)
    with pytest.raises(ValueError, match=r"probs must hold probabilities"):
        class_prob_per_gt(torch.full((3, 2), 2.0), labels)
    with pytest.raises(ValueError, match="probs must have 2 dims"):
        class_prob_per_gt(torch.rand(3), labels)
    with pytest.raises(TypeError, match="gt_labels must be an integer"):
        class_prob_per_gt(torch.rand(3, 2), labels.float())
    assert class_prob_per_gt(torch.rand(3, 2), labels[:0]).shape == (3, 0)  # no object


# --- dynamic_coefficients ----------------------------------------------------------------------


def loop_coefficients(pred, gt, loss, eps=1e-6):
    """Eqs. (1)-(2) with Python floats."""
    lam = []
    for p, t in zip(pred.double().tolist(), gt.double().tolist()):
        d2 = (((p[0] + p[2]) - (t[0] + t[2])) ** 2 + ((p[1] + p[3]) - (t[1] + t[3])) ** 2) / 4
        tw, th = max(t[2] - t[0], eps), max(t[3] - t[1], eps)
        pw, ph = max(p[2] - p[0], eps), max(p[3] - p[1], eps)
        sig = 1 / (1 + math.exp(-d2 / (tw * th)))
        lam.append(1 / (sig + math.tanh(abs(pw / ph - tw / th)) + eps))
    loss = loss.double().tolist()
    weighted = sum(w * x for w, x in zip(lam, loss))
    if weighted == 0:
        return [1.0] * len(lam)
    return [w * sum(loss) / weighted for w in lam]


def some_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 20 + 2], 1)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("n", [1, 2, 17])
def test_coefficients_match_the_loop_for_any_float_dtype(dtype, n):
    pred, gt = some_boxes(n, 0).to(dtype), some_boxes(n, 1).to(dtype)
    loss = torch.rand(n, generator=torch.Generator().manual_seed(2)).to(dtype)
    coef = dynamic_coefficients(pred, gt, loss)
    assert coef.dtype == torch.promote_types(dtype, torch.float32)
    expected = torch.tensor(loop_coefficients(pred, gt, loss), dtype=torch.float64)
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    assert torch.allclose(coef.double(), expected, rtol=tol, atol=tol)


def test_coefficients_keep_the_total_even_for_huge_losses():
    pred, gt = some_boxes(5, 3), some_boxes(5, 4)
    loss = torch.tensor([3e38, 3e38, 1.0, 0.0, 2e38])  # float32: the sum overflows
    coef = dynamic_coefficients(pred, gt, loss)
    assert torch.isfinite(coef).all()
    assert torch.allclose((coef.double() * loss.double()).sum(), loss.double().sum(), rtol=1e-6)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -0.5])
def test_coefficients_refuse_nan_inf_and_negative_losses(bad):
    loss = torch.tensor([0.3, bad, 0.2])
    with pytest.raises(ValueError, match="cls_loss"):
        dynamic_coefficients(some_boxes(3, 0), some_boxes(3, 1), loss)


def test_coefficients_refuse_bad_eps():
    for eps in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="eps"):
            dynamic_coefficients(some_boxes(3, 0), some_boxes(3, 1), torch.ones(3), eps)


# --- DCLoss ------------------------------------------------------------------------------------


def dc_setup(num=40, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    anchors = some_boxes(num, seed + 1)
    gt = anchors + torch.rand(num, 4, generator=g)
    logits = torch.randn(num, k, generator=g)
    deltas = 0.1 * torch.randn(num, 4, generator=g)
    labels = torch.randint(-1, 2, (num,), generator=g)
    labels[:3] = 1
    classes = torch.randint(0, k, (num,), generator=g)
    return logits, deltas, anchors, labels, classes, gt


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_dc_loss_takes_any_integer_dtype(dtype):
    logits, deltas, anchors, labels, classes, gt = dc_setup()
    expected = DCLoss()(logits, deltas, anchors, labels, classes, gt)
    if dtype == torch.uint8:  # no -1: ignored anchors are left out instead
        keep = labels >= 0
        expected = DCLoss()(logits[keep], deltas[keep], anchors[keep], labels[keep],
                            classes[keep], gt[keep])  # fmt: skip
        logits, deltas, anchors, labels, classes, gt = (t[keep] for t in (logits, deltas,
                                                        anchors, labels, classes, gt))  # fmt: skip
    got = DCLoss()(logits, deltas, anchors, labels.to(dtype), classes.to(dtype), gt)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dc_loss_half_precision_is_computed_in_float32(dtype):
    logits, deltas, anchors, labels, classes, gt = dc_setup()
    narrow = [t.to(dtype) for t in (logits, deltas, anchors)]
    z = narrow[0].clone().requires_grad_()
    got = DCLoss()(z, narrow[1], narrow[2], labels, classes, gt.to(dtype))
    wide = torch.promote_types(dtype, torch.float32)
    expected = DCLoss()(*(t.to(wide) for t in narrow), labels, classes, gt.to(dtype).to(wide))
    assert got.dtype == wide and torch.allclose(got, expected, rtol=1e-6)
    got.backward()
    assert z.grad.dtype == dtype and torch.isfinite(z.grad.float()).all()
    assert z.grad.float().abs().sum() > 0


@pytest.mark.parametrize("bad", [2, -2, -100, 255])
def test_dc_loss_refuses_labels_outside_eq5(bad):
    logits, deltas, anchors, labels, classes, gt = dc_setup()
    labels[5] = bad
    with pytest.raises(ValueError, match=r"labels must be 1 \(positive\), 0 \(negative\) or -1"):
        DCLoss()(logits, deltas, anchors, labels, classes, gt)


@pytest.mark.parametrize("bad", [-1, 3, 1000])
def test_dc_loss_refuses_positive_classes_out_of_range(bad):
    logits, deltas, anchors, labels, classes, gt = dc_setup()
    classes[0] = bad  # anchor 0 is positive
    with pytest.raises(ValueError, match=r"target_classes of positives must be in \[0, 2\]"):
        DCLoss()(logits, deltas, anchors, labels, classes, gt)


def test_dc_loss_ignores_the_class_of_non_positive_anchors():
    logits, deltas, anchors, labels, classes, gt = dc_setup()
    other = classes.clone()
    other[labels != 1] = -7  # not read
    a = DCLoss()(logits, deltas, anchors, labels, classes, gt)
    assert torch.equal(a, DCLoss()(logits, deltas, anchors, labels, other, gt))


def test_dc_loss_refuses_bad_shapes_and_boxes():
    logits, deltas, anchors, labels, classes, gt = dc_setup()
    with pytest.raises(ValueError, match=r"box_deltas must have shape \[A, 4\]"):
        DCLoss()(logits, deltas[:, :3], anchors, labels, classes, gt)
    with pytest.raises(ValueError, match=r"target_boxes must have shape \[A, 4\]"):
        DCLoss()(logits, deltas, anchors, labels, classes, gt[:, :2])
    bad = anchors.clone()
    bad[0] = math.nan  # a positive anchor
    with pytest.raises(ValueError, match="anchors"):
        DCLoss()(logits, deltas, bad, labels, classes, gt)
    with pytest.raises(ValueError, match="focal_gamma"):
        DCLoss(focal_gamma=math.inf)
    with pytest.raises(ValueError, match="eps"):
        DCLoss(eps=0.0)


# --- detection_map against pycocotools' COCOeval ----------------------------------------------


def cocoeval_stats(preds, targets):
    """AP, AP50, AP75 from pycocotools directly (its own float64 thresholds)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    anns, dets, cats = [], [], set()
    for i, (p, t) in enumerate(zip(preds, targets)):
        for b, y in zip(t["boxes"].double().tolist(), t["labels"].tolist()):
            w = xywh(b)
            anns.append({"id": len(anns) + 1, "image_id": i, "bbox": w, "area": w[2] * w[3],
                         "category_id": y, "iscrowd": 0})  # fmt: skip
            cats.add(y)
        for b, s, y in zip(p["boxes"].double().tolist(), p["scores"].double().tolist(),
                           p["labels"].tolist()):  # fmt: skip
            dets.append({"image_id": i, "bbox": xywh(b), "score": s, "category_id": y})
            cats.add(y)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i} for i in range(len(targets))], "annotations": anns,
                      "categories": [{"id": c} for c in sorted(cats)]}  # fmt: skip
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[:3].tolist()


def grid_scenes(images, per_image, classes, seed, score_levels=None):
    """Integer boxes (exact in any float dtype); ``images * per_image / classes`` ground truths
    per class (100 or 50 below), so every recall is a multiple of 1/100."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(images):
        xy = torch.randint(0, 200, (per_image, 2), generator=g)
        wh = torch.randint(8, 60, (per_image, 2), generator=g)
        boxes = torch.cat([xy, xy + wh], 1).float()
        labels = torch.arange(per_image) % classes
        hit = torch.rand(per_image, generator=g) < 0.8  # detected, with an integer shift
        shift = torch.randint(-6, 7, (per_image, 4), generator=g).float()
        det = (boxes + shift)[hit]
        det = torch.cat([torch.minimum(det[:, :2], det[:, 2:] - 1), det[:, 2:]], 1)
        extra = torch.randint(0, 200, (per_image // 2, 2), generator=g).float()
        det = torch.cat([det, torch.cat([extra, extra + 20], 1)])  # false positives
        det_labels = torch.cat([labels[hit], torch.randint(0, classes, (per_image // 2,),
                                                                generator=g)])  # fmt: skip
        scores = torch.rand(len(det), generator=g)
        if score_levels:
            scores = (scores * score_levels).floor() / score_levels
        preds.append({"boxes": det, "scores": scores, "labels": det_labels})
        targets.append({"boxes": boxes, "labels": labels})
    return preds, targets


@pytest.mark.parametrize("backend", ["faster_coco_eval", "pycocotools"])
@pytest.mark.parametrize(
    "scene",
    [(10, 10, 1, 0, None), (10, 20, 2, 1, None), (5, 20, 2, 2, 8), (25, 4, 2, 3, None)],
    ids=["100 gts", "2 x 100 gts", "tied scores", "2 x 50 gts"],
)
def test_detection_map_equals_cocoeval(scene, backend):
    images, per_image, classes, seed, levels = scene
    preds, targets = grid_scenes(images, per_image, classes, seed, levels)
    got = detection_map(preds, targets, backend=backend)
    expected = cocoeval_stats(preds, targets)
    assert [got["map"], got["map_50"], got["map_75"]] == pytest.approx(expected, abs=1e-6, rel=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_detection_map_other_box_dtypes(dtype):
    preds, targets = grid_scenes(10, 10, 1, 4)
    expected = cocoeval_stats(preds, targets)
    cast = [{k: v.to(dtype) if v.is_floating_point() else v for k, v in d.items()} for d in preds]
    got = detection_map(cast, targets)
    assert [got["map"], got["map_50"], got["map_75"]] == pytest.approx(expected, abs=1e-6, rel=0)


def test_detection_map_refuses_bad_input():
    preds, targets = grid_scenes(3, 4, 1, 5)
    with pytest.raises(ValueError, match="images"):
        detection_map(preds[:2], targets)
    no_gt = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 3
    with pytest.raises(ValueError, match="no ground-truth box"):
        detection_map(preds, no_gt)
    bad = [dict(p) for p in preds]
    bad[1]["scores"] = bad[1]["scores"] * math.nan
    with pytest.raises(ValueError, match=r"preds\[1\]\['scores'\] contains NaN"):
        detection_map(bad, targets)
    bad = [dict(p) for p in preds]
    bad[0]["boxes"] = bad[0]["boxes"][:, [2, 1, 0, 3]]
    with pytest.raises(ValueError, match="degenerate"):
        detection_map(bad, targets)
    bad = [dict(p) for p in preds]
    bad[2]["labels"] = bad[2]["labels"][:-1]
    with pytest.raises(ValueError, match="different lengths"):
        detection_map(bad, targets)
    bad = [dict(t) for t in targets]
    bad[0]["labels"] = bad[0]["labels"].float()
    with pytest.raises(TypeError, match=r"targets\[0\]\['labels'\] must be an integer"):
        detection_map(preds, bad)
