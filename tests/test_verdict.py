"""Package checks and claims: every constructor can fail, the claim rule reaches each status."""

import json
import math

import numpy as np
import pytest

from clustertheory.verdict import STATUSES, Check, Claim, Verdict

SOURCE = "Example et al. 2023, Sec. 1"


def gain_claim(treated, control, minimal_effect=0.1, preconditions=(), direction="greater"):
    return Claim.from_paired("gain", SOURCE, "the treatment helps", treated, control, "accuracy",
                             minimal_effect=minimal_effect, direction=direction, preconditions=preconditions)


# ----------------------------------------------------------------------------- checks


@pytest.mark.parametrize(
    "make, passes, fails",
    [
        (lambda x: Check.at_most("c", x, 1.0), 1.0, 1.01),
        (lambda x: Check.below("c", x, 1.0), 0.99, 1.0),
        (lambda x: Check.at_least("c", x, 1.0), 1.0, 0.99),
        (lambda x: Check.above("c", x, 1.0), 1.01, 1.0),
        (lambda x: Check.within("c", x, 1.0, 0.1), 1.05, 1.2),
        (lambda x: Check.equal("c", x, 3), 3, 4),
        (lambda x: Check.within_z("c", x, 1.0, 0.1, z=3), 1.29, 1.31),
        (lambda x: Check.all_of("c", x), [True, True], [True, False]),
        (lambda x: Check.none_of("c", x), [False], [False, True]),
    ],
)
def test_every_check_constructor_passes_and_fails(make, passes, fails):
    assert make(passes).passed and not make(fails).passed


def test_a_nan_measurement_fails_every_comparison():
    for make in (Check.at_most, Check.below, Check.at_least, Check.above):
        assert not make("c", float("nan"), 0.0).passed
    assert not Check.within("c", float("nan"), 0.0, 1.0).passed


def test_empty_flag_lists_fail():
    assert not Check.all_of("c", []).passed and not Check.none_of("c", []).passed


def test_check_text_states_the_predicate_once():
    check = Check.at_most("gap", 0.25, 1e-6)
    assert check.requirement == "<= 1e-06"
    assert check.line() == "[FAIL] gap: measured 0.25, required <= 1e-06"
    assert check.as_dict() == {"name": "gap", "measured": 0.25, "requirement": "<= 1e-06", "passed": False}


# ----------------------------------------------------------------------------- the claim rule


def test_the_rule_reaches_each_status_from_constructed_samples():
    control = np.zeros(12)
    clear_gain = np.linspace(0.3, 0.4, 12)  # interval well above 0.1
    no_gain = np.linspace(-0.02, 0.02, 12)  # interval around 0, below 0.1
    noisy = np.array([0.6, -0.5, 0.4, -0.3, 0.5, -0.2, 0.3, 0.1, -0.4, 0.6, 0.2, -0.1])  # interval covers 0.1
    assert gain_claim(clear_gain, control).status == "reproduced"
    assert gain_claim(no_gain, control).status == "not-reproduced"
    assert gain_claim(noisy, control).status == "inconclusive"
    unmet = Check.at_least("the regulariser carries >= 5 % of the gradient", 0.001, 0.05)
    assert gain_claim(clear_gain, control, preconditions=[unmet]).status == "not-testable"
    met = Check.at_least("the regulariser carries >= 5 % of the gradient", 0.2, 0.05)
    assert gain_claim(clear_gain, control, preconditions=[met]).status == "reproduced"


def test_the_rule_mirrors_for_claims_of_a_decrease():
    control = np.zeros(10)
    assert gain_claim(-np.linspace(0.3, 0.4, 10), control, minimal_effect=-0.1, direction="less").status == "reproduced"
    assert gain_claim(np.linspace(-0.01, 0.01, 10), control, minimal_effect=-0.1, direction="less").status == "not-reproduced"


def test_an_interval_touching_the_minimal_effect_is_inconclusive():
    claim = Claim.from_exact("x", SOURCE, "s", 0.1, "u", null=0.0, minimal_effect=0.1)
    assert claim.status == "inconclusive"
    assert Claim.from_exact("x", SOURCE, "s", 0.2, "u", null=0.0, minimal_effect=0.1).status == "reproduced"
    assert Claim.from_exact("x", SOURCE, "s", 0.0, "u", null=0.0, minimal_effect=0.1).status == "not-reproduced"


def test_a_nan_interval_is_inconclusive_not_reproduced():
    claim = gain_claim([0.5], [0.0])  # one seed: no interval
    assert math.isnan(claim.low) and claim.status == "inconclusive"


def test_proportion_claims_use_wilson_intervals():
    claim = Claim.from_proportion("share", SOURCE, "most seeds preserve", 20, 20, null=0.5, minimal_effect=0.8)
    assert claim.method == "wilson" and claim.low > 0.8 and claim.status == "reproduced"
    assert Claim.from_proportion("share", SOURCE, "s", 12, 20, null=0.5, minimal_effect=0.8).status in {"inconclusive", "not-reproduced"}
    assert Claim.from_proportion("share", SOURCE, "s", 2, 20, null=0.5, minimal_effect=0.8).status == "not-reproduced"


def test_welch_and_mean_claims():
    rng = np.random.default_rng(0)
    treated, control = rng.normal(1.0, 0.1, 15), rng.normal(0.0, 0.1, 15)
    assert Claim.from_welch("w", SOURCE, "s", treated, control, "u", minimal_effect=0.5).status == "reproduced"
    assert Claim.from_mean("m", SOURCE, "s", treated, "u", minimal_effect=0.5).status == "reproduced"
    assert Claim.from_mean("m", SOURCE, "s", control, "u", minimal_effect=0.5).status == "not-reproduced"


def test_detectable_effect_is_reported_and_shrinks_with_seeds():
    rng = np.random.default_rng(1)
    few = gain_claim(rng.normal(0, 1, 5), np.zeros(5))
    many = gain_claim(rng.normal(0, 1, 50), np.zeros(50))
    assert math.isfinite(few.detectable) and many.detectable < few.detectable


def test_minimal_effect_must_lie_on_the_papers_side():
    with pytest.raises(ValueError, match="minimal_effect"):
        gain_claim(np.ones(3), np.zeros(3), minimal_effect=-0.1)
    with pytest.raises(ValueError, match="direction"):
        gain_claim(np.ones(3), np.zeros(3), direction="up")


# ----------------------------------------------------------------------------- verdicts


def test_package_verdict_ignores_claims_and_needs_a_check():
    failing_claim = gain_claim(np.zeros(10), np.zeros(10))
    assert failing_claim.status == "not-reproduced"
    verdict = Verdict([Check.at_most("identity", 0.0, 1e-12)], [failing_claim])
    assert verdict.passed and verdict.label == "PASS"
    assert not Verdict([], [failing_claim]).passed
    assert not Verdict([Check.at_most("identity", 1.0, 1e-12)]).passed
    assert verdict.status_counts() == {"reproduced": 0, "not-reproduced": 1, "inconclusive": 0, "not-testable": 0}
    assert verdict.claim("gain") is failing_claim
    with pytest.raises(KeyError):
        verdict.claim("other")


def test_verdict_json_holds_package_and_claims_with_every_field():
    claim = gain_claim(np.linspace(0.3, 0.4, 12), np.zeros(12), preconditions=[Check.above("p", 1.0, 0.5)])
    data = json.loads(json.dumps(Verdict([Check.above("c", 1.0, 0.0)], [claim]).as_dict()))
    assert data["package"] == {"passed": True, "checks": [{"name": "c", "measured": 1.0, "requirement": "> 0", "passed": True}]}
    (entry,) = data["claims"]
    assert set(entry) == {"name", "source", "statement", "status", "effect", "units", "ci", "level", "method", "n",
                          "null", "minimal_effect", "direction", "detectable", "preconditions", "note"}
    assert entry["status"] in STATUSES and entry["method"] == "paired t" and entry["n"] == 12
    assert entry["preconditions"] == [{"name": "p", "measured": 1.0, "requirement": "> 0.5", "met": True}]


def test_report_lists_checks_then_claims_with_unmet_preconditions():
    unmet = Check.at_least("rank deficit at B < d", 0.0, 1.0)
    claim = gain_claim(np.ones(4), np.zeros(4), preconditions=[unmet])
    text = Verdict([Check.above("c", 1.0, 0.0)], [claim]).report("toy")
    assert text.splitlines()[0] == "toy: package PASS"
    assert "claims (1 not-testable):" in text and "[not-testable] gain" in text
    assert "precondition [NOT MET] rank deficit at B < d" in text


def test_claim_names_are_unique_within_a_verdict():
    claim = gain_claim(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="unique"):
        Verdict([Check.above("c", 1.0, 0.0)], [claim, claim])


def test_a_proportion_over_no_trials_is_not_testable():
    claim = Claim.from_proportion("share", SOURCE, "s", 0, 0, "share of minimiser codes", null=0.5, minimal_effect=0.8)
    assert claim.status == "not-testable" and claim.n == 0 and math.isnan(claim.effect)
    assert "trials behind the share" in claim.line()


def test_count_statuses_orders_counts_and_rejects_unknown_statuses():
    from clustertheory.verdict import count_statuses, counts_text

    counts = count_statuses(["not-testable", "reproduced", "reproduced"])
    assert list(counts) == list(STATUSES) and counts == {"reproduced": 2, "not-reproduced": 0, "inconclusive": 0, "not-testable": 1}
    assert counts_text(counts) == "2 reproduced, 1 not-testable" and counts_text(count_statuses([])) == ""
    with pytest.raises(ValueError, match="claim status must be one of"):
        count_statuses(["passed"])


def test_largest_is_the_worst_case_and_nan_without_rows():
    from clustertheory.verdict import largest

    assert largest(v for v in (1, np.float32(2.5), 0.0)) == 2.5 and isinstance(largest([1]), float)
    assert math.isnan(largest([])) and not Check.at_most("no rows", largest([]), 1.0).passed


def test_untestable_claim_has_no_effect_and_needs_a_failed_precondition():
    empty = Check.at_least("cells with B < T", 0, 1)
    claim = Claim.untestable("gap", "paper", "statement", "share", minimal_effect=0.1, preconditions=[empty, Check.at_least("other arm", 3, 1)])
    assert claim.status == "not-testable" and claim.n == 0
    assert math.isnan(claim.effect) and math.isnan(claim.low) and math.isnan(claim.high)
    assert claim.as_dict()["preconditions"][0]["met"] is False
    from_generator = Claim.untestable("gap", "paper", "statement", "share", minimal_effect=0.1, preconditions=(c for c in [empty]))
    assert from_generator.status == "not-testable" and len(from_generator.preconditions) == 1
    with pytest.raises(ValueError, match="failed precondition"):
        Claim.untestable("gap", "paper", "statement", "share", minimal_effect=0.1, preconditions=[Check.at_least("cells", 2, 1)])
