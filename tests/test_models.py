"""Models return (features, logits) with the promised shapes, normalisation and errors."""

import pytest
import torch

from cplus_edu import MLP, CosineClassifier, SmallCNN, TinyFCN


def test_mlp_shapes_and_plain_head():
    model = MLP(5, num_classes=4, embedding_dim=3)
    f, z = model(torch.randn(7, 5))
    assert f.shape == (7, 3) and z.shape == (7, 4)
    assert model.head.weight.shape == (4, 3)
    assert torch.allclose(z, model.head(f))


def test_normalised_mlp_is_a_cosine_classifier():
    model = MLP(5, num_classes=4, embedding_dim=3, normalize=True, scale=10.0)
    f, z = model(torch.randn(7, 5))
    assert torch.allclose(f.norm(dim=1), torch.ones(7), atol=1e-6)
    assert isinstance(model.head, CosineClassifier) and model.head.weight.shape == (4, 3)
    w = model.head.weight / model.head.weight.norm(dim=1, keepdim=True)
    assert torch.allclose(z, 10.0 * f @ w.T, atol=1e-5)  # slow obvious cosine
    assert z.abs().max() <= 10.0 + 1e-5


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_small_cnn_shapes(size, channels):
    model = SmallCNN(in_channels=channels, num_classes=10, embedding_dim=2, normalize=True)
    f, z = model(torch.randn(4, channels, size, size))
    assert f.shape == (4, 2) and z.shape == (4, 10)


def test_tiny_fcn_keeps_resolution():
    model = TinyFCN(in_channels=3, num_outputs=4, embedding_dim=8)
    f, z = model(torch.randn(2, 3, 17, 23))
    assert f.shape == (2, 8, 17, 23) and z.shape == (2, 4, 17, 23)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="x must have 5 features"):
        MLP(5, 3)(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"x must be \[N, 1, H, W\]"):
        SmallCNN(1)(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="embedding_dim"):
        MLP(5, 3, embedding_dim=0)
    with pytest.raises(ValueError, match="scale"):
        CosineClassifier(2, 3, scale=0)


def test_channel_attention_cnn_blocks_double_the_width_and_halve_the_maps():
    from cplus_edu import ChannelAttentionCNN

    model = ChannelAttentionCNN(3, 10, width=4, blocks=4)
    pooled, attention, embedding, logits = model.parts(torch.randn(2, 3, 32, 32))
    assert model.channels == 32 and attention.shape == (2, 32) and logits.shape == (2, 10)
    assert model.body(torch.randn(1, 3, 32, 32)).shape == (1, 32, 2, 2)  # 32 / 2^4
    assert ChannelAttentionCNN(1, 10, width=4).channels == 16  # the default: three blocks
    with pytest.raises(ValueError, match="blocks"):
        ChannelAttentionCNN(blocks=0)
