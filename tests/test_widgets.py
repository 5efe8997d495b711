"""The slider panel's logic without a browser: a slider change retrains and redraws new data."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from cplus_edu.data import make_cplus_one_data  # noqa: E402
from cplus_edu.experiments.widgets import BARS, CPlusOnePanel  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return make_cplus_one_data(num_classes=3, n_per_class=40, n_background=120, seed=0)


def _pixels(figure) -> np.ndarray:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    buffer.seek(0)
    return matplotlib.image.imread(buffer)


def test_sliders_do_not_update_continuously_and_output_has_fixed_height(data):
    panel = CPlusOnePanel(data, epochs=2, height="400px")
    for control in (panel.alpha, panel.beta, panel.margin):
        assert control.continuous_update is False
    assert panel.output.layout.height == "400px"
    assert panel.draws == 1  # drawn once on creation
    assert [o[1] for o in panel.centers.options] == ["moving_average", "learnable", "shared"]
    view = panel._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == panel.widget.model_id


def test_moving_a_slider_retrains_and_redraws_different_data(data):
    panel = CPlusOnePanel(data, epochs=3, beta=1e-4)
    before_run, before_pixels = panel.run, _pixels(panel.figure)
    panel.beta.value = 1.0
    assert panel.draws == 2
    assert panel.run is not before_run
    assert panel.run.loss_fn.beta == 1.0
    assert not torch.equal(panel.run.features, before_run.features)
    assert panel.run.history.terms["separability"] != before_run.history.terms["separability"]
    after_pixels = _pixels(panel.figure)
    assert before_pixels.shape == after_pixels.shape
    assert np.abs(before_pixels - after_pixels).max() > 0
    assert "beta=1" in panel.status.value


def test_every_control_reaches_the_loss_and_settings_are_cached(data):
    panel = CPlusOnePanel(data, epochs=2)
    first = panel.run
    panel.alpha.value = 1.0
    panel.margin.value = 1.5
    panel.centers.value = "learnable"
    loss = panel.run.loss_fn
    assert (loss.alpha, loss.margin) == (1.0, 1.5)
    assert type(loss.center_representation).__name__ == "LearnableCenters"
    assert panel.run.margin == 1.5
    assert panel.draws == 4
    # back to the first setting: served from the cache, the very same run, redrawn
    panel.alpha.value, panel.margin.value, panel.centers.value = 0.1, 1.0, "moving_average"
    assert panel.run is first
    assert panel.draws == 7


def test_shared_centres_are_the_classifier_rows(data):
    panel = CPlusOnePanel(data, epochs=2, centers="shared")
    run = panel.run
    weight = torch.nn.functional.normalize(run.model.head.weight.detach()[1:], dim=1)
    torch.testing.assert_close(run.centers, weight)


def test_sphere_panel_and_bad_arguments(data):
    panel = CPlusOnePanel(data, epochs=1, embedding_dim=3)
    assert panel.run.features.shape[1] == 3
    assert panel.figure.axes[0].name == "3d"
    with pytest.raises(ValueError, match="embedding_dim must be 2 or 3"):
        CPlusOnePanel(data, embedding_dim=16)
    with pytest.raises(ValueError, match="centers must be one of"):
        CPlusOnePanel(data, centers="median")


@pytest.mark.parametrize("embedding_dim", [2, 3])
def test_panel_figure_fits_its_output_area_and_no_text_is_cut_off(data, embedding_dim):
    # the notebook draws inline at 100 dpi with a tight bounding box, in an output area of fixed
    # height whose overflow is hidden: the figure must fit, and every label must lie inside it
    panel = CPlusOnePanel(data, epochs=1, embedding_dim=embedding_dim)
    figure = panel.figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    buffer.seek(0)
    height, width = matplotlib.image.imread(buffer).shape[:2]
    assert height <= int(panel.output.layout.height.removesuffix("px")) - 20
    assert width <= 1300
    canvas = FigureCanvasAgg(figure)  # the panel closed its figure; draw it on a fresh canvas
    figure.set_dpi(100)
    canvas.draw()
    renderer = canvas.get_renderer()
    drawn = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)  # in pixels
    box = figure.bbox
    assert box.x0 - 1 <= drawn.x0 and drawn.x1 <= box.x1 + 1, (drawn, box)
    assert box.y0 - 1 <= drawn.y0 and drawn.y1 <= box.y1 + 1, (drawn, box)
    bars = figure.axes[-1]
    names = [t.get_text() for t in bars.get_yticklabels()]
    assert names == [name for name, _ in BARS]  # read in full ...
    extents = [t.get_window_extent(renderer) for t in bars.get_yticklabels()]
    for upper, lower in zip(extents, extents[1:]):  # ... first bar on top, labels apart
        assert upper.y0 > lower.y1
    values = bars.texts  # the bar_label values stay inside the bar axes
    assert len(values) == len(BARS)
    for text in values:
        assert text.get_window_extent(renderer).x1 <= bars.get_window_extent(renderer).x1
