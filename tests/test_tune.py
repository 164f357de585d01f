"""The equal tuning budget per arm (bench/tune.py): what is planned, what a study may see, that it is
deterministic, and the expected validation performance of Dodge et al. (2019)."""

import random

import pytest
from omegaconf import OmegaConf

from bench.config import load_params
from bench.leaderboard.tuning import expected_max
from bench.plan import check_tuning, plan, search_space
from bench.tune import run_study, tuned_config


def test_expected_max_is_dodge_et_al_eq_1():
    values = [1.0, 2.0, 3.0]
    assert expected_max(values, 1) == pytest.approx(2.0)  # one draw: the mean
    assert expected_max(values, 2) == pytest.approx((1 * 1 + 2 * 3 + 3 * 5) / 9)  # P(max = v_i) = (i^2 - (i-1)^2) / 9
    assert expected_max(values, 200) == pytest.approx(3.0, abs=1e-6)  # many draws: the best one
    rng = random.Random(0)
    observed = [rng.uniform(0, 100) for _ in range(7)]
    draws = [max(rng.choice(observed) for _ in range(4)) for _ in range(100_000)]
    assert expected_max(observed, 4) == pytest.approx(sum(draws) / len(draws), abs=0.2)  # by simulation


def test_every_arm_of_a_tuned_task_gets_a_study_and_its_cells(in_repo):
    params = load_params()
    profile, tuning = params.profile, params.tuning
    planned = plan(profile, params.neurons, params.tasks, tuning)
    tuned_tasks = [t for t in profile.tasks if t in tuning.tasks]
    assert tuned_tasks, "the default profile tunes its tasks"
    assert {(s.neuron, s.task) for s in planned.studies.values()} == {(n, t) for n in profile.neurons for t in tuned_tasks}
    # every arm with the profile's seeds; the primary question's arms (qif, lif) with more
    primary = {"qif", "lif"}
    extra = [s for s in range(tuning.primary_seeds) if s not in profile.seeds]
    assert tuning.primary_seeds > len(profile.seeds)
    assert {(c.neuron, c.task, c.seed) for c in planned.tuned.values()} == {
        (n, t, s) for n in profile.neurons for t in tuned_tasks for s in [*profile.seeds, *(extra if n in primary else [])]}
    # the shared-settings cells are planned as before, and a study tracks what its trials train with
    assert len(planned.cells) == len(params.plan.cells)
    study = planned.studies[f"qif-{tuned_tasks[0]}"]
    assert study.params == "neurons.qif" and study.code == "bench/neurons/qif.py"
    untuned = OmegaConf.merge(tuning, {"trials": 0})
    assert not plan(profile, params.neurons, params.tasks, untuned).studies


def test_every_arm_searches_the_same_space_plus_its_own_settings(in_repo):
    tuning = load_params().tuning
    shared = search_space(tuning, "lif")
    assert set(shared) == {"task.optimizer.lr", "task.model.alpha"}
    own = search_space(tuning, "izhikevich")
    assert own == {**shared, "neuron.d": own["neuron.d"], "neuron.surrogate.width": own["neuron.surrogate.width"]}
    # the settings that define an arm are never searched: tuning them would turn one arm into another
    # (LIF's tau; QIF's a, which sets the decay at rest that lif-tau8 matches)
    defining = ("tau", "neuron.a")
    assert not [p for n in tuning.neurons for p in search_space(tuning, n) if any(d in p for d in defining)]
    # the window is an arm of the LIF family (lif-tri, lif-aw): only the neurons whose threshold is a
    # spike cut, which have no window arms, search its width
    assert {n for n in tuning.neurons if any("surrogate" in p for p in search_space(tuning, n))} == {"izhikevich", "adex"}
    assert search_space(tuning, "qif") == search_space(tuning, "qif-rect") == shared


@pytest.mark.parametrize("change, error", [
    ({"trials": -1}, "trials must be an integer >= 0"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"space": {"optimizer.lr": {"low": 0.1, "high": 1}}}, "not a setting of a cell's task or neuron"),
    ({"space": {"task.optimizer.lr": {"low": 0.1, "high": 0.1}}}, "low < high"),
    ({"space": {"task.optimizer.lr": {"low": 0.0, "high": 0.1, "log": True}}}, "low > 0 with log"),
    ({"neurons": {"qif": {"neuron.tau": {"low": 1, "high": 2}}}}, "neuron 'qif' has no setting 'tau'"),
    ({"neurons": {"nosuch": {}}}, "not a registered neuron"),
])
def test_a_malformed_tuning_config_is_refused_naming_the_setting(in_repo, change, error):
    params = load_params()
    tuning = OmegaConf.merge(params.tuning, change) if "space" not in change else OmegaConf.merge(
        OmegaConf.masked_copy(params.tuning, [k for k in params.tuning if k != "space"]), change)
    with pytest.raises(ValueError, match=error):
        check_tuning(tuning, params.neurons)


def small_study(params, neuron: str = "lif", task: str = "randman"):
    params = OmegaConf.merge(params, {"tuning": {"trials": 3, "epochs": 2, "startup_trials": 1, "warmup_epochs": 0}})
    return run_study(params, neuron, task, log=lambda line: None)


def test_a_study_trains_on_validation_only_and_repeats_exactly(in_repo, monkeypatch):
    from bench.module import SpikingClassifier

    seen = []
    original = SpikingClassifier.validation_step

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        seen.append(dataloader_idx)
        return original(self, batch, batch_idx, dataloader_idx)

    monkeypatch.setattr(SpikingClassifier, "validation_step", validation_step)
    params = load_params()
    study = small_study(params)
    assert seen and set(seen) == {0}, "a trial evaluated something besides the validation split"
    assert len(study["trials"]) == 3
    first = study["trials"][0]
    assert first["settings"] == {"task.optimizer.lr": params.tasks.randman.optimizer.lr,
                                 "task.model.alpha": params.tasks.randman.model.alpha}  # trial 0: the shared settings
    for trial in study["trials"]:
        assert trial["value"] == max(trial["val_top1_by_epoch"]) or trial["state"] == "pruned"
    assert study["best"]["value"] == max(t["value"] for t in study["trials"] if t["state"] == "complete")
    again = small_study(params)
    strip = [{k: v for k, v in t.items() if k != "wall_s"} for t in study["trials"]]
    assert strip == [{k: v for k, v in t.items() if k != "wall_s"} for t in again["trials"]]

    cfg = tuned_config(params, "lif", "randman", 3, study, "results/tuning/randman/lif/study.json")
    best = study["best"]
    assert cfg.task.optimizer.lr == best["settings"]["task.optimizer.lr"] and cfg.seed == 3
    assert cfg.tuning.trial == best["trial"] and cfg.tuning.study.endswith("randman/lif/study.json")
    assert cfg.trainer.max_epochs == params.tasks.randman.trainer.max_epochs  # the cell's length, not the trials'
