"""Boxes, anchors, scenes, the tiny detector, its training loop, raw detections, NMS and mAP."""

import pytest
import torch
from torchvision.ops import box_iou

from cplus_edu.data import make_digit_scenes, make_shape_scenes
from cplus_edu.detection import (
    BoxCoder,
    DetectionCriterion,
    TinyDetector,
    apply_nms,
    check_boxes,
    detect_raw,
    detection_map,
    make_anchors,
    mask_regions,
    sensitivity_maps,
    sensitivity_shares,
    train_detector,
)


def test_box_coder_round_trip_and_check_boxes():
    anchors = make_anchors(64)
    g = torch.Generator().manual_seed(0)
    boxes = anchors + torch.randn(anchors.shape, generator=g)
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)], 1)
    coder = BoxCoder()
    assert torch.allclose(coder.decode(coder.encode(boxes, anchors), anchors), boxes, atol=1e-4)
    assert check_boxes("b", torch.zeros(0, 4)).shape == (0, 4)
    with pytest.raises(ValueError, match="degenerate"):
        check_boxes("b", torch.tensor([[5.0, 0, 1, 3]]))
    with pytest.raises(TypeError, match="floating"):
        check_boxes("b", torch.zeros(2, 4, dtype=torch.long))


def test_anchor_grid():
    anchors = make_anchors(64, (8, 16), ((12.0, 20.0), (28.0, 44.0)), (0.5, 1.0, 2.0))
    assert anchors.shape == (8 * 8 * 6 + 4 * 4 * 6, 4)
    first = anchors[:6]
    centres = (first[:, :2] + first[:, 2:]) / 2
    assert torch.allclose(centres, torch.full((6, 2), 0.5))  # cell (0, 0): pixel 0's centre
    areas = (first[:, 2] - first[:, 0]) * (first[:, 3] - first[:, 1])
    assert torch.allclose(areas, torch.tensor([144.0] * 3 + [400.0] * 3))
    with pytest.raises(ValueError, match="multiple"):
        make_anchors(60, (8,), ((10.0,),))
    with pytest.raises(ValueError, match="offset"):
        make_anchors(64, offset=-1.0)


def _linear_copy(model: TinyDetector) -> TinyDetector:
    """The detector with every norm and ReLU removed and every conv a constant 3x3 kernel: its
    outputs are sums over their receptive fields, symmetric about the fields' centres."""
    import copy

    from torch import nn

    linear = copy.deepcopy(model)
    for name, module in list(linear.named_modules()):
        if isinstance(module, (nn.GroupNorm, nn.ReLU)):
            parent, child = name.rsplit(".", 1)
            setattr(linear.get_submodule(parent), child, nn.Identity())
        elif isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 1 / (9 * module.in_channels))
            nn.init.zeros_(module.bias)
    return linear


@pytest.mark.parametrize("level, row, col", [(0, 15, 16), (0, 13, 18), (1, 8, 8), (1, 7, 9)])
def test_anchors_sit_on_the_centre_of_their_cells_receptive_field(level, row, col):
    """The input-gradient map of a cell's output (a linearised copy of the detector, on an image
    large enough that the field does not reach the border) is symmetric about the receptive
    field's centre; its centroid, in pixel coordinates (pixel i spans [i, i + 1]), must be the
    centre of that cell's anchors: ``stride * j + 0.5``, not ``stride * (j + 0.5)``."""
    size = 256
    model = _linear_copy(TinyDetector(3, width=16, image_size=size))
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    _, (cls, _) = model(x)
    stride, first = 8 * 2**level, (0 if level == 0 else (size // 8) ** 2 * 6)
    a = first + (row * (size // stride) + col) * 6
    cls[0, a, 0].backward()
    weight = x.grad[0, 0].double()
    assert weight.min() >= 0 and weight[0].sum() == weight[-1].sum() == 0  # inside the image
    pixel = torch.arange(size, dtype=torch.float64) + 0.5
    cy = float((weight.sum(1) * pixel).sum() / weight.sum())
    cx = float((weight.sum(0) * pixel).sum() / weight.sum())
    assert [cx, cy] == pytest.approx([stride * col + 0.5, stride * row + 0.5], abs=1e-4)
    for slot in range(6):
        anchor = model.anchors[a + slot]
        assert ((anchor[:2] + anchor[2:]) / 2).tolist() == pytest.approx([cx, cy], abs=1e-4)


def test_shape_scenes_have_tight_boxes_and_masks():
    scenes = make_shape_scenes(20, seed=3)
    assert scenes.images.shape == (20, 1, 64, 64)
    for boxes, labels, masks in zip(scenes.boxes, scenes.labels, scenes.masks):
        assert len(boxes) == len(labels) == len(masks) >= 1
        for b, m in zip(boxes, masks):
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert b.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert set(labels.tolist()) <= {0, 1, 2}
    # irregular shapes: the mask's centre of mass is off the box centre for L and triangles
    offsets = []
    for boxes, labels, masks in zip(scenes.boxes, scenes.labels, scenes.masks):
        for b, y, m in zip(boxes, labels, masks):
            ys, xs = torch.nonzero(m, as_tuple=True)
            mass = torch.stack([xs.float().mean() + 0.5, ys.float().mean() + 0.5])
            offsets.append((int(y), float((mass - (b[:2] + b[2:]) / 2).norm())))
    bar = [o for y, o in offsets if y == 0]
    other = [o for y, o in offsets if y != 0]
    assert sum(other) / len(other) > 2 * sum(bar) / len(bar)
    sub = scenes[[0, 2]]
    assert len(sub) == 2 and torch.equal(sub.images[1], scenes.images[2])


def test_digit_scenes():
    g = torch.Generator().manual_seed(0)
    digits = torch.zeros(5, 1, 28, 28)
    digits[:, :, 6:22, 10:18] = torch.rand(5, 1, 16, 8, generator=g) * 0.5 + 0.5
    scenes = make_digit_scenes(digits, torch.arange(5), 6, seed=0)
    assert scenes.images.shape == (6, 1, 64, 64) and scenes.num_classes == 5
    for boxes, masks in zip(scenes.boxes, scenes.masks):
        assert (boxes[:, 2:] > boxes[:, :2]).all() and masks.any()
    with pytest.raises(ValueError, match="one label each"):
        make_digit_scenes(digits, torch.arange(3), 2)


def test_detector_shapes_and_prior():
    model = TinyDetector(3, width=16)
    features, (cls, box) = model(torch.zeros(2, 1, 64, 64))
    assert cls.shape == (2, len(model.anchors), 3) and box.shape == (2, len(model.anchors), 4)
    assert features.shape == (2, 16, 8, 8)
    assert torch.sigmoid(cls).mean().item() == pytest.approx(0.01, rel=0.2)


def test_flattening_matches_the_anchor_order():
    """Output row a comes from anchor a's cell and shape slot (level, row-major cell, slot)."""
    model = TinyDetector(3, width=16)
    x = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    c3, (cls, box) = model(x)
    level0 = model.cls_out(model.cls_tower(c3))  # [1, 6 * 3, 8, 8]
    level1 = model.box_out(model.box_tower(model.down(c3)))  # [1, 6 * 4, 4, 4]
    row, col, slot, k = 3, 5, 4, 2
    assert torch.isclose(cls[0, (row * 8 + col) * 6 + slot, k], level0[0, slot * 3 + k, row, col])
    a = 8 * 8 * 6 + (1 * 4 + 2) * 6 + slot
    assert torch.isclose(box[0, a, 1], level1[0, slot * 4 + 1, 1, 2])
    centre = (model.anchors[a, :2] + model.anchors[a, 2:]) / 2
    assert centre.tolist() == [2 * 16 + 0.5, 1 * 16 + 0.5]


@pytest.fixture(scope="module")
def trained():
    train = make_shape_scenes(96, seed=11)
    test = make_shape_scenes(24, seed=12)
    model = TinyDetector(3, width=16)
    criterion = DetectionCriterion(iac=True, dynamic=True, score_threshold=0.6)
    history = train_detector(model, train, criterion, epochs=3, batch_size=16, lr=3e-3,
                             progress=False)  # fmt: skip
    return model, history, test


def test_training_lowers_the_loss_and_records_terms(trained):
    _, history, _ = trained
    assert history.loss[-1] < history.loss[0]
    assert {"cls_pos", "cls_neg", "box", "coef_std", "positives", "by_score"} <= set(history.terms)
    assert history.terms["coef_std"][-1] > 0


def test_raw_detections_nms_and_map(trained):
    model, _, test = trained
    raw = detect_raw(model, test.images, score_threshold=0.01)
    assert len(raw) == len(test)
    r = raw[0]
    assert {"boxes", "scores", "labels", "anchor"} <= set(r)
    assert (r["scores"][:-1] >= r["scores"][1:]).all()
    final = apply_nms(raw, gamma=0.5)
    assert all(len(f["boxes"]) <= len(r["boxes"]) for f, r in zip(final, raw))
    result = detection_map(final, test.targets())
    assert set(result) == {"map", "map_50", "map_75"}
    assert 0 <= result["map_75"] <= result["map_50"] <= 1


def test_map_backends_agree_and_a_perfect_detector_scores_one():
    test = make_shape_scenes(10, seed=5)
    perfect = [{"boxes": b, "scores": torch.ones(len(b)), "labels": y}
               for b, y in zip(test.boxes, test.labels)]  # fmt: skip
    assert detection_map(perfect, test.targets())["map"] == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    noisy = [{"boxes": b + torch.randn(b.shape, generator=g) * 1.5,
              "scores": torch.rand(len(b), generator=g), "labels": y}
             for b, y in zip(test.boxes, test.labels)]  # fmt: skip
    a = detection_map(noisy, test.targets(), backend="faster_coco_eval")
    b = detection_map(noisy, test.targets(), backend="pycocotools")
    assert a == pytest.approx(b, abs=1e-6) and 0 < a["map"] < 1
    with pytest.raises(ValueError, match="images"):
        detection_map(noisy[:3], test.targets())


def test_checkpoint_resume_gives_the_same_model(tmp_path):
    train = make_shape_scenes(32, seed=1)

    class Interrupting(DetectionCriterion):
        calls = 0

        def forward(self, *args):
            Interrupting.calls += 1
            if Interrupting.calls > 2:  # two batches per epoch: stop during epoch 2
                raise KeyboardInterrupt
            return super().forward(*args)

    def run(criterion, path):
        torch.manual_seed(0)
        model = TinyDetector(3, width=8)
        history = train_detector(model, train, criterion, epochs=2, batch_size=16,
                                 progress=False, checkpoint=path)  # fmt: skip
        return model, history

    straight, h1 = run(DetectionCriterion(), None)
    with pytest.raises(KeyboardInterrupt):
        run(Interrupting(), tmp_path / "c.pt")
    resumed, h2 = run(DetectionCriterion(), tmp_path / "c.pt")
    assert h1.epochs == h2.epochs == 2
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_sensitivity_maps(trained):
    model, _, test = trained
    cls_map, box_map = sensitivity_maps(model, test.images[0], anchor=100, label=0)
    assert cls_map.shape == box_map.shape == (64, 64)
    assert cls_map.sum().item() == pytest.approx(1.0) and (box_map >= 0).all()
    regions = mask_regions(test.masks[0][0])
    total = sum(r.float() for r in regions.values())
    assert (total == 1).all()  # the three regions partition the image
    shares = sensitivity_shares(cls_map, test.masks[0][0])
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-5)


def test_criterion_handles_an_image_without_objects():
    model = TinyDetector(3, width=8)
    _, out = model(torch.zeros(2, 1, 64, 64))
    boxes = [torch.zeros(0, 4), torch.tensor([[10.0, 10, 30, 20]])]
    labels = [torch.zeros(0, dtype=torch.long), torch.tensor([1])]
    loss = DetectionCriterion(iac=True, dynamic=True)(out, boxes, labels, model.anchors)
    loss.backward()
    assert torch.isfinite(loss)
    assert box_iou(model.anchors, boxes[1]).max() >= 0.5  # the object has a positive anchor
