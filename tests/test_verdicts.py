"""The shared verdict rule and the ledger check (cplus_edu.experiments.verdicts / ledger)."""

import math
import statistics

import pytest
from scipy import stats

from cplus_edu.experiments.ledger import Claim, check_ledger, claims_markdown, read_ledger
from cplus_edu.experiments.verdicts import (
    DIRECTION_ONLY,
    HOLDS,
    INCONCLUSIVE,
    NOT_AT_THIS_SCALE,
    all_of,
    paired_verdict,
)


def slow_interval(d, confidence=0.95):
    """The t interval written out from scipy's own one-sample t machinery."""
    sem = stats.sem(d)
    return stats.t.interval(confidence, len(d) - 1, loc=statistics.mean(d), scale=sem)


@pytest.mark.parametrize("d", [[1.0, 2.0, 3.0], [3.1, -0.6, -1.7], [0.2, 0.25, 0.1, 0.4, -0.05]])
def test_interval_matches_scipy(d):
    e = paired_verdict(d)
    low, high = slow_interval(d)
    assert math.isclose(e.low, low, abs_tol=1e-12) and math.isclose(e.high, high, abs_tol=1e-12)
    assert e.n == len(d) and e.up == sum(x > 0 for x in d)


def test_the_four_statistical_verdicts():
    assert paired_verdict([1.0, 1.2, 0.9]).verdict == HOLDS
    # ch09's CIFAR-10 gains of the failing AMD run: within noise, not a loss
    assert paired_verdict([3.1, -0.6, -1.7]).verdict == INCONCLUSIVE
    assert paired_verdict([-1.0, -1.2, -0.9]).verdict == NOT_AT_THIS_SCALE
    # real here but wholly below the paper's effect, in the same units
    assert paired_verdict([0.30, 0.32, 0.31], paper_effect=0.85).verdict == DIRECTION_ONLY
    assert paired_verdict([0.80, 0.95, 0.9], paper_effect=0.85).verdict == HOLDS


def test_three_of_three_up_is_not_enough_when_the_spread_is_large():
    assert paired_verdict([0.1, 5.0, 0.2]).verdict == INCONCLUSIVE


def test_degenerate_inputs():
    assert paired_verdict([]).verdict == INCONCLUSIVE
    assert paired_verdict([2.0]).verdict == INCONCLUSIVE  # one pair: no spread to compare with
    assert paired_verdict([0.0, 0.0, 0.0]).verdict == INCONCLUSIVE
    assert paired_verdict([0.5, 0.5]).verdict == HOLDS  # identical pairs: no noise at all
    with pytest.raises(ValueError, match="differences"):
        paired_verdict([1.0, math.nan])
    with pytest.raises(ValueError, match="paper_effect"):
        paired_verdict([1.0, 2.0], paper_effect=-1.0)
    with pytest.raises(ValueError, match="confidence"):
        paired_verdict([1.0, 2.0], confidence=1.5)


def test_describe():
    e = paired_verdict([0.01, 0.02, 0.03])
    assert e.describe(scale=100) == "+2.0 [-0.5, +4.5], 3/3 up"
    assert paired_verdict([0.5]).describe() == "+0.5 (1 pair), 1/1 up"


LEDGER = """# test
| id | source | claim | paper | ours | scale | verdict | chapter |
|---|---|---|---|---|---|---|---|
| 09-a | CC-loss [5] | a | 1 | 2 | teaching | **holds** | 09_cc_loss |
| 09-b | CC-loss [5] | b | 1 | 2 | teaching | inconclusive at this scale or holds | 09_cc_loss |
| 08-c | CC-loss [5] | c | 1 | 2 | reference | holds | 08_margin_family |
"""


def claim(i, verdict):
    return Claim(id=i, claim="c", paper="p", ours="o", verdict=verdict)


def test_check_ledger_agrees_and_disagrees(tmp_path, capsys):
    path = tmp_path / "CLAIMS.md"
    path.write_text(LEDGER)
    assert set(read_ledger(path)) == {"09-a", "09-b", "08-c"}
    check_ledger([claim("09-a", HOLDS), claim("09-b", HOLDS)], "09_cc_loss", path)
    check_ledger([claim("09-a", HOLDS), claim("09-b", INCONCLUSIVE)], "09_cc_loss", path)
    assert "agrees" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="09-a: verdict here"):
        check_ledger([claim("09-a", INCONCLUSIVE), claim("09-b", HOLDS)], "09_cc_loss", path)
    with pytest.raises(AssertionError, match="09-b: in CLAIMS.md"):
        check_ledger([claim("09-a", HOLDS)], "09_cc_loss", path)
    with pytest.raises(AssertionError, match="09-z: measured here"):
        check_ledger([claim("09-a", HOLDS), claim("09-b", HOLDS), claim("09-z", HOLDS)],
                     "09_cc_loss", path)  # fmt: skip
    with pytest.raises(AssertionError, match="08-c: measured here at teaching scale"):
        check_ledger([claim("08-c", HOLDS)], "08_margin_family", path)
    stored = Claim("08-c", "c", "p", "o", HOLDS, scale="reference")
    check_ledger([stored], "08_margin_family", path)
    assert "stored reference results" in claims_markdown([stored]).data


def test_read_ledger_refuses_malformed_tables(tmp_path):
    path = tmp_path / "CLAIMS.md"
    path.write_text(LEDGER.replace("**holds** |", "**mostly holds** |"))
    with pytest.raises(ValueError, match="unknown verdict"):
        read_ledger(path)
    path.write_text(LEDGER + LEDGER.splitlines()[-1] + "\n")
    with pytest.raises(ValueError, match="used twice"):
        read_ledger(path)
    path.write_text(LEDGER.replace("| reference |", "| paper scale |"))
    with pytest.raises(ValueError, match="scale 'paper scale'"):
        read_ledger(path)


def test_claim_refuses_unknown_verdicts_and_renders_markdown():
    with pytest.raises(ValueError, match="verdict"):
        claim("09-a", "works")
    with pytest.raises(ValueError, match="scale must be one of"):
        Claim("09-a", "c", "p", "o", HOLDS, scale="paper")
    text = claims_markdown([Claim("09-a", "x | y", "1", "2", HOLDS)]).data
    assert "x \\| y" in text and "**holds**" in text


def test_all_of():
    holds = paired_verdict([1.0, 1.2, 1.1])
    up_small = paired_verdict([1.0, 1.2, 1.1], paper_effect=9)
    unclear, against = paired_verdict([1.0, -1.0, 0.5]), paired_verdict([-1.0, -1.2, -1.1])
    assert (holds.verdict, up_small.verdict) == ("holds", "holds in direction only")
    assert all_of([holds, holds]) == "holds"
    assert all_of([holds, up_small]) == "holds in direction only"
    assert all_of([holds, unclear]) == "inconclusive at this scale"
    assert all_of([unclear, against, holds]) == "does not reproduce at this scale"
    with pytest.raises(ValueError, match="at least one"):
        all_of([])
