"""Reading params.yaml (composed from conf/ by DVC's Hydra integration): the resolved config of
one cell (neuron, task, seed) and the paths that follow from names. What a profile plans is
bench.plan (not a dependency of the cells: planning other cells never re-runs these)."""

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

PARAMS_FILE = Path("params.yaml")
CONF_DIR = Path("conf")
PREPARED_DIR = Path("data/prepared")  # data/prepared/<task>/: split.json + generated data (dvc.yaml: prepare outs)
GROUP_CHOICES = ("trainer", "logger", "callbacks")  # config groups a cell may switch, Hydra-style: `trainer=ddp`
# Names become folders (results/runs/<task>/<neuron>/) and words of dvc.yaml's commands.
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{kind} name {name!r} is not allowed: names are lower-case letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (they become folder names and pipeline stage names)"
        )
    return name


@dataclass
class Sweep:
    """One sensitivity sweep of a profile: the base neuron trained with `param` set to each value."""

    neuron: str
    param: str
    values: list[Any]
    tasks: list[str] | None = None


@dataclass
class Questions:
    """What a profile sets out to answer, each a contrast "<neuron> vs <neuron>" tested on every
    task of the profile (bench.leaderboard.questions; docs/statistics.md): the primary question
    (the paper's claim) and the mechanism contrasts that say what explains it. Every other
    comparison of the table is exploratory: an estimate with its CI, no verdict."""

    primary: list[str] = field(default_factory=list)
    mechanism: list[str] = field(default_factory=list)


CONTRAST = re.compile(r"\s*(\S+)\s+vs\s+(\S+)\s*")


def contrast_arms(text: str) -> tuple[str, str]:
    """"qif vs lif" -> ("qif", "lif")."""
    match = CONTRAST.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a contrast; write two of the profile's neurons as '<neuron> vs <neuron>'")
    return match.group(1), match.group(2)


@dataclass
class Profile:
    """The typed schema of a profile (conf/profile/*.yaml). Its names become folders and words of
    dvc.yaml's commands and its seeds become command arguments, so every field is checked here,
    in one place, before the plan that dvc.yaml runs is written."""

    name: str
    neurons: list[str]
    tasks: list[str]
    seeds: list[int]
    baseline: str | None = None
    arms: dict[str, str] = field(default_factory=dict)
    single_seed_tasks: list[str] = field(default_factory=list)
    task_seeds: dict[str, list[int]] = field(default_factory=dict)
    sweeps: list[Sweep] = field(default_factory=list)
    questions: Questions = field(default_factory=Questions)


MAX_SEED = 2**32 - 1  # numpy's and Lightning's seed range


def check_profile(profile: DictConfig) -> DictConfig:
    """The profile typed by `Profile` (an unknown field, a seed that is not an integer in
    0..2^32-1, an unsafe name, or a sweep of a Hydra keyword such as `_target_` is a ValueError
    naming the field), with every name checked by check_name."""
    name = profile.get("name") if isinstance(profile, DictConfig) else None
    where = f"profile {name!r}" if isinstance(name, str) else "the profile"
    try:
        typed = OmegaConf.merge(OmegaConf.structured(Profile), profile)
    except OmegaConfBaseException as e:
        key = f" (setting profile.{e.full_key})" if getattr(e, "full_key", None) else ""
        raise ValueError(f"{where}: {str(e).splitlines()[0]}{key}; see conf/profile/ for the fields a profile has") from None
    baseline = [] if typed.baseline is None else [typed.baseline]
    names = {"profile": [typed.name], "neuron": [*typed.neurons, *typed.arms, *baseline],
             "task": [*typed.tasks, *typed.single_seed_tasks, *typed.task_seeds]}
    for kind, values in names.items():
        for value in values:
            check_name(kind, value)
    for key, seeds in [("seeds", typed.seeds), *((f"task_seeds.{t}", s) for t, s in typed.task_seeds.items())]:
        for seed in seeds:
            if not 0 <= seed <= MAX_SEED:
                raise ValueError(f"{where}: profile.{key} holds {seed}; a seed is an integer from 0 to {MAX_SEED}")
    for i, sweep in enumerate(typed.sweeps):
        check_name("neuron", sweep.neuron)
        for task in sweep.tasks or []:
            check_name("task", task)
        if any(part.startswith("_") for part in sweep.param.split(".")):
            raise ValueError(f"{where}, sweeps[{i}]: param {sweep.param!r} is a Hydra keyword, not a neuron setting; "
                             "sweep a number of the neuron's config (e.g. a, tau, surrogate.width)")
        for value in sweep["values"]:  # (DictConfig.values is the method)
            if not isinstance(value, (int, float, bool, str)):
                raise ValueError(f"{where}, sweeps[{i}]: value {value!r} is not a number, a bool or a word")
    check_questions(typed, where)
    return typed


def check_questions(profile: DictConfig, where: str) -> None:
    """Each question contrasts two different neurons of the profile, is asked once, and mechanism
    contrasts come with a primary question (the gate they are tested behind)."""
    asked: dict[frozenset, str] = {}
    for family in ("primary", "mechanism"):
        for text in profile.questions[family]:
            try:
                a, b = contrast_arms(text)
            except ValueError as e:
                raise ValueError(f"{where}, questions.{family}: {e}") from None
            for arm in (a, b):
                if arm not in profile.neurons:
                    raise ValueError(f"{where}, questions.{family}: {text!r} names {arm!r}, which is not among the "
                                     f"profile's neurons {list(profile.neurons)}")
            if a == b or frozenset((a, b)) in asked:
                why = "contrasts a neuron with itself" if a == b else f"is asked twice ({asked[frozenset((a, b))]})"
                raise ValueError(f"{where}, questions.{family}: {text!r} {why}")
            asked[frozenset((a, b))] = f"questions.{family}"
    if profile.questions.mechanism and not profile.questions.primary:
        raise ValueError(f"{where}: questions.mechanism needs a questions.primary: mechanism contrasts are tested "
                         "behind the primary question's gate (docs/statistics.md)")


def check_names(params: DictConfig) -> DictConfig:
    """Every registered neuron and task, and the profile (check_profile)."""
    for kind, group in (("neuron", "neurons"), ("task", "tasks")):
        for name in params.get(group) or {}:
            check_name(kind, name)
    if params.get("profile") is not None:
        check_profile(params.profile)
    check_points(params)
    return params


def check_points(params: DictConfig) -> None:
    """Each sweep point of params.yaml's plan is its base neuron with one setting changed, as
    `bench.compose` wrote it: a hand edit of neurons.<base> that the plan does not follow would run
    the base neuron's cells under one config and its sweep's under another."""
    for name, point in ((params.get("plan") or {}).get("points") or {}).items():
        base = (params.get("neurons") or {}).get(point.base)
        if base is None:
            continue
        expected = OmegaConf.create(OmegaConf.to_container(base, resolve=True))
        OmegaConf.update(expected, point.param, point.value, merge=False)
        differing = [key for key in sorted(set(leaf_keys(expected)) | set(leaf_keys(point.neuron)))
                     if OmegaConf.select(expected, key) != OmegaConf.select(point.neuron, key)]
        if differing:
            key = differing[0]
            raise ValueError(
                f"params.yaml: sweep point {name} has {point.base}.{key} = {OmegaConf.select(point.neuron, key)!r} but "
                f"neurons.{point.base}.{key} is {OmegaConf.select(expected, key)!r}: params.yaml was edited by hand; "
                "edit conf/ instead and run `python -m bench.compose` (or `dvc exp run -S ...`), which writes both")


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
        except MissingConfigException:
            options = sorted(f.stem for f in (CONF_DIR / group).glob("*.yaml"))
            close = difflib.get_close_matches(option, options, n=1)
            hint = f"; did you mean {group}={close[0]}?" if close else ""
            raise KeyError(f"override {group}={option}: no conf/{group}/{option}.yaml (options: {', '.join(options)})"
                           f"{hint}") from None
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
    """The complete config of one cell. `overrides` edit it in the language of `dvc exp run -S`
    and params.yaml: `trainer=ddp` selects another option of a config group (GROUP_CHOICES),
    `key=value` changes an existing setting (`neurons.qif.a=0.1`, `tasks.digits.trainer.max_epochs=3`,
    `trainer.max_epochs=1`; a typo is an error naming the closest key), `+key=value` adds one
    (`+trainer.limit_train_batches=5`). `neuron.<key>` and `task.<key>` address the cell's own
    neuron and task as well."""
    check_name("neuron", neuron)
    task_cfg = lookup(params, "tasks", check_name("task", task), "task").copy()
    groups = {"trainer": params.get("trainer", {}), "logger": params.logger, "callbacks": params.callbacks}
    for item in filter(is_group_choice, overrides):
        group, option = item.split("=", 1)
        groups[group] = group_option(group, option)
    cfg = OmegaConf.create(
        {
            "neuron_name": neuron,
            "task_name": task,
            "seed": seed,
            "neuron": neuron_settings(params, neuron),
            "task": task_cfg,
            "trainer": OmegaConf.merge(groups["trainer"], task_cfg.pop("trainer", {})),
            "runtime": params.runtime,
            "callbacks": groups["callbacks"],
            "logger": groups["logger"],
        }
    )
    for item in [o for o in overrides if not is_group_choice(o)]:
        cell_item, prefixes = in_cell_terms(item, neuron, task)
        apply_override(cfg, cell_item, prefixes)
    return cfg


def in_cell_terms(item: str, neuron: str, task: str) -> tuple[str, tuple[str, str]]:
    """A params.yaml key (`neurons.<neuron>.<key>`, `tasks.<task>.<key>`, the task's
    `tasks.<task>.trainer.<key>`) as the cell's config names it (`neuron.<key>`, `task.<key>`,
    `trainer.<key>`), with the (cell, typed) prefixes that spell a cell key back as it was typed;
    a key of another neuron or task would not change this cell, so it is refused."""
    plus = "+" if item.startswith("+") else ""
    key, sep, value = item.removeprefix("+").partition("=")
    for section, mine, kind in (("neurons", neuron, "neuron"), ("tasks", task, "task")):
        if not key.startswith(section + "."):
            continue
        name, _, rest = key.removeprefix(section + ".").partition(".")
        if name != mine or not rest:
            raise KeyError(f"override {item!r}: this cell trains {kind} {mine!r}; {section}.{name or '<name>'}.* does not "
                           f"change it (its settings are {section}.{mine}.<key>)")
        typed = f"{section}.{mine}."
        if kind == "task" and rest.startswith("trainer."):  # a task's trainer settings are merged into the cell's trainer
            return f"{plus}{rest}{sep}{value}", ("trainer.", typed + "trainer.")
        return f"{plus}{kind}.{rest}{sep}{value}", (f"{kind}.", typed)
    return item, ("", "")


def apply_override(cfg: DictConfig, item: str, prefixes: tuple[str, str] = ("", "")) -> None:
    """`key=value` changes an existing setting; `+key=value` adds one inside an existing section
    (a key outside the cell's sections would be ignored silently, so it is refused). Errors name
    keys as the user typed them: `prefixes` (cell, typed) spell a cell key back (in_cell_terms)."""
    add = item.startswith("+")
    key, sep, value = item.removeprefix("+").partition("=")
    cell_prefix, typed_prefix = prefixes

    def spell(k: str) -> str:
        if not cell_prefix or not (k + ".").startswith(cell_prefix):
            return k
        return (typed_prefix + (k + ".").removeprefix(cell_prefix)).rstrip(".")

    typed = f"{'+' if add else ''}{spell(key)}{sep}{value}"
    if not sep or not key:
        raise ValueError(f"override {typed!r} is not of the form key=value (e.g. trainer.max_epochs=1)")
    sections = sorted(k for k in cfg if isinstance(cfg[k], DictConfig))
    if key.split(".")[0] not in cfg:
        raise KeyError(
            f"override {typed!r}: this cell's config has no {key.split('.')[0]!r} (its sections: {', '.join(sections)}; "
            "its neuron's and task's settings are neurons.<neuron>.<key> and tasks.<task>.<key>, as in params.yaml)"
        )
    OmegaConf.set_struct(cfg, not add)
    try:
        edit = OmegaConf.from_dotlist([item.removeprefix("+")])
        check_type(spell(key), OmegaConf.select(cfg, key), OmegaConf.select(edit, key))
        cfg.merge_with(edit)
    except ConfigKeyError as e:
        parent = key.rpartition(".")[0]
        candidates = [k for k in leaf_keys(cfg) if k.startswith(cell_prefix)]  # in the section the user typed
        close = difflib.get_close_matches(key, candidates, n=1)
        hint = f"; did you mean {spell(close[0])}?" if close else ""
        if parent and OmegaConf.select(cfg, parent) is not None:
            hint += f" (or use +{spell(key)}=... to add one to {spell(parent)})"
        raise KeyError(f"override {typed!r}: no setting {spell(key)!r} in this cell's config{hint}") from e
    finally:
        OmegaConf.set_struct(cfg, False)


def check_type(key: str, current: Any, new: Any) -> None:
    """A number stays a number: `neurons.qif.a=abc` is an error naming the setting, not a comparison
    failing deep inside the neuron. (Lightning's trainer settings take words for some numbers,
    devices=auto, precision=16-mixed: bench.train checks those.)"""
    number = (int, float)
    if key.startswith("trainer.") or isinstance(current, bool) or not isinstance(current, number) or new is None:
        return
    if isinstance(new, bool) or not isinstance(new, number):
        raise ValueError(f"{key} must be a number, got {new!r}")


def leaf_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every setting's dotted key (`neuron.a`, `trainer.max_epochs`, ...)."""
    keys = []
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        keys += leaf_keys(v, key + ".") if isinstance(v, DictConfig) else [key]
    return keys


def config_hash(cfg: DictConfig) -> str:
    """sha256 of the resolved config in canonical JSON: equal hashes mean equal settings."""
    canonical = json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def dynamics_stage(neuron: str) -> str:
    """The stage name of a neuron's phase portrait as DVC addresses it (`dvc repro dynamics@qif`)."""
    return f"dynamics@{neuron}"


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

    def __str__(self) -> str:
        """How messages and reports name a cell: as its record's folder, results/runs/<task>/<neuron>/<seed>."""
        return f"{self.task}/{self.neuron}/{self.seed}"
