"""Summaries of repeated runs: mean ± sample std, paired differences, text tables."""

import math

import pytest

from cplus_edu.experiments import (
    format_table,
    mean_std,
    paired_differences,
    summarize,
    text_table,
)

ROWS = [
    {"loss": "CE", "seed": 0, "split": 0, "acc": 0.50},
    {"loss": "CE", "seed": 1, "split": 0, "acc": 0.70},
    {"loss": "C+1", "seed": 0, "split": 0, "acc": 0.60, "term": 2.0},
    {"loss": "C+1", "seed": 1, "split": 0, "acc": 0.65, "term": 4.0},
    {"loss": "CE", "seed": 0, "split": 1, "acc": 0.40},
    {"loss": "C+1", "seed": 0, "split": 1, "acc": 0.30, "term": 3.0},
]


def test_mean_std_is_the_sample_std():
    assert mean_std([1.0, 3.0]) == pytest.approx((2.0, math.sqrt(2.0)))
    assert mean_std([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError, match="values is empty"):
        mean_std([])


def test_summarize_groups_in_order_and_marks_missing_metrics():
    summary = summarize(ROWS, ["acc", "term"])
    assert list(summary) == ["CE", "C+1"]
    assert summary["CE"]["acc"][0] == pytest.approx((0.5 + 0.7 + 0.4) / 3)
    assert summary["C+1"]["term"] == pytest.approx((3.0, 1.0))
    assert all(math.isnan(v) for v in summary["CE"]["term"])
    by_split = summarize(ROWS, ["acc"], by="split")
    assert by_split[1]["acc"] == pytest.approx((0.35, math.sqrt(0.005)))
    with pytest.raises(ValueError, match="rows is empty"):
        summarize([], ["acc"])


def test_paired_differences_pair_on_seed_and_split():
    diffs = paired_differences(ROWS, "CE", ["acc"], pair_on=("seed", "split"))
    assert diffs["C+1"]["acc"] == pytest.approx([0.10, -0.05, -0.10])
    # pairing on the seed alone would pair split-1 runs with whichever CE run came last
    with pytest.raises(ValueError, match="no run of the baseline 'SGD'"):
        paired_differences(ROWS, "SGD", ["acc"])


def test_format_table_percent_and_paper_column():
    summary = summarize(ROWS, ["acc", "term"])
    table = format_table(summary, ["acc", "term"], paper={"CE": 75.93})
    header, rule, ce, cplus = table.splitlines()
    assert "paper" in header and set(rule) <= {"-", " "}
    assert "53.3 ±" in ce and ce.rstrip().endswith("75.93") and " - " in ce
    plain = format_table(summary, ["term"], headings=["L_term"], percent=False, digits=3)
    assert "L_term" in plain and "3.000 ± 1.000" in plain
    assert text_table(["a", "bb"], [["x", 1]]).splitlines()[2] == "x  1 "


def test_summarize_and_format_table():
    rows = [{"loss": "CE", "coi_acc": 0.9}, {"loss": "CE", "coi_acc": 0.8},
            {"loss": "C+1", "coi_acc": 0.95}]  # fmt: skip
    summary = summarize(rows, ["coi_acc"])
    assert list(summary) == ["CE", "C+1"]
    assert summary["CE"]["coi_acc"][0] == pytest.approx(0.85)
    assert summary["CE"]["coi_acc"][1] == pytest.approx(0.0707107, rel=1e-5)
    assert summary["C+1"]["coi_acc"] == (0.95, 0.0)
    table = format_table(summary, ["coi_acc"], paper={"CE": 75.93}, paper_heading="paper VOC mIoU")
    assert "85.0 ± 7.1" in table and "75.93" in table and "paper VOC mIoU" in table
    rows.append({"loss": "C+1", "coi_acc": 0.9, "term_compact": 0.2})
    with_terms = summarize(rows, ["coi_acc", "term_compact"])
    assert math.isnan(with_terms["CE"]["term_compact"][0])
    assert with_terms["C+1"]["term_compact"] == (0.2, 0.0)
    assert format_table(with_terms, ["term_compact"]).splitlines()[2].split() == ["CE", "-"]


def test_paired_differences_subtract_the_baseline_of_the_same_seed():
    rows = [{"loss": "CE", "seed": 0, "m": 0.5}, {"loss": "CE", "seed": 1, "m": 0.9},
            {"loss": "A", "seed": 1, "m": 0.8}, {"loss": "A", "seed": 0, "m": 0.7},
            {"loss": "B", "seed": 2, "m": 0.1}]  # fmt: skip
    diffs = paired_differences(rows, "CE", ["m"])
    assert list(diffs) == ["A"]  # B has no baseline run with its seed
    assert diffs["A"]["m"] == pytest.approx([-0.1, 0.2])
    with pytest.raises(ValueError, match="baseline 'XE'"):
        paired_differences(rows, "XE", ["m"])
