import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from bench.compose import compose
from bench.config import cell_config, config_hash, load_params, prepared_dir
from bench.plan import all_cells, neuron_code, plan, planned_cells, task_code


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
    assert [next(iter(out)) for out in stages["prepare"]["do"]["outs"]] == [str(prepared_dir("${key}"))]
    assert str(prepared_dir("${item.task}")) in stages["train"]["do"]["deps"]


def imported_files(path: Path, root: Path) -> set[str]:
    """The files of the bench modules a source file imports (read statically), with the packages
    Python runs on the way (their __init__.py)."""
    files = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in (n for n in names if n == "bench" or n.startswith("bench.")):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                stem = root.joinpath(*parts[:i])
                for candidate in (stem / "__init__.py", stem.with_suffix(".py")):
                    if candidate.is_file():
                        files.add(str(candidate.relative_to(root)))
    return files


def import_closure(files: set[str], root: Path) -> set[str]:
    todo, seen = list(files), set(files)
    while todo:
        for found in imported_files(root / todo.pop(), root) - seen:
            seen.add(found)
            todo.append(found)
    return seen


def test_every_cell_tracks_all_the_code_it_imports(in_repo):
    """A train stage lists the code every cell shares plus its neuron's, its data source's and its
    backbone's own files (params.yaml's plan); whatever bench.train, those files and the modules
    they import load must be among its deps, or a change to it would leave a stale result that
    `dvc status` calls up to date. Other neurons' and tasks' own files are the only exceptions."""
    params = load_params()
    train = yaml.safe_load((in_repo / "dvc.yaml").read_text())["stages"]["train"]["do"]
    prepare = yaml.safe_load((in_repo / "dvc.yaml").read_text())["stages"]["prepare"]["do"]
    own_files = {neuron_code(n, params.neurons[n]) for n in params.neurons}  # every registered neuron's and task's
    own_files |= {f for t in params.tasks for f in task_code(t, params.tasks[t]).values()}
    for cell in params.plan.cells.values():
        deps = {d.replace("${item.code}", cell.code).replace("${item.data_code}", cell.data_code)
                .replace("${item.model_code}", cell.model_code) for d in train["deps"]}
        mine = {cell.code, cell.data_code, cell.model_code}
        loaded = import_closure({"bench/train.py", *mine}, in_repo)
        untracked = {f for f in loaded - (own_files - mine) if not any(f == d or f.startswith(d + "/") for d in deps)}
        assert not untracked, f"train@{cell.neuron}-{cell.task}-{cell.seed} imports {sorted(untracked)} without tracking them"
    for name, task in params.plan.tasks.items():
        deps = {d.replace("${item.data_code}", task.data_code) for d in prepare["deps"]}
        loaded = import_closure({"bench/prepare.py", task.data_code}, in_repo)
        untracked = {f for f in loaded - (own_files - {task.data_code}) if f.startswith("bench/data/") and f not in deps}
        assert not untracked, f"prepare@{name} imports {sorted(untracked)} without tracking them"


def test_planned_cells_expand_the_profile_into_the_plan_dvc_yaml_runs(in_repo):
    profile = OmegaConf.create({"name": "t", "neurons": ["lif", "qif"], "tasks": ["digits"], "seeds": [0, 1],
                                "single_seed_tasks": ["imagenet-resnet34-t4"]})
    cells = planned_cells(profile)
    assert [c.addressing for c in cells] == [
        "train@lif-digits-0", "train@lif-digits-1", "train@qif-digits-0", "train@qif-digits-1",
        "train@lif-imagenet-resnet34-t4-0", "train@qif-imagenet-resnet34-t4-0"]
    the_plan = plan(profile, load_params().neurons, load_params().tasks)
    assert list(the_plan.cells) == [c.key for c in cells]
    assert the_plan.cells["qif-imagenet-resnet34-t4-0"] == {
        "neuron": "qif", "task": "imagenet-resnet34-t4", "seed": 0, "code": "bench/neurons/qif.py",
        "data_code": "bench/data/imagenet.py", "model_code": "bench/models/resnet.py", "params": "neurons.qif"}
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
    the_plan = plan(profile, params.neurons, params.tasks)
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
                    "data_code": "bench/data/digits_dvs.py", "model_code": "bench/models/convnet.py",
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
        plan(profile, load_params().neurons, load_params().tasks)


@pytest.mark.parametrize("field, name", [("neurons", "../x"), ("tasks", "digits;touch /tmp/x;#"), ("single_seed_tasks", "A")])
def test_the_plan_refuses_unsafe_names_however_they_arrive(in_repo, field, name):
    """`dvc exp run -S 'profile.tasks=[...]'` composes the plan without bench.compose's checks."""
    profile = OmegaConf.create({"name": "t", "neurons": ["lif"], "tasks": ["digits"], "seeds": [0], "single_seed_tasks": []})
    profile[field] = [name]
    with pytest.raises(ValueError, match="is not allowed"):
        plan(profile, load_params().neurons, load_params().tasks)


def test_a_profile_naming_an_unregistered_neuron_is_refused(in_repo):
    profile = OmegaConf.create({"name": "t", "neurons": ["lif", "nope"], "tasks": ["digits"], "seeds": [0],
                                "single_seed_tasks": []})
    with pytest.raises(KeyError, match="lists neuron 'nope', which conf/config.yaml does not register"):
        plan(profile, load_params().neurons, load_params().tasks)


def test_cell_config_merges_trainer_and_applies_overrides(in_repo):
    params = load_params()
    cfg = cell_config(params, "qif", "digits", 7, ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"])
    assert cfg.trainer.max_epochs == 1 and cfg.trainer.limit_train_batches == 2
    assert cfg.trainer.accelerator == "cpu" and "trainer" not in cfg.task
    assert cfg.neuron.a == 0.25 and cfg.seed == 7
    base = cell_config(params, "qif", "digits", 7)
    assert config_hash(base) != config_hash(cfg)
    assert config_hash(base) == config_hash(OmegaConf.create(OmegaConf.to_container(base)))


def test_cell_overrides_speak_the_language_of_params_yaml(in_repo):
    """The keys `dvc exp run -S` and bench.compose take work for one cell with the same meaning."""
    params = load_params()
    cfg = cell_config(params, "qif", "digits", 0, ["neurons.qif.a=0.1", "tasks.digits.trainer.max_epochs=3",
                                                   "tasks.digits.optimizer.lr=0.01", "+neurons.qif.surrogate.kappa=2.0"])
    assert (cfg.neuron.a, cfg.trainer.max_epochs, cfg.task.optimizer.lr, cfg.neuron.surrogate.kappa) == (0.1, 3, 0.01, 2.0)
    short = cell_config(params, "qif", "digits", 0, ["neuron.a=0.1", "trainer.max_epochs=3", "task.optimizer.lr=0.01",
                                                     "+neuron.surrogate.kappa=2.0"])
    assert config_hash(cfg) == config_hash(short)  # the cell's own names mean the same
    logged = cell_config(params, "qif", "digits", 0, ["logger=tensorboard"])
    assert sorted(logged.logger) == ["csv", "tensorboard"]  # a config group switched as with trainer=ddp


@pytest.mark.parametrize(
    "neuron, task, overrides, error",
    [
        ("nope", "digits", [], "no neuron named 'nope'"),
        ("qif", "nope", [], "no task named 'nope'"),
        ("qif", "digits", ["trainer.max_epoch=1"], "no setting 'trainer.max_epoch'.*did you mean trainer.max_epochs"),
        ("qif", "digits", ["neurons.qif.aa=1"],
         "no setting 'neurons.qif.aa'.*did you mean neurons.qif.a\\? .*add one to neurons.qif\\)"),
        ("qif", "digits", ["tasks.digits.trainer.max_epoch=1"], "did you mean tasks.digits.trainer.max_epochs\\?"),
        ("qif", "digits", ["neurons.lif.tau=3"], "this cell trains neuron 'qif'; neurons.lif.\\* does not change it"),
        ("qif", "digits", ["tasks.randman.T=5"], "this cell trains task 'digits'; tasks.randman"),
        ("qif", "digits", ["profile.seeds=[1]"], "no 'profile'.*neurons.<neuron>.<key>"),
        ("qif", "digits", ["logger=nope"], "no conf/logger/nope.yaml \\(options: csv, "),
        ("qif", "digits", ["logger=tensorbord"], "no conf/logger/tensorbord.yaml .*did you mean logger=tensorboard\\?'$"),
        ("qif", "randman", ["neurons.qif.a=abc"], "^'?neurons.qif.a must be a number, got 'abc'$"),
        ("qif", "randman", ["neuron.a=[1]"], "^neuron.a must be a number, got \\[1\\]$"),
        ("qif", "randman", ["tasks.randman.optimizer.lr=fast"], "^tasks.randman.optimizer.lr must be a number, got 'fast'$"),
        ("qif", "randman", ["tasks.randman.T=true"], "^tasks.randman.T must be a number, got True$"),
        ("qif", "digits", ["trainer.max_epochs"], "key=value"),
    ],
)
def test_bad_cell_requests_are_clear_errors(in_repo, neuron, task, overrides, error):
    with pytest.raises((KeyError, ValueError), match=error):
        cell_config(load_params(), neuron, task, 0, overrides)


def _imported_bench_files(neuron: str, root) -> set[str]:
    """The bench source files a randman cell loads, from a fresh interpreter (build the model, one batch)."""
    code = (
        "import sys, torch\n"
        "from bench.config import cell_config, load_params\n"
        "from bench.builder import build\n"
        f"dm, m = build(cell_config(load_params(), {neuron!r}, 'randman', 0))\n"
        "m(torch.zeros(2, 25, 20))\n"
        "print('\\n'.join(sorted(getattr(v, '__file__', None) or '' for k, v in sys.modules.items()"
        " if k == 'bench' or k.startswith('bench.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return {str(Path(f).resolve().relative_to(root)) for f in out.stdout.split()}


@pytest.mark.parametrize("neuron, other", [("lif", "qif"), ("qif", "lif"), ("lif-aw", "qif"), ("qif-rect", "lif")])
def test_train_stage_tracks_the_code_a_cell_runs_and_no_other_neuron(in_repo, neuron, other):
    stage = yaml.safe_load((in_repo / "dvc.yaml").read_text())["stages"]["train"]["do"]
    cell = load_params().plan.cells[f"{neuron}-randman-0"]
    deps = [d.replace("${item.code}", cell.code).replace("${item.task}", "randman").replace("${item.data_code}", cell.data_code)
            .replace("${item.model_code}", cell.model_code) for d in stage["deps"]]
    used = _imported_bench_files(neuron, in_repo)
    assert f"bench/neurons/{other}.py" not in used, f"a {neuron} cell must not import the {other} neuron"
    assert not {"bench/models/resnet.py", "bench/models/vgg.py", "bench/data/cifar.py"} & used, "nor other tasks' code"
    untracked = [f for f in used if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
    assert not untracked, f"dvc.yaml train deps miss {untracked}"
