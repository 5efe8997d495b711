"""Chapter 07 figures: detections and ground truth drawn with readable, non-overlapping labels."""

import matplotlib
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cplus_edu.detection import plot_detections  # noqa: E402


def test_ground_truth_and_detections_with_their_own_class_names():
    image = torch.zeros(1, 32, 32)
    gt_boxes = torch.tensor([[4.0, 4, 14, 16], [18, 18, 28, 30]])
    gt_labels = torch.tensor([0, 4])
    # two detections on the first object (different classes, nearly the same box), one weak
    detections = {
        "boxes": torch.tensor([[4.0, 5, 14, 16], [5, 4, 14, 15], [18, 18, 27, 30]]),
        "scores": torch.tensor([0.9, 0.6, 0.2]),
        "labels": torch.tensor([0, 3, 4]),
    }
    names = ("zero", "one", "two", "three", "four")
    fig, ax = plt.subplots()
    plot_detections(ax, image, detections, gt_boxes, gt_labels, names, min_score=0.3)
    texts = {t.get_text(): t.get_position() for t in ax.texts}
    # ground truth keeps its own class (no shift of the label index), detections show scores
    assert set(texts) == {"zero", "four", "zero 0.90", "three 0.60"}
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == 2 + 2  # the detection below min_score is not drawn
    # the two labels of the first object's detections are not drawn on top of each other
    (x1, y1), (x2, y2) = texts["zero 0.90"], texts["three 0.60"]
    assert abs(x1 - x2) < 2 and abs(y1 - y2) >= 4
    plt.close(fig)
