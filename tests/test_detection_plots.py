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
    hidden = plot_detections(ax, image, detections, gt_boxes, gt_labels, names, min_score=0.3)
    texts = {t.get_text(): t.get_position() for t in ax.texts}
    # ground truth keeps its own class (no shift of the label index); the best detection of the
    # first object is drawn with its score, the second one on it is counted, the weak one dropped
    assert set(texts) == {"zero", "four", "zero 0.90"}
    assert hidden == 1 and "1 lower-scored" in ax.get_xlabel()
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == 2 + 1
    plt.close(fig)


def test_a_detection_on_no_object_is_drawn_and_labels_do_not_overlap():
    image = torch.zeros(1, 32, 32)
    gt_boxes = torch.tensor([[4.0, 10, 14, 20]])
    detections = {  # a good detection and a stray one whose label would land on the same spot
        "boxes": torch.tensor([[4.0, 10, 14, 20], [5, 11, 9, 13]]),
        "scores": torch.tensor([0.8, 0.5]),
        "labels": torch.tensor([1, 2]),
    }
    fig, ax = plt.subplots()
    hidden = plot_detections(ax, image, detections, gt_boxes, torch.tensor([1]), "012")
    positions = {t.get_text(): t.get_position() for t in ax.texts}
    assert hidden == 0 and set(positions) == {"1", "1 0.80", "2 0.50"}
    (x1, y1), (x2, y2) = positions["1 0.80"], positions["2 0.50"]
    assert abs(x1 - x2) < 14 and abs(y1 - y2) >= 4  # moved apart
    styles = sorted(p.get_linestyle() for p in ax.patches if isinstance(p, Rectangle))
    assert styles == ["-", "--", ":"]  # the object, its detection, the stray detection
    plt.close(fig)
