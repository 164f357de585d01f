"""Re-create params.yaml from conf/ exactly as `dvc exp run` does (DVC's own compose function),
so that `dvc repro` can be used after editing conf/. Usage: python -m bench.compose [overrides]"""

import sys
from pathlib import Path

from dvc.utils.hydra import compose_and_dump
from omegaconf import OmegaConf

from bench.atomic import atomic_path
from bench.config import PARAMS_FILE, check_names  # also registers the bench.plan resolver


def compose(output: Path = PARAMS_FILE, overrides: list[str] = (), root: Path = Path(".")) -> None:
    with atomic_path(Path(output)) as staging:  # a params.yaml with unsafe names never lands
        compose_and_dump(
            staging,
            config_dir=str((Path(root) / "conf").resolve()),
            config_module=None,
            config_name="config",
            plugins_path=str(Path(root).resolve()),  # as DVC does: the folder that holds hydra_plugins/
            overrides=list(overrides),
        )
        check_names(OmegaConf.load(staging))


if __name__ == "__main__":
    compose(overrides=sys.argv[1:])
    print(f"wrote {PARAMS_FILE}")
