"""The profile's questions (bench.leaderboard.questions): one hierarchy of tests whose verdicts do
not move when an arm is added, with its error rate checked by simulation."""

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from test_leaderboard import run, write

from bench.config import check_profile
from bench.leaderboard.paired import holm
from bench.leaderboard.questions import Hypothesis, adjusted_p, answer, graph, levels_tested

TOP1 = {  # per neuron: top-1 per seed (N_TEST = 100 samples); qif clearly ahead of lif on both tasks
    "lif": [70.0, 72.0, 71.0], "qif": [84.0, 86.0, 85.0], "lif-tau8": [90.0, 91.0, 93.0],
    "plif": [73.0, 75.0, 76.0], "adex": [69.0, 70.0, 74.0], "alif": [71.0, 73.0, 72.0],
}
QUESTIONS = {"primary": ["qif vs lif"], "mechanism": ["lif-tau8 vs lif", "qif vs lif-tau8"]}


def profile(neurons: list[str]):
    return OmegaConf.create({"name": "t", "neurons": neurons, "tasks": ["digits", "digits-seq"], "seeds": [0, 1, 2],
                             "baseline": "lif", "single_seed_tasks": [], "questions": QUESTIONS})


def table_of(tmp_path, monkeypatch, neurons: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    for neuron in neurons:
        for task in ("digits", "digits-seq"):
            for seed, top1 in enumerate(TOP1[neuron]):
                write(tmp_path, neuron, seed, top1 - 6 * (task == "digits-seq"), task=task)
    (tmp_path / "results").mkdir()
    run(tmp_path, monkeypatch, profile=profile(neurons))
    published = tmp_path / "results/leaderboard"
    return pd.read_csv(published / "leaderboard.csv"), pd.read_csv(published / "contrasts.csv")


def test_adding_exploratory_arms_leaves_every_question_s_verdict_ci_and_p_unchanged(tmp_path_factory, monkeypatch):
    three = ["lif", "qif", "lif-tau8"]
    table, contrasts = table_of(tmp_path_factory.mktemp("three"), monkeypatch, three)
    more_table, more_contrasts = table_of(tmp_path_factory.mktemp("six"), monkeypatch, [*three, "plif", "adex", "alif"])

    asked = ["task", "family", "contrast", "delta", "ci_low", "ci_high", "p", "alpha_tested", "ci_tested_low",
             "ci_tested_high", "p_adjusted", "verdict", "resolvable_pp"]
    questions = contrasts[contrasts.family != "exploratory"][asked].reset_index(drop=True)
    assert len(questions) == 6 and "not tested" not in set(questions.verdict)  # the gate opened on both tasks
    assert (questions[questions.family == "mechanism"].verdict != "not resolved").any()
    pd.testing.assert_frame_equal(questions, more_contrasts[more_contrasts.family != "exploratory"][asked].reset_index(drop=True))
    rows = ["task", "neuron", "delta_top1", "delta_ci_low", "delta_ci_high", "delta_p", "delta_p_holm", "verdict", "family"]
    def question_rows(t):
        return t[t.neuron.isin(three) & (t.kind == "measured")][rows].sort_values(["task", "neuron"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(question_rows(table), question_rows(more_table))
    added = more_table[more_table.neuron.isin(["plif", "adex", "alif"])]
    assert (added.verdict == "exploratory").all() and added.delta_p_holm.isna().all()

    # The test can fail: Holm over every comparison of the table, as before, moves with the arms.
    def holm_over_the_table(t):
        rows = t[(t.kind == "measured") & t.delta_p.notna()]
        return holm(rows.delta_p.set_axis(rows.task + "/" + rows.neuron))

    assert holm_over_the_table(more_table)["digits/qif"] > 1.5 * holm_over_the_table(table)["digits/qif"]


def test_mechanism_contrasts_are_not_tested_while_their_task_s_primary_answer_is_not_resolved():
    hyps = [Hypothesis(t, "primary", "qif", "lif") for t in ("a", "b")]
    hyps += [Hypothesis(t, "mechanism", x, y) for t in ("a", "b") for x, y in [("qif-rect", "lif"), ("qif", "if")]]
    p = np.array([0.4, 1e-6, 1e-9, 1e-9, 1e-9, 0.3])
    rejected, levels = levels_tested(p, *graph(hyps))
    assert rejected.tolist() == [False, True, False, False, True, False]
    assert levels.tolist() == pytest.approx([0.025, 0.025, 0.0, 0.0, 0.0125, 0.025])  # b's second gets all of b's α


def test_a_question_whose_estimate_has_no_p_is_never_resolved_and_adjusts_to_one():
    """A one-sample test set gives the paired estimate no p (NaN): it enters the procedure as p = 1
    (not as 0, which a NaN did before), and the other task's answer is the one it would be alone."""
    rng = np.random.default_rng(0)
    seeds = [0, 1, 2]

    def correct(accuracy: float, samples: int = 200) -> pd.DataFrame:
        return pd.DataFrame((rng.random((len(seeds), samples)) < accuracy).astype(float), index=seeds)

    one_sample = {"lif": [[1.0], [0.0], [1.0]], "qif": [[0.0], [1.0], [1.0]]}
    matrices = {("a", n): pd.DataFrame(m, index=seeds) for n, m in one_sample.items()}
    matrices |= {("b", "lif"): correct(0.7), ("b", "qif"): correct(0.9)}
    questions = {"primary": ["qif vs lif"], "mechanism": []}
    prof = OmegaConf.create({"name": "t", "neurons": ["lif", "qif"], "tasks": ["a", "b"], "seeds": seeds, "baseline": "lif",
                             "single_seed_tasks": [], "questions": questions})
    answers = answer(matrices, prof, ["a", "b"]).set_index("task")
    assert np.isnan(answers.loc["a", "p"]) and answers.loc["a", "p_adjusted"] == 1.0
    assert answers.loc["a", "verdict"] == "not resolved" and answers.loc["b", "verdict"] == "better"
    assert answers.loc["b", "p_adjusted"] == pytest.approx(2 * answers.loc["b", "p"])  # b tested at 2.5%


def test_with_equal_weights_and_equal_passing_the_procedure_is_holm():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 8):
        weights = np.full(n, 1 / n)
        transitions = (np.ones((n, n)) - np.eye(n)) / (n - 1)
        for _ in range(50):
            p = rng.random(n) ** 3
            expected = holm(pd.Series(p)).to_numpy()
            np.testing.assert_allclose(adjusted_p(p, weights, transitions), expected, rtol=1e-12)
            rejected, _ = levels_tested(p, weights, transitions)
            assert rejected.tolist() == (expected < 0.05).tolist()


def test_the_adjusted_p_and_the_rejections_agree_on_the_hierarchy():
    hyps = [Hypothesis(t, "primary", "qif", "lif") for t in "abc"]
    hyps += [Hypothesis(t, "mechanism", x, "lif") for t in "abc" for x in ("m1", "m2", "m3")]
    weights, transitions = graph(hyps)
    rng = np.random.default_rng(1)
    for _ in range(300):
        p = rng.random(len(hyps)) ** 4
        rejected, _ = levels_tested(p, weights, transitions)
        assert rejected.tolist() == (adjusted_p(p, weights, transitions) < 0.05).tolist()


@pytest.mark.parametrize("false_primaries", [0, 2])
def test_the_chance_of_any_false_verdict_is_at_most_five_percent(false_primaries):
    """z-tests of two tasks x (one primary + three mechanism contrasts), every mechanism contrast
    true (no difference); the primaries either true too (the global null) or false (gates open
    with power ~1): any rejection of a true hypothesis is a false verdict."""
    hyps = [Hypothesis(t, "primary", "qif", "lif") for t in "ab"]
    hyps += [Hypothesis(t, "mechanism", x, "lif") for t in "ab" for x in ("m1", "m2", "m3")]
    weights, transitions = graph(hyps)
    rng = np.random.default_rng(2)
    shift = np.zeros(len(hyps))
    shift[:false_primaries] = 6.0
    from scipy import stats

    draws = 4000
    false = 0
    for _ in range(draws):
        z = rng.standard_normal(len(hyps)) + shift
        rejected, _ = levels_tested(2 * stats.norm.sf(np.abs(z)), weights, transitions)
        false += bool(rejected[shift == 0].any())
    assert false / draws <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / draws)  # at most 5% up to Monte Carlo error


@pytest.mark.parametrize("questions, error", [
    ({"primary": ["qif vs tlif"]}, "names 'tlif', which is not among the profile's neurons"),
    ({"primary": ["qif vs qif"]}, "contrasts a neuron with itself"),
    ({"primary": ["qif vs lif"], "mechanism": ["lif vs qif"]}, "is asked twice (questions.primary)"),
    ({"mechanism": ["qif vs lif"]}, "questions.mechanism needs a questions.primary"),
    ({"primary": ["qif versus lif"]}, "is not a contrast"),
    ({"secondary": ["qif vs lif"]}, "secondary"),
])
def test_a_malformed_question_is_refused_naming_it(questions, error):
    bad = OmegaConf.create({"name": "t", "neurons": ["lif", "qif"], "tasks": ["digits"], "seeds": [0], "questions": questions})
    with pytest.raises(ValueError, match=None) as caught:
        check_profile(bad)
    assert error in str(caught.value)
