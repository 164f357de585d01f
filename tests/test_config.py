import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from bench.compose import compose
from bench.config import all_cells, cell_config, config_hash, load_params, plan, planned_cells, prepared_dir


def test_params_yaml_is_what_conf_composes_to(in_repo, tmp_path):
    """`dvc repro` reads the committed params.yaml; it must equal what conf/ composes to
    (run `python -m bench.compose` after editing conf/)."""
    fresh = tmp_path / "params.yaml"
    compose(fresh, root=in_repo)
    assert (in_repo / "params.yaml").read_text() == fresh.read_text()


def test_every_profile_neuron_tracks_the_file_of_its_class(in_repo):
    """dvc.yaml tracks plan.neurons.<name>.code for the cells of neuron <name>: the file of its
    class, which a variant shares with its base neuron."""
    params = load_params()
    for neuron in params.profile.neurons:
        target = params.neurons[neuron]["_target_"]
        code = params.plan.neurons[neuron].code
        assert (in_repo / code).is_file() and code == target.rsplit(".", 1)[0].replace(".", "/") + ".py"
    assert params.plan.neurons["lif-aw"].code == params.plan.neurons["lif"].code == "bench/neurons/lif.py"
    assert params.plan.neurons["qif-rect"].code == "bench/neurons/qif.py"


def test_dvc_yaml_prepares_and_tracks_the_folder_the_code_reads(in_repo):
    """A task's prepared data lives where bench.config.prepared_dir says, for every stage."""
    stages = yaml.safe_load((in_repo / "dvc.yaml").read_text())["stages"]
    folder = str(prepared_dir("${item.task}"))
    assert [next(iter(out)) for out in stages["prepare"]["outs"]] == [folder]
    assert folder in stages["train"]["do"]["deps"]


def test_planned_cells_expand_the_profile_into_the_plan_dvc_yaml_runs(in_repo):
    profile = OmegaConf.create({"name": "t", "neurons": ["lif", "qif"], "tasks": ["digits"], "seeds": [0, 1],
                                "single_seed_tasks": ["imagenet-resnet34-t4"]})
    cells = planned_cells(profile)
    assert [c.addressing for c in cells] == [
        "train@lif-digits-0", "train@lif-digits-1", "train@qif-digits-0", "train@qif-digits-1",
        "train@lif-imagenet-resnet34-t4-0", "train@qif-imagenet-resnet34-t4-0"]
    the_plan = plan(profile, load_params().neurons)
    assert list(the_plan.cells) == [c.key for c in cells]
    assert the_plan.cells["qif-imagenet-resnet34-t4-0"] == {
        "neuron": "qif", "task": "imagenet-resnet34-t4", "seed": 0, "code": "bench/neurons/qif.py", "params": "neurons.qif"}
    stages = yaml.safe_load((in_repo / "dvc.yaml").read_text())["stages"]
    assert stages["train"]["foreach"] == "${plan.cells}" and stages["dynamics"]["foreach"] == "${plan.neurons}"
    from dvc.repo import Repo

    with Repo(str(in_repo)) as repo:  # what DVC itself expands from the committed params.yaml
        names = {stage.addressing for stage in repo.index.stages if stage.addressing.startswith("train@")}
    assert names == {c.addressing for c in all_cells(load_params())}
    assert {c.addressing for c in planned_cells(load_params().profile)} < names  # the sweeps add cells


def test_a_sweep_expands_into_cells_that_train_the_base_neuron_with_one_setting_changed(in_repo):
    profile = OmegaConf.create({"name": "t", "neurons": ["lif", "qif"], "tasks": ["digits", "digits-dvs"], "seeds": [0, 1],
                                "single_seed_tasks": [], "sweeps": [
                                    {"neuron": "qif", "param": "a", "values": [0.125, 0.25, 1.0]},
                                    {"neuron": "lif", "param": "surrogate.width", "values": [2.0], "tasks": ["digits-dvs"]}]})
    params = load_params()
    the_plan = plan(profile, params.neurons)
    # 0.25 is QIF's own value: those are qif's cells, not a sweep point
    assert list(the_plan.points) == ["qif-a-0p125", "qif-a-1", "lif-width-2"]
    assert the_plan.points["qif-a-1"].neuron == {**params.neurons.qif, "a": 1.0}
    assert the_plan.points["lif-width-2"].neuron.surrogate == {"_target_": "bench.neurons.surrogate.Rectangle", "width": 2.0}
    sweep_keys = [k for k, c in the_plan.cells.items() if c.neuron not in ("lif", "qif")]
    assert sweep_keys == ["qif-a-0p125-digits-0", "qif-a-0p125-digits-1", "qif-a-0p125-digits-dvs-0", "qif-a-0p125-digits-dvs-1",
                          "qif-a-1-digits-0", "qif-a-1-digits-1", "qif-a-1-digits-dvs-0", "qif-a-1-digits-dvs-1",
                          "lif-width-2-digits-dvs-0", "lif-width-2-digits-dvs-1"]
    cell = the_plan.cells["lif-width-2-digits-dvs-1"]
    assert cell == {"neuron": "lif-width-2", "task": "digits-dvs", "seed": 1, "code": "bench/neurons/lif.py",
                    "params": "plan.points.lif-width-2.neuron"}
    # a cell of a sweep point gets the point's settings, and only they differ from the base neuron's cell
    params = OmegaConf.merge(params, {"plan": the_plan})
    swept, base = cell_config(params, "qif-a-1", "digits", 0), cell_config(params, "qif", "digits", 0)
    assert swept.neuron.a == 1.0 and OmegaConf.masked_copy(swept, ["task", "trainer", "runtime"]) == \
        OmegaConf.masked_copy(base, ["task", "trainer", "runtime"])


@pytest.mark.parametrize("sweep, error", [
    ({"neuron": "nope", "param": "a", "values": [1.0]}, "neuron 'nope' is not registered"),
    ({"neuron": "qif", "param": "b", "values": [1.0]}, "neuron 'qif' has no setting 'b'"),
    ({"neuron": "qif", "param": "a", "values": []}, "`values` must list"),
    ({"neuron": "qif", "param": "a", "values": [1.0, 1.0]}, "named twice"),
    ({"neuron": "qif", "param": "a", "values": [1.0], "tasks": ["Bad Task"]}, "not allowed"),
])
def test_a_malformed_sweep_is_refused_at_compose_time_with_its_place(in_repo, sweep, error):
    profile = OmegaConf.create({"name": "t", "neurons": ["lif", "qif"], "tasks": ["digits"], "seeds": [0],
                                "single_seed_tasks": [], "sweeps": [sweep]})
    with pytest.raises((KeyError, ValueError), match=error):
        plan(profile, load_params().neurons)


@pytest.mark.parametrize("field, name", [("neurons", "../x"), ("tasks", "digits;touch /tmp/x;#"), ("single_seed_tasks", "A")])
def test_the_plan_refuses_unsafe_names_however_they_arrive(in_repo, field, name):
    """`dvc exp run -S 'profile.tasks=[...]'` composes the plan without bench.compose's checks."""
    profile = OmegaConf.create({"name": "t", "neurons": ["lif"], "tasks": ["digits"], "seeds": [0], "single_seed_tasks": []})
    profile[field] = [name]
    with pytest.raises(ValueError, match="is not allowed"):
        plan(profile, load_params().neurons)


def test_a_profile_naming_an_unregistered_neuron_is_refused(in_repo):
    profile = OmegaConf.create({"name": "t", "neurons": ["lif", "nope"], "tasks": ["digits"], "seeds": [0],
                                "single_seed_tasks": []})
    with pytest.raises(KeyError, match="lists neuron 'nope', which conf/config.yaml does not register"):
        plan(profile, load_params().neurons)


def test_cell_config_merges_trainer_and_applies_overrides(in_repo):
    params = load_params()
    cfg = cell_config(params, "qif", "digits", 7, ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"])
    assert cfg.trainer.max_epochs == 1 and cfg.trainer.limit_train_batches == 2
    assert cfg.trainer.accelerator == "cpu" and "trainer" not in cfg.task
    assert cfg.neuron.a == 0.25 and cfg.seed == 7
    base = cell_config(params, "qif", "digits", 7)
    assert config_hash(base) != config_hash(cfg)
    assert config_hash(base) == config_hash(OmegaConf.create(OmegaConf.to_container(base)))


@pytest.mark.parametrize(
    "neuron, task, overrides, error",
    [
        ("nope", "digits", [], "no neuron named 'nope'"),
        ("qif", "nope", [], "no task named 'nope'"),
        ("qif", "digits", ["trainer.max_epoch=1"], "no setting 'trainer.max_epoch'"),
        ("qif", "digits", ["trainer.max_epochs"], "key=value"),
    ],
)
def test_bad_cell_requests_are_clear_errors(in_repo, neuron, task, overrides, error):
    with pytest.raises((KeyError, ValueError), match=error):
        cell_config(load_params(), neuron, task, 0, overrides)


def _imported_bench_files(neuron: str, root) -> set[str]:
    """The bench source files a cell loads, from a fresh interpreter (build the model, one batch)."""
    code = (
        "import sys, torch\n"
        "from bench.config import cell_config, load_params\n"
        "from bench.cell import build\n"
        f"dm, m = build(cell_config(load_params(), {neuron!r}, 'digits', 0))\n"
        "m(torch.zeros(2, 1, 8, 8))\n"
        "print('\\n'.join(sorted(getattr(v, '__file__', None) or '' for k, v in sys.modules.items()"
        " if k == 'bench' or k.startswith('bench.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return {str(Path(f).resolve().relative_to(root)) for f in out.stdout.split()}


@pytest.mark.parametrize("neuron, other", [("lif", "qif"), ("qif", "lif"), ("lif-aw", "qif"), ("qif-rect", "lif")])
def test_train_stage_tracks_the_code_a_cell_runs_and_no_other_neuron(in_repo, neuron, other):
    stage = yaml.safe_load((in_repo / "dvc.yaml").read_text())["stages"]["train"]["do"]
    code = load_params().plan.neurons[neuron].code
    deps = [d.replace("${item.code}", code).replace("${item.task}", "digits") for d in stage["deps"]]
    used = _imported_bench_files(neuron, in_repo)
    assert f"bench/neurons/{other}.py" not in used, f"a {neuron} cell must not import the {other} neuron"
    untracked = [f for f in used if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
    assert not untracked, f"dvc.yaml train deps miss {untracked}"
