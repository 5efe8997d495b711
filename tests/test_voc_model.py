"""cplus_edu.voc.model (DeepLabV3+ wiring) and cplus_edu.voc.evaluate (mIoU, mAcc, aAcc)."""

import urllib.error

import pytest
import torch
from torch import nn
from torchmetrics.functional.classification import multiclass_jaccard_index

from cplus_edu.voc import build_model, confusion_matrix, get_config, metrics_from_confusion
from cplus_edu.voc.model import DeepLabV3Plus


def test_paper_model_wiring_output_stride_8_aux_and_skip():
    torch.manual_seed(0)
    model = build_model(get_config("paper-voc-20k"))
    assert model.skip[0].in_channels == 256 and model.skip[0].out_channels == 48
    assert model.aux_head[0].in_channels == 1024 and model.aux_head[-1].out_channels == 21
    assert model.classifier.weight.shape == (21, 512, 1, 1)
    # every 3x3 conv of layer3 / layer4 dilated 2 / 4, no stride left after layer2
    assert {m.dilation for m in model.layer3.modules() if isinstance(m, nn.Conv2d)
            and m.kernel_size == (3, 3)} == {(2, 2)}  # fmt: skip
    assert {m.dilation for m in model.layer4.modules() if isinstance(m, nn.Conv2d)
            and m.kernel_size == (3, 3)} == {(4, 4)}  # fmt: skip
    x = torch.randn(2, 3, 65, 65)
    seen = {}
    model.layer4.register_forward_hook(lambda m, i, o: seen.update(c4=o.shape))
    out = model(x)
    assert seen["c4"] == (2, 2048, 9, 9)  # 65 / 8, rounded up: output stride 8
    assert out.features.shape == (2, 512, 17, 17) and out.logits.shape == (2, 21, 17, 17)
    assert out.aux_logits.shape == (2, 21, 9, 9)
    (out.logits.square().mean() + out.aux_logits.square().mean()).backward()
    for name in ("skip", "aspp", "layer1", "aux_head", "classifier"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), name
    model.eval()
    with torch.no_grad():
        assert model(x).aux_logits is None


def test_smoke_model_is_resnet18_at_stride_8_and_converts_to_syncbn():
    model = build_model(get_config("cpu-smoke"))
    out = model(torch.randn(2, 3, 48, 48))
    assert out.features.shape == (2, 64, 12, 12) and out.aux_logits.shape[-1] == 6
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    kinds = {type(m) for m in synced.modules()}
    assert nn.SyncBatchNorm in kinds and nn.BatchNorm2d not in kinds


def test_pretrained_offline_error_is_clear(monkeypatch, tmp_path):
    import torchvision.models._api as weights_api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    # torchvision's weights call this (imported by name there); nothing reaches the network
    monkeypatch.setattr(weights_api, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match="ImageNet weights for resnet18.*without --pretrained"):
        DeepLabV3Plus(backbone="resnet18", aspp_channels=8, decoder_channels=8, pretrained=True)


def slow_metrics(pred, target, k, ignore=255):
    ious, accs, tp_all, n_all = [], [], 0, 0
    for c in range(k):
        tp = fp = fn = 0
        for p, t in zip(pred.flatten().tolist(), target.flatten().tolist()):
            if t == ignore:
                continue
            tp += p == c and t == c
            fp += p == c and t != c
            fn += p != c and t == c
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else None)
        accs.append(tp / (tp + fn) if tp + fn else None)
        tp_all += tp
        n_all += tp + fn
    mean = lambda v: 100 * sum(x for x in v if x is not None) / sum(x is not None for x in v)  # noqa: E731
    return mean(ious), mean(accs), 100 * tp_all / n_all, ious


def test_metrics_match_a_loop_and_torchmetrics():
    g = torch.Generator().manual_seed(0)
    k = 5
    target = torch.randint(0, k - 1, (3, 9, 11), generator=g)  # class 4 never labelled ...
    target[:, 0] = 255
    pred = torch.randint(0, k - 2, (3, 9, 11), generator=g)  # ... and never predicted
    m = metrics_from_confusion(confusion_matrix(pred, target, k), class_names="abcde")
    miou, macc, aacc, ious = slow_metrics(pred, target, k)
    assert m["mIoU"] == pytest.approx(miou) and m["mAcc"] == pytest.approx(macc)
    assert m["aAcc"] == pytest.approx(aacc) and m["per_class_iou"][4] is None
    assert m["per_class_iou"][:4] == pytest.approx([100 * v for v in ious[:4]])
    ref = multiclass_jaccard_index(pred, target, num_classes=k, average="none", ignore_index=255)
    assert m["per_class_iou"][:4] == pytest.approx((100 * ref[:4]).tolist(), abs=1e-4)
