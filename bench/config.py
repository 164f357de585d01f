"""Reading params.yaml (composed from conf/ by DVC's Hydra integration): the resolved config of
one cell (neuron, task, seed), the cells a profile plans, and the paths that follow from names."""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError

PARAMS_FILE = Path("params.yaml")
CONF_DIR = Path("conf")
PREPARED_DIR = Path("data/prepared")  # data/prepared/<task>/: split.json + generated data (dvc.yaml: prepare outs)
GROUP_CHOICES = ("trainer",)  # config groups one cell may switch, Hydra-style: `trainer=ddp`
# Names become folders (results/runs/<task>/<neuron>/) and words of dvc.yaml's commands.
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{kind} name {name!r} is not allowed: names are lower-case letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (they become folder names and pipeline stage names)"
        )
    return name


def check_names(params: DictConfig) -> DictConfig:
    """Every registered neuron and task and every name a profile lists."""
    for kind, group in (("neuron", "neurons"), ("task", "tasks")):
        for name in params.get(group) or {}:
            check_name(kind, name)
    profile = params.get("profile") or {}
    for kind, key in (("neuron", "neurons"), ("neuron", "baseline"), ("neuron", "arms"), ("task", "tasks"),
                      ("task", "single_seed_tasks"), ("profile", "name")):
        value = profile.get(key)
        for name in [value] if isinstance(value, str) else value or []:
            check_name(kind, name)
    return params


def load_params(path: Path = PARAMS_FILE) -> DictConfig:
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"{path} not found: run from the repository root (params.yaml is committed; "
            "`python -m bench.compose` re-creates it from conf/)"
        )
    return check_names(OmegaConf.load(path))


def lookup(params: DictConfig, group: str, name: str, conf_dir: str) -> DictConfig:
    entries = params.get(group) or {}
    if name not in entries:
        raise KeyError(
            f"no {conf_dir} named {name!r} in params.yaml (known: {sorted(entries)}); add "
            f"conf/{conf_dir}/{name}.yaml, register it in conf/config.yaml and run `python -m bench.compose`"
        )
    return entries[name]


def neuron_settings(params: DictConfig, name: str) -> DictConfig:
    """A registered neuron's settings, or a sweep point's (params.yaml's plan.points)."""
    points = (params.get("plan") or {}).get("points") or {}
    return points[name].neuron if name in points else lookup(params, "neurons", name, "neuron")


def group_option(group: str, option: str) -> DictConfig:
    """conf/<group>/<option>.yaml as Hydra composes it (what `dvc exp run -S group=option` would
    put into params.yaml)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import MissingConfigException

    with initialize_config_dir(str(CONF_DIR.resolve()), version_base=None):
        try:
            cfg = compose("config", overrides=[f"{group}={option}"])
        except MissingConfigException as e:
            raise KeyError(f"override {group}={option}: no conf/{group}/{option}.yaml ({e})") from e
    OmegaConf.set_struct(cfg, False)
    return cfg[group]


def neuron_config(name: str, conf_dir: Path = CONF_DIR) -> DictConfig:
    """conf/neuron/<name>.yaml as Hydra composes it (with its surrogate and, for a variant, its
    base neuron): ready for hydra.utils.instantiate."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        return compose(f"neuron/{name}").neuron


def is_group_choice(override: str) -> bool:
    return override.partition("=")[0] in GROUP_CHOICES


def cell_config(params: DictConfig, neuron: str, task: str, seed: int, overrides: list[str] = ()) -> DictConfig:
    """The complete config of one cell. `overrides` edit it in Hydra's style: `trainer=ddp`
    selects another option of a config group (GROUP_CHOICES), `key=value` changes an existing
    setting (e.g. `trainer.max_epochs=1`; a typo is an error), `+key=value` adds one
    (e.g. `+trainer.limit_train_batches=5`)."""
    check_name("neuron", neuron)
    task_cfg = lookup(params, "tasks", check_name("task", task), "task").copy()
    trainer = params.get("trainer", {})
    for item in filter(is_group_choice, overrides):
        trainer = group_option(*item.split("=", 1))
    trainer = OmegaConf.merge(trainer, task_cfg.pop("trainer", {}))
    cfg = OmegaConf.create(
        {
            "neuron_name": neuron,
            "task_name": task,
            "seed": seed,
            "neuron": neuron_settings(params, neuron),
            "task": task_cfg,
            "trainer": trainer,
            "runtime": params.runtime,
            "callbacks": params.callbacks,
            "logger": params.logger,
        }
    )
    for item in [o for o in overrides if not is_group_choice(o)]:
        apply_override(cfg, item)
    return cfg


def apply_override(cfg: DictConfig, item: str) -> None:
    """`key=value` changes an existing setting; `+key=value` adds one inside an existing section
    (a key outside the cell's sections would be ignored silently, so it is refused)."""
    add = item.startswith("+")
    key, sep, _ = item.removeprefix("+").partition("=")
    if not sep or not key:
        raise ValueError(f"override {item!r} is not of the form key=value (e.g. trainer.max_epochs=1)")
    sections = sorted(k for k in cfg if isinstance(cfg[k], DictConfig))
    if key.split(".")[0] not in cfg:
        raise KeyError(
            f"override {item!r}: this cell's config has no {key.split('.')[0]!r} (its sections: {', '.join(sections)}; "
            "a cell's neuron and task settings are neuron.<key> and task.<key>)"
        )
    OmegaConf.set_struct(cfg, not add)
    try:
        cfg.merge_with(OmegaConf.from_dotlist([item.removeprefix("+")]))
    except ConfigKeyError as e:
        parent = key.rpartition(".")[0]
        hint = f" (use +{key}=... to add one to {parent})" if parent and OmegaConf.select(cfg, parent) is not None else ""
        raise KeyError(f"override {item!r}: no setting {key!r} in this cell's config{hint}") from e
    finally:
        OmegaConf.set_struct(cfg, False)



def config_hash(cfg: DictConfig) -> str:
    """sha256 of the resolved config in canonical JSON: equal hashes mean equal settings."""
    canonical = json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def prepared_dir(task: str) -> Path:
    """Where the task's prepare stage writes its split file and any data it generates."""
    return PREPARED_DIR / task


@dataclass(frozen=True)
class Cell:
    neuron: str
    task: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.neuron}-{self.task}-{self.seed}"

    @property
    def addressing(self) -> str:
        """The stage name as DVC addresses it (`dvc repro train@qif-digits-0`)."""
        return f"train@{self.key}"


def planned_cells(profile: DictConfig) -> list[Cell]:
    """Every cell of the profile's table: neurons x tasks x seeds, and neurons x single-seed tasks
    x the first seed (seed 0, e.g. ImageNet). Sweep points add their own cells (`sweep_points`)."""
    cells = [Cell(n, t, s) for n in profile.neurons for t in profile.tasks for s in profile.seeds]
    return cells + [Cell(n, t, 0) for n in profile.neurons for t in profile.single_seed_tasks]


def all_cells(params: DictConfig) -> list[Cell]:
    """Every cell dvc.yaml runs (params.yaml's plan): the table's and the sweeps'."""
    return [Cell(c.neuron, c.task, c.seed) for c in params.plan.cells.values()]


@dataclass(frozen=True)
class SweepPoint:
    """One value of a swept neuron setting: its cells train the base neuron with that value."""

    name: str
    base: str
    param: str
    value: float | int | str
    tasks: tuple[str, ...]


def point_name(base: str, param: str, value) -> str:
    """`qif` `a` 0.5 -> `qif-a-0p5`, `lif` `surrogate.width` 2 -> `lif-width-2`: a safe folder and
    stage name (no '.', which DVC's params paths would split on)."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{base}-{param.rpartition('.')[2]}-{text.replace('.', 'p').replace('-', 'm').replace('+', '')}".lower()


def sweep_points(profile: DictConfig, neurons: DictConfig) -> list[SweepPoint]:
    """The profile's `sweeps` (neuron, param, values, optional tasks): one point per value that
    differs from the base neuron's own (that one is the base neuron's cells)."""
    points = []
    for i, sweep in enumerate(profile.get("sweeps") or []):
        where = f"profile {profile.name!r}, sweeps[{i}]"
        base, param, values = sweep.get("neuron"), sweep.get("param"), sweep.get("values")
        if base not in neurons:
            raise KeyError(f"{where}: neuron {base!r} is not registered in conf/config.yaml")
        if not isinstance(param, str) or OmegaConf.select(neurons[base], param) is None:
            raise KeyError(f"{where}: neuron {base!r} has no setting {param!r} (conf/neuron/{base}.yaml)")
        if not values:
            raise ValueError(f"{where}: `values` must list the settings to try")
        tasks = tuple(sweep.get("tasks") or profile.tasks)
        for task in tasks:
            check_name("task", task)
        for value in values:
            if value != OmegaConf.select(neurons[base], param):
                points.append(SweepPoint(check_name("sweep point", point_name(base, param, value)), base, param, value, tasks))
    names = [p.name for p in points]
    clashes = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(neurons)))
    if clashes:
        raise ValueError(f"profile {profile.name!r}: sweep points {clashes} are named twice (or like a registered neuron); "
                         "list each value once per neuron and setting")
    return points


def point_neuron(point: SweepPoint, neurons: DictConfig) -> dict:
    """The base neuron's settings with the swept one changed."""
    cfg = OmegaConf.create(OmegaConf.to_container(neurons[point.base], resolve=True))
    OmegaConf.update(cfg, point.param, point.value, merge=False)
    return OmegaConf.to_container(cfg)


def target_file(target, what: str) -> str:
    """The source file of a `_target_` (`bench.neurons.lif.LIF` -> bench/neurons/lif.py)."""
    if not isinstance(target, str) or "." not in target:
        raise ValueError(f"{what} needs `_target_: <module>.<Class>`")
    return target.rsplit(".", 1)[0].replace(".", "/") + ".py"


def neuron_code(name: str, neuron: DictConfig) -> str:
    """The source file of a neuron's class: what its cells track as code. Variants
    (conf/neuron/lif-aw.yaml: the same class, other settings) share their base neuron's file."""
    target = neuron.get("_target_") if isinstance(neuron, DictConfig) else None
    return target_file(target, f"neuron {name!r}: its config (conf/neuron/{name}.yaml)")


def task_code(name: str, task: DictConfig) -> dict[str, str]:
    """The source files of a task's own dataset source and backbone (its config's data.source and
    model `_target_`s, written as full module paths): what its cells and its prepare stage track
    besides the code every task shares (dvc.yaml), so that changing one task's loader or backbone
    re-runs only its cells."""
    where = f"task {name!r}: its config (conf/task/{name}.yaml)"
    return {"data": target_file(OmegaConf.select(task, "data.source._target_"), f"{where}, data.source,"),
            "model": target_file(OmegaConf.select(task, "model._target_"), f"{where}, model,")}


def plan(profile: DictConfig, neurons: DictConfig, tasks: DictConfig) -> DictConfig:
    """What dvc.yaml runs, as params.yaml's `plan` (the `bench.plan` resolver of conf/config.yaml):
    each neuron's code file; each task's code files; each sweep point's neuron settings; every
    cell keyed by its stage name, with the code and the params it tracks. DVC's `foreach` cannot
    compute, so the profile's matrix is expanded here."""
    baseline, arms = profile.get("baseline"), profile.get("arms") or {}
    for name in [*profile.neurons, *profile.tasks, *(profile.get("single_seed_tasks") or [])]:
        check_name("neuron or task", name)
    for name in [*([baseline] if baseline else []), *arms]:
        if name not in profile.neurons:
            raise KeyError(f"profile {profile.name!r}: baseline/arm {name!r} is not one of its neurons {list(profile.neurons)}")
    code = {}
    for name in profile.neurons:
        if name not in neurons:
            raise KeyError(f"profile {profile.name!r} lists neuron {name!r}, which conf/config.yaml does not register")
        code[name] = neuron_code(name, neurons[name])
    task_names = list(dict.fromkeys([*profile.tasks, *(profile.get("single_seed_tasks") or [])]))
    for name in task_names:
        if name not in tasks:
            raise KeyError(f"profile {profile.name!r} lists task {name!r}, which conf/config.yaml does not register")
    own = {name: task_code(name, tasks[name]) for name in task_names}

    def cell(c: Cell, neuron_file: str, params: str) -> dict:
        return {"neuron": c.neuron, "task": c.task, "seed": c.seed, "code": neuron_file,
                "data_code": own[c.task]["data"], "model_code": own[c.task]["model"], "params": params}

    cells = {c.key: cell(c, code[c.neuron], f"neurons.{c.neuron}") for c in planned_cells(profile)}
    points = {}
    for point in sweep_points(profile, neurons):
        points[point.name] = {"base": point.base, "param": point.param, "value": point.value,
                              "neuron": point_neuron(point, neurons)}
        for t in point.tasks:
            if t not in own:
                own[t] = task_code(t, lookup_task(tasks, t, profile))
        base_code = neuron_code(point.base, neurons[point.base])
        for c in (Cell(point.name, t, s) for t in point.tasks for s in profile.seeds):
            cells[c.key] = cell(c, base_code, f"plan.points.{point.name}.neuron")
    return OmegaConf.create({
        "neurons": {name: {"code": path} for name, path in code.items()},
        "tasks": {name: {"data_code": files["data"], "model_code": files["model"]} for name, files in own.items()},
        "points": points,
        "cells": cells,
    })


def lookup_task(tasks: DictConfig, name: str, profile: DictConfig) -> DictConfig:
    if name not in tasks:
        raise KeyError(f"profile {profile.name!r}: a sweep lists task {name!r}, which conf/config.yaml does not register")
    return tasks[name]


OmegaConf.register_new_resolver("bench.plan", plan, replace=True)
