"""cplus_edu.voc.model (mmseg's DeepLabV3+ R50-D8), .weights (mmcv / timm backbone checkpoints),
.criterion (mmseg's CE averaging) and .evaluate (mIoU, mAcc, aAcc)."""

import urllib.error

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import multiclass_jaccard_index

from cplus_edu.losses import CPlusOneLoss
from cplus_edu.voc import build_model, confusion_matrix, get_config, metrics_from_confusion
from cplus_edu.voc.criterion import SegmentationCriterion, cross_entropy
from cplus_edu.voc.model import SegmentationOutput
from cplus_edu.voc.weights import OPEN_MMLAB_URLS, load_backbone_weights

PAPER = get_config("paper-voc-20k")


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return build_model(PAPER)


def mmseg_parameter_count(k=21):
    """deeplabv3plus_r50-d8 counted from mmseg's config, one layer at a time (BN: 2 per channel)."""
    bn = lambda c: 2 * c  # noqa: E731
    n = 3 * 32 * 9 + bn(32) + 32 * 32 * 9 + bn(32) + 32 * 64 * 9 + bn(64)  # deep stem
    cin = 64
    for i, blocks in enumerate((3, 4, 6, 3)):  # ResNet-50 bottlenecks
        p = 64 * 2**i
        n += cin * 4 * p + bn(4 * p)  # the first block's 1x1 downsample
        for b in range(blocks):
            n += (cin if b == 0 else 4 * p) * p + bn(p) + p * p * 9 + bn(p) + p * 4 * p + bn(4 * p)
        cin = 4 * p

    def separable(cin, cout):  # depthwise 3x3 + BN, pointwise 1x1 + BN
        return cin * 9 + bn(cin) + cin * cout + bn(cout)

    n += 2 * (2048 * 512 + bn(512))  # image pool and the 1x1 branch
    n += 3 * separable(2048, 512)  # rates 12, 24, 36
    n += 2560 * 512 * 9 + bn(512)  # full 3x3 bottleneck
    n += 256 * 48 + bn(48)  # c1 bottleneck
    n += separable(560, 512) + separable(512, 512)  # sep_bottleneck
    n += 512 * k + k  # conv_seg
    n += 1024 * 256 * 9 + bn(256) + 256 * k + k  # auxiliary FCNHead
    return n


def test_paper_model_has_mmsegs_43_6_million_parameters(paper_model):
    n = sum(p.numel() for p in paper_model.parameters())
    assert n == mmseg_parameter_count(21)
    assert round(n / 1e6, 1) == 43.6


def test_backbone_is_resnetv1c_with_deep_stem_and_contracted_dilation(paper_model):
    bb = paper_model.backbone
    convs = [m.conv for m in bb.stem]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (3, 32, (3, 3), (2, 2)), (32, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1))]  # fmt: skip
    assert all(isinstance(m.bn, nn.BatchNorm2d) and isinstance(m.relu, nn.ReLU) for m in bb.stem)
    # strides (1, 2, 1, 1) in the 3x3 conv ("pytorch" style); dilations (1, 1, 2, 4) contracted
    blocks = {name: getattr(bb, name) for name in ("layer1", "layer2", "layer3", "layer4")}
    assert [len(b) for b in blocks.values()] == [3, 4, 6, 3]
    assert [b[0].conv2.stride for b in blocks.values()] == [(1, 1), (2, 2), (1, 1), (1, 1)]
    assert [b.conv2.dilation[0] for b in blocks["layer3"]] == [1, 2, 2, 2, 2, 2]
    assert [b.conv2.dilation[0] for b in blocks["layer4"]] == [2, 4, 4]
    assert all(b.conv2.padding == b.conv2.dilation for layer in blocks.values() for b in layer)
    ds = blocks["layer3"][0].downsample  # 1x1 conv + BN shortcut, stride 1 at output stride 8
    assert ds[0].kernel_size == (1, 1) and ds[0].stride == (1, 1) and ds[0].out_channels == 1024


def test_head_is_mmsegs_depthwise_separable_aspp_and_fcn_aux(paper_model):
    head = paper_model.head
    assert head.image_pool[1].conv.in_channels == 2048 and head.aspp[0].conv.kernel_size == (1, 1)
    for branch, rate in zip(head.aspp[1:], (12, 24, 36)):
        dw, pw = branch.depthwise, branch.pointwise
        assert dw.conv.groups == 2048 and dw.conv.dilation == (rate, rate)
        assert dw.conv.padding == (rate, rate) and pw.conv.kernel_size == (1, 1)
        assert pw.conv.out_channels == 512
        for part in (dw, pw):  # BN + ReLU after the depthwise and after the pointwise conv
            assert [type(m) for m in part] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    b = head.bottleneck.conv  # a full (not separable) 3x3 conv 2560 -> 512
    assert (b.in_channels, b.out_channels, b.kernel_size, b.groups) == (2560, 512, (3, 3), 1)
    assert (head.skip.conv.in_channels, head.skip.conv.out_channels) == (256, 48)
    d1, d2 = head.decoder
    assert (d1.depthwise.conv.groups, d1.pointwise.conv.in_channels) == (560, 560)
    assert (d2.depthwise.conv.groups, d2.pointwise.conv.out_channels) == (512, 512)
    for dropout in (paper_model.dropout, paper_model.aux_head.dropout):
        assert isinstance(dropout, nn.Dropout2d) and dropout.p == 0.1
    aux = paper_model.aux_head.conv.conv
    assert (aux.in_channels, aux.out_channels, aux.kernel_size) == (1024, 256, (3, 3))
    assert paper_model.classifier.weight.shape == (21, 512, 1, 1)
    assert paper_model.aux_head.classifier.weight.shape == (21, 256, 1, 1)


def test_paper_model_output_stride_8_shapes_and_gradients(paper_model):
    x = torch.randn(2, 3, 65, 65)
    seen = {}
    hook = paper_model.backbone.layer4.register_forward_hook(
        lambda m, i, o: seen.update(c4=o.shape))  # fmt: skip
    paper_model.train()
    out = paper_model(x)
    hook.remove()
    assert seen["c4"] == (2, 2048, 9, 9)  # 65 / 8, rounded up: output stride 8
    assert out.features.shape == (2, 512, 17, 17) and out.logits.shape == (2, 21, 17, 17)
    assert out.aux_logits.shape == (2, 21, 9, 9)
    paper_model.zero_grad()
    (out.logits.square().mean() + out.aux_logits.square().mean()).backward()
    assert all(p.grad is not None for p in paper_model.parameters())
    # zero_init_residual: every block starts as the identity (last BN weight 0), so inside a
    # block only that BN gets a gradient at first; the stem and the heads get theirs
    bb = paper_model.backbone
    assert all(not b.bn3.weight.detach().any() for layer in (bb.layer1, bb.layer4) for b in layer)
    for part in (bb.stem, bb.layer4[2].bn3, paper_model.head, paper_model.aux_head,
                 paper_model.classifier):  # fmt: skip
        assert all(p.grad.abs().sum() > 0 for p in part.parameters()), part
    paper_model.eval()
    with torch.no_grad():
        assert paper_model(x).aux_logits is None


def test_smoke_model_is_resnetv1c_18_at_stride_8_and_converts_to_syncbn():
    model = build_model(get_config("cpu-smoke"))
    assert [len(getattr(model.backbone, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]
    out = model(torch.randn(2, 3, 48, 48))
    assert out.features.shape == (2, 64, 12, 12) and out.aux_logits.shape[-1] == 6
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    kinds = {type(m) for m in synced.modules()}
    assert nn.SyncBatchNorm in kinds and nn.BatchNorm2d not in kinds


# --- backbone weights -------------------------------------------------------------------------


def mmcv_names(depth=50):
    """mmcv's ResNetV1c state-dict names in its order, written from mmseg's resnet.py."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    names = [f"stem.{i}.{p}" for j in (0, 3, 6) for i, ps in ((j, ("weight",)), (j + 1, bn))
             for p in ps]  # fmt: skip
    blocks, convs = ((3, 4, 6, 3), 3) if depth == 50 else ((2, 2, 2, 2), 2)
    for stage, n in enumerate(blocks, start=1):
        for b in range(n):
            for c in range(1, convs + 1):
                names += [f"layer{stage}.{b}.conv{c}.weight"]
                names += [f"layer{stage}.{b}.bn{c}.{p}" for p in bn]
            if b == 0 and (stage > 1 or depth == 50):
                names += [f"layer{stage}.0.downsample.0.weight"]
                names += [f"layer{stage}.0.downsample.1.{p}" for p in bn]
    return names


def timm_name(mmcv):
    stem = {"stem.0.": "conv1.0.", "stem.1.": "conv1.1.", "stem.3.": "conv1.3.",
            "stem.4.": "conv1.4.", "stem.6.": "conv1.6.", "stem.7.": "bn1."}  # fmt: skip
    for a, b in stem.items():
        if mmcv.startswith(a):
            return b + mmcv[len(a) :]
    return mmcv


def imagenet_like_state(model, naming="mmcv", depth=50):
    """A checkpoint as mmcv (or timm) would store it: its own names, our tensors in that order
    (shuffled values, so a swapped pair would show), plus the ImageNet classifier."""
    g = torch.Generator().manual_seed(1)
    ours = list(model.backbone.state_dict().values())
    names = mmcv_names(depth)
    assert len(names) == len(ours)
    state = {}
    for name, t in zip(names, ours):
        value = t.clone() if t.dtype == torch.long else torch.randn(t.shape, generator=g)
        state[timm_name(name) if naming == "timm" else name] = value
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 2048), torch.randn(1000)
    return state


@pytest.mark.parametrize("naming", ["mmcv", "timm", "mmseg-full"])
def test_a_local_checkpoint_loads_every_backbone_tensor(tmp_path, naming):
    torch.manual_seed(0)
    model = build_model(PAPER)
    state = imagenet_like_state(model, "timm" if naming == "timm" else "mmcv")
    if naming == "mmseg-full":  # a whole mmseg model: take its backbone, leave the heads
        state = {"meta": {"CLASSES": ["background"]}, "state_dict": {
            **{f"backbone.{k}": v for k, v in state.items() if not k.startswith("fc.")},
            "decode_head.conv_seg.weight": torch.randn(21, 512, 1, 1)}}  # fmt: skip
        flat = {k[len("backbone.") :]: v for k, v in state["state_dict"].items()
                if k.startswith("backbone.")}  # fmt: skip
    else:
        flat = {k: v for k, v in state.items() if not k.startswith("fc.")}
    path = tmp_path / "resnet50_v1c.pth"
    torch.save(state, path)
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    message = load_backbone_weights(model.backbone, str(path), "resnet50_v1c")
    loaded = model.backbone.state_dict()
    assert len(loaded) == len(flat) and str(len(flat)) in message
    ours = list(loaded.values())
    for i, (name, value) in enumerate(flat.items()):
        assert torch.equal(ours[i], value), name  # every tensor, in mmcv's order
    assert torch.equal(model.backbone.stem[0].conv.weight, flat[
        "conv1.0.weight" if naming == "timm" else "stem.0.weight"])  # fmt: skip
    assert all(torch.equal(v, model.head.state_dict()[k]) for k, v in head_before.items())


def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_keys(tmp_path):
    model = build_model(PAPER)
    state = imagenet_like_state(model)
    del state["layer4.2.conv3.weight"]
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(ValueError, match=r"1 missing .*layer4\.2\.conv3\.weight.*layer5"):
        load_backbone_weights(model.backbone, str(tmp_path / "w.pth"), "resnet50_v1c")
    with pytest.raises(FileNotFoundError, match="not a file"):
        load_backbone_weights(model.backbone, str(tmp_path / "absent.pth"), "resnet50_v1c")


def test_open_mmlab_goes_through_torch_hub_without_the_network(monkeypatch):
    model = build_model(get_config("cpu-smoke"))
    state = imagenet_like_state(model, depth=18)
    state.pop("fc.weight"), state.pop("fc.bias")
    urls = []

    def fake_hub(url, **kwargs):  # what torch.hub would return after downloading `url`
        urls.append(url)
        return state

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_hub)
    load_backbone_weights(model.backbone, "open-mmlab", "resnet18_v1c")
    assert urls == [OPEN_MMLAB_URLS["resnet18_v1c"]]
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert OPEN_MMLAB_URLS["resnet50_v1c"].endswith("/third_party/resnet50_v1c-2cccc1ad.pth")

    def offline(url, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="could not download .*--backbone-weights FILE"):
        load_backbone_weights(model.backbone, "open-mmlab", "resnet18_v1c")


# --- the loss's averaging -----------------------------------------------------------------------


def test_cross_entropy_averages_like_mmseg_over_all_pixels_or_over_valid_ones():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=g, dtype=torch.float64)
    target = torch.randint(0, 4, (2, 5, 6), generator=g)
    target[0, :2] = 255
    total, valid = 0.0, 0
    for b in range(2):  # the slow way
        for i in range(5):
            for j in range(6):
                if target[b, i, j] != 255:
                    z = logits[b, :, i, j]
                    total += float(torch.logsumexp(z, 0) - z[target[b, i, j]])
                    valid += 1
    assert cross_entropy(logits, target, 255, "all").item() == pytest.approx(total / 60)
    assert cross_entropy(logits, target, 255, "valid").item() == pytest.approx(total / valid)
    # mmseg's CrossEntropyLoss(avg_non_ignore=False): per-pixel loss (0 on void), then .mean()
    mmseg = F.cross_entropy(logits, target, ignore_index=255, reduction="none").mean()
    assert cross_entropy(logits, target, 255, "all").item() == pytest.approx(mmseg.item())
    assert cross_entropy(logits, target.fill_(255), 255, "valid").item() == 0.0
    with pytest.raises(ValueError, match="average must be"):
        cross_entropy(logits, target, 255, "mean")


def test_paper_config_averages_like_mmseg_and_valid_is_cplusoneloss():
    assert PAPER.ce_average == "all"
    with pytest.raises(ValueError, match="ce_average must be one of"):
        PAPER.replace(ce_average="batch")
    cfg = get_config("cpu-smoke")
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 64, 4, 4, generator=g)
    out = SegmentationOutput(features, torch.randn(2, 21, 4, 4, generator=g), None)
    target = torch.randint(0, 21, (2, 16, 16), generator=g)
    target[:, :5] = 255
    logits = F.interpolate(out.logits, size=(16, 16), mode="bilinear", align_corners=False)
    valid = SegmentationCriterion(cfg.replace(ce_average="valid"), "cplus1")
    reference = CPlusOneLoss(21, 64, alpha=cfg.alpha, beta=cfg.beta, margin=cfg.margin,
                             ignore_index=255)  # fmt: skip
    start = {k: v.clone() for k, v in valid.state_dict().items()}  # the centres before a call
    reference.load_state_dict(valid.cplus.state_dict())
    assert valid(out, target).item() == pytest.approx(reference(features, logits, target).item())
    assert torch.allclose(valid.centers, reference.centers)  # the moving average moved alike
    mmseg = SegmentationCriterion(cfg.replace(ce_average="all"), "cplus1")
    mmseg.load_state_dict(start)
    share = (target != 255).float().mean().item()  # 11/16 of the pixels are labelled
    sep = valid.terms["separability"].item()
    got = mmseg(out, target).item()
    assert mmseg.terms["separability"].item() == pytest.approx(sep * share)
    assert got == pytest.approx(valid.terms["main"].item() - sep * (1 - share), rel=1e-5)


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
