"""What the pipeline runs: a profile (conf/profile/) expanded into params.yaml's `plan`, which
dvc.yaml iterates (DVC's `foreach` cannot compute). Registered as the OmegaConf resolver
`bench.plan` of conf/config.yaml (here, and in hydra_plugins/ for DVC's own compose).

The plan holds each neuron's code file, each task's own code files, each sweep point's neuron
settings, and every cell keyed by its stage name with the code and the params it tracks. Cells do
not depend on this module: adding a task, a seed or a sweep plans new cells and re-runs none."""

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from bench.config import Cell, check_name, check_profile, contrast_arms


def task_seeds(profile: DictConfig, task: str) -> list[int]:
    """The seeds a profile runs a task with: `task_seeds.<task>` if given, else `seeds`."""
    return list((profile.get("task_seeds") or {}).get(task) or profile.seeds)


def planned_cells(profile: DictConfig) -> list[Cell]:
    """Every cell of the profile's table: neurons x tasks x the task's seeds (task_seeds), and
    neurons x single-seed tasks x seed 0 (e.g. ImageNet). Sweep points add their own cells
    (`sweep_points`)."""
    cells = [Cell(n, t, s) for n in profile.neurons for t in profile.tasks for s in task_seeds(profile, t)]
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


MAX_CELLS = 1000  # a plan DVC handles in seconds (500 sweep values, 2,500 cells: `dvc status` took > 300 s)
MAX_SWEEP_VALUES = 32


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
        if len(values) > MAX_SWEEP_VALUES:
            raise ValueError(f"{where}: {len(values)} values, more than {MAX_SWEEP_VALUES}; a sensitivity sweep needs a "
                             "few points (each is a cell per task and seed)")
        tasks = tuple(sweep.get("tasks") or profile.tasks)
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


# ---- tuning (bench/tune.py runs what is planned here) ---------------------------------------


def tuned_tasks(profile: DictConfig, tuning: DictConfig | None) -> list[str]:
    """The profile's tasks whose arms are tuned (those of `tuning.tasks`, if any trials are asked)."""
    if not tuning or not tuning.get("trials"):
        return []
    return [t for t in profile.tasks if t in (tuning.get("tasks") or [])]


def tuned_seeds(profile: DictConfig, tuning: DictConfig, task: str, neuron: str) -> list[int]:
    """The seeds of a neuron's tuned cells on a task: the profile's, and for the arms of the primary
    question as many more (the lowest unused) as make `tuning.primary_seeds` in all."""
    seeds = task_seeds(profile, task)
    primary = {arm for text in (profile.get("questions") or {}).get("primary") or [] for arm in contrast_arms(text)}
    wanted = tuning.get("primary_seeds") or 0
    extra = (s for s in range(wanted + len(seeds)) if s not in seeds)
    return seeds + [next(extra) for _ in range(wanted - len(seeds))] if neuron in primary else seeds


def search_space(tuning: DictConfig, neuron: str) -> dict[str, dict]:
    """Setting path (of a cell's config) -> {low, high, log}: the shared space, then the neuron's own."""
    own = (tuning.get("neurons") or {}).get(neuron)
    return {**OmegaConf.to_container(tuning.space), **(OmegaConf.to_container(own) if own else {})}


def check_tuning(tuning: DictConfig, neurons: DictConfig) -> None:
    """At compose time: positive counts, ranges with low < high (and low > 0 on a log scale), paths
    into the cell's task or neuron config that exist there, and tuned neurons that are registered."""
    where = "tuning (conf/tuning/)"
    for key in ("trials", "epochs", "seed", "sampler_seed", "startup_trials", "warmup_epochs", "primary_seeds"):
        value = tuning.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "epochs" else 0):
            least = "a positive integer" if key == "epochs" else "an integer >= 0"
            raise ValueError(f"{where}: {key} must be {least}, got {value!r}")
    for neuron in (tuning.get("neurons") or {}):
        if neuron not in neurons:
            raise ValueError(f"{where}: neurons.{neuron} is not a registered neuron (conf/config.yaml)")
    for neuron in [None, *(tuning.get("neurons") or {})]:
        for path, spec in (search_space(tuning, neuron) if neuron else OmegaConf.to_container(tuning.space)).items():
            head = path.split(".", 1)[0]
            if head not in ("task", "neuron") or "." not in path or any(p.startswith("_") for p in path.split(".")):
                raise ValueError(f"{where}: {path!r} is not a setting of a cell's task or neuron (e.g. task.optimizer.lr, "
                                 "neuron.a)")
            setting = path.split(".", 1)[1]
            if head == "neuron" and OmegaConf.select(neurons[neuron], setting) is None:
                raise ValueError(f"{where}: neuron {neuron!r} has no setting {setting!r} (conf/neuron/{neuron}.yaml)")
            low, high = (spec or {}).get("low"), (spec or {}).get("high")
            numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
            if not numbers or not low < high or (spec.get("log") and low <= 0):
                raise ValueError(f"{where}: {path} needs numbers low < high (low > 0 with log: true), got {spec}")


def plan(profile: DictConfig, neurons: DictConfig, tasks: DictConfig, tuning: DictConfig | None = None) -> DictConfig:
    """What dvc.yaml runs, as params.yaml's `plan` (the `bench.plan` resolver of conf/config.yaml):
    each neuron's code file; each task's code files; each sweep point's neuron settings; every
    cell keyed by its stage name, with the code and the params it tracks; and, for the tasks the
    tuning config names, a study per neuron (`studies`, keyed <neuron>-<task>) and its tuned cells
    (`tuned`, keyed as cells are). DVC's `foreach` cannot compute, so the profile's matrix is
    expanded here."""
    profile = check_profile(profile)  # typed: safe names, integer seeds (they reach dvc.yaml's commands)
    baseline, arms = profile.get("baseline"), profile.get("arms") or {}
    for name in profile.get("task_seeds") or {}:
        if name not in profile.tasks:
            raise KeyError(f"profile {profile.name!r}: task_seeds names {name!r}, not one of its tasks {list(profile.tasks)}")
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
        for c in (Cell(point.name, t, s) for t in point.tasks for s in task_seeds(profile, t)):
            cells[c.key] = cell(c, base_code, f"plan.points.{point.name}.neuron")
    studies, tuned = {}, {}
    if tuning:
        check_tuning(tuning, neurons)
        for task in tuned_tasks(profile, tuning):
            for name in profile.neurons:
                studies[f"{name}-{task}"] = {"neuron": name, "task": task, "code": code[name], "data_code": own[task]["data"],
                                             "model_code": own[task]["model"], "params": f"neurons.{name}",
                                             "space": search_space(tuning, name)}  # what its stage tracks of tuning.neurons
                for c in (Cell(name, task, s) for s in tuned_seeds(profile, tuning, task, name)):
                    tuned[c.key] = cell(c, code[name], f"neurons.{name}")
    if len(cells) + len(tuned) > MAX_CELLS:
        planned = len(cells) + len(tuned)
        raise ValueError(f"profile {profile.name!r} plans {planned} cells, more than {MAX_CELLS}: `dvc status` and "
                         "`dvc repro` slow to minutes per call beyond that; split it into profiles or fewer sweep values")
    return OmegaConf.create({
        "neurons": {name: {"code": path} for name, path in code.items()},
        "tasks": {name: {"data_code": files["data"], "model_code": files["model"]} for name, files in own.items()},
        "points": points,
        "cells": cells,
        "studies": studies,
        "tuned": tuned,
    })


def lookup_task(tasks: DictConfig, name: str, profile: DictConfig) -> DictConfig:
    if name not in tasks:
        raise KeyError(f"profile {profile.name!r}: a sweep lists task {name!r}, which conf/config.yaml does not register")
    return tasks[name]


OmegaConf.register_new_resolver("bench.plan", plan, replace=True)
