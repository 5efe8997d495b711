"""Slider panels for the notebooks (ipywidgets).

``CPlusOnePanel``: sliders for the C+1 loss's weights ``alpha`` (compactness) and ``beta``
(background margin) and its margin ``m_b``, and a dropdown for the centre representation
(learnable, moving average, shared). Releasing a slider retrains the small normalised MLP of
``cplus_edu.experiments.hypersphere`` on the synthetic C+1 data (a few seconds; sliders use
``continuous_update=False``, and every setting already trained is served from a cache) and redraws
three panels in an output area of fixed height:

1. the embedding on the circle (2-D) or sphere (3-D) with the centres and margin bands;
2. the three loss terms (unweighted, per epoch) during training;
3. the measurements of ``embedding_report``: intra-class spread, distance from the
   background to the nearest centre, and rejection of the held-out novel background style.

Use: ``panel = CPlusOnePanel(data)`` and leave ``panel`` as the last expression of a cell.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from .hypersphere import EmbeddingRun, train_embedding

CENTER_CHOICES = (("moving average", "moving_average"), ("learnable", "learnable"),
                  ("shared (classifier weights)", "shared"))  # fmt: skip
BARS = (  # (label, key of embedding_report); drawn top to bottom
    ("intra-class spread\n(distance)", "intra_class_spread"),
    ("background to nearest\ncentre (distance)", "background_to_nearest_center"),
    ("novel background\nrejected (share)", "novel_background_rejection"),
)
FIGURE_SIZE = (12.5, 3.7)  # inches; at the notebook's 100 dpi it fits the 420 px output area


def draw_panel(run: EmbeddingRun, alpha: float, beta: float, title: str = ""):
    """The three-panel figure for one trained ``run``; returns the matplotlib ``Figure``.

    ``FIGURE_SIZE`` keeps the figure inside the panel's fixed-height output area; the measured
    values are horizontal bars so that their names read in full.
    """
    import matplotlib.pyplot as plt

    from cplus_edu.viz.hypersphere import plot_circle, plot_sphere

    dim = run.features.shape[1]
    if dim not in (2, 3):
        raise ValueError(f"the panel draws 2-D or 3-D embeddings, got embedding_dim={dim}")
    fig = plt.figure(figsize=FIGURE_SIZE)
    grid = fig.add_gridspec(1, 3, width_ratios=(1.0 if dim == 2 else 1.3, 1.1, 1.0))
    ax = fig.add_subplot(grid[0], projection="3d" if dim == 3 else None)
    draw = plot_circle if dim == 2 else plot_sphere
    draw(
        run.features,
        run.labels,
        run.centers,
        run.margin,
        novel=run.novel_features,
        ax=ax,
        title="embedding",
    )
    if dim == 3:
        ax.set_box_aspect((1, 1, 1), zoom=1.2)  # a 3-D axes leaves much empty room around itself
    ax = fig.add_subplot(grid[1])
    epochs = range(1, run.history.epochs + 1)
    weights = {"separability": 1.0, "compact": alpha, "background": beta}
    for name, values in run.history.terms.items():
        ax.plot(epochs, values, label=f"{name} (weight {weights.get(name, 1.0):.2g})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("epoch mean (unweighted)")
    ax.set_title("the three terms of eq. (1)", fontsize=10)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[2])
    report = run.report()
    values = [report[key] for _, key in BARS]
    positions = range(len(BARS))[::-1]  # first bar on top
    bars = ax.barh(list(positions), values, color=["tab:blue", "tab:orange", "tab:green"])
    ax.set_yticks(list(positions), [name for name, _ in BARS], fontsize=8)
    ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    ax.set_xlim(0, max(1.1, max(values) * 1.2))
    ax.set_xlabel("distance on the unit sphere / share")
    ax.set_title("measured (class means as centres)", fontsize=10)
    fig.suptitle(title, fontsize=11)
    # tight_layout underestimates a 3-D axes' labels: keep a margin on the left and at the bottom
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0) if dim == 2 else (0.03, 0.03, 1.0, 1.0))
    return fig


class CPlusOnePanel:
    """alpha / beta / margin sliders and a centre dropdown that retrain and redraw on release.

    ``data``: a ``SyntheticCPlusOne`` (``cplus_edu.data.make_cplus_one_data``) whose ``dim`` may
    differ from ``embedding_dim`` (2 draws a circle, 3 a sphere). ``epochs`` and ``seed`` are
    passed to ``train_embedding``. ``height`` fixes the output area so the page does not jump.
    After each redraw, ``run`` is the trained ``EmbeddingRun``, ``figure`` the drawn figure and
    ``draws`` counts redraws; ``cache_size`` trained settings are kept.
    """

    def __init__(
        self,
        data,
        *,
        embedding_dim: int = 2,
        epochs: int = 30,
        seed: int = 0,
        alpha: float = 0.1,
        beta: float = 1e-4,
        margin: float = 1.0,
        centers: str = "moving_average",
        height: str = "420px",
        cache_size: int = 64,
    ):
        import ipywidgets as w

        if embedding_dim not in (2, 3):
            raise ValueError(f"embedding_dim must be 2 or 3 to be drawn, got {embedding_dim}")
        if centers not in dict(CENTER_CHOICES).values():
            raise ValueError(
                f"centers must be one of {[v for _, v in CENTER_CHOICES]}, got {centers!r}"
            )
        self.data, self.embedding_dim, self.epochs, self.seed = data, embedding_dim, epochs, seed
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, EmbeddingRun] = OrderedDict()
        self.run: EmbeddingRun | None = None
        self.figure = None
        self.draws = 0
        style = {"description_width": "60px"}
        self.alpha = w.FloatLogSlider(
            value=alpha,
            base=10,
            min=-3,
            max=1,
            step=0.5,
            description="alpha",
            continuous_update=False,
            style=style,
            readout_format=".3g",
        )
        self.beta = w.FloatLogSlider(
            value=beta,
            base=10,
            min=-5,
            max=1,
            step=0.5,
            description="beta",
            continuous_update=False,
            style=style,
            readout_format=".3g",
        )
        self.margin = w.FloatSlider(
            value=margin,
            min=0.0,
            max=2.0,
            step=0.1,
            description="margin",
            continuous_update=False,
            style=style,
        )
        self.centers = w.Dropdown(
            options=CENTER_CHOICES, value=centers, description="centres", style=style
        )
        self.status = w.HTML()
        controls = {
            "alpha": self.alpha,
            "beta": self.beta,
            "margin": self.margin,
            "centers": self.centers,
        }
        self.output = w.interactive_output(self._redraw, controls)
        self.output.layout.height = height
        self.output.layout.overflow = "hidden"
        self.widget = w.VBox(
            [
                w.HBox([self.alpha, self.beta]),
                w.HBox([self.margin, self.centers]),
                self.status,
                self.output,
            ]
        )

    def train(self, alpha: float, beta: float, margin: float, centers: str) -> EmbeddingRun:
        """The run for one setting: from the cache if it was trained before, else trained now."""
        key = (round(alpha, 12), round(beta, 12), round(margin, 12), centers)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        run = train_embedding(
            self.data,
            "cplus_one",
            embedding_dim=self.embedding_dim,
            alpha=alpha,
            beta=beta,
            margin=margin,
            centers=centers,
            epochs=self.epochs,
            seed=self.seed,
        )
        self._cache[key] = run
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return run

    def _redraw(self, alpha: float, beta: float, margin: float, centers: str) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        start = time.perf_counter()
        self.run = self.train(alpha, beta, margin, centers)
        seconds = time.perf_counter() - start
        title = (
            f"C+1 loss: alpha={alpha:.3g}, beta={beta:.3g}, margin={margin:.2g}, centres={centers}"
        )
        self.figure = draw_panel(self.run, alpha, beta, title)
        display(self.figure)
        plt.close(self.figure)
        self.draws += 1
        self.status.value = f"<small>ready: {title}; trained/fetched in {seconds:.1f} s</small>"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
