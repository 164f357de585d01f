"""Re-create params.yaml from conf/ exactly as `dvc exp run` does (DVC's own compose function),
so that `dvc repro` can be used after editing conf/. Usage: python -m bench.compose [overrides]"""
from pathlib import Path

from dvc.utils.hydra import compose_and_dump
from omegaconf import OmegaConf

import bench.plan  # noqa: F401  (registers the bench.plan resolver)
from bench.atomic import atomic_path
from bench.config import PARAMS_FILE, check_names


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


def closest(error: Exception) -> str:
    """For an override of a setting that does not exist, the nearest one params.yaml has."""
    import difflib
    import re

    from bench.config import leaf_keys

    unknown = re.search(r"Could not override '([^']+)'", str(error))
    if not unknown or not PARAMS_FILE.is_file():
        return ""
    params = OmegaConf.load(PARAMS_FILE)
    keys = [k for k in leaf_keys(params) if not k.startswith("plan.")]
    match = difflib.get_close_matches(unknown.group(1), keys, n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def main(argv: list[str] | None = None) -> None:
    import argparse

    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    parser = argparse.ArgumentParser(prog="python -m bench.compose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as `dvc exp run -S` takes them (e.g. profile=paper)")
    args = parser.parse_args(argv)
    try:
        compose(overrides=args.overrides)
    except HydraException as e:  # a malformed or unknown override: one line, params.yaml untouched
        raise SystemExit(f"python -m bench.compose: {type(e).__name__}: {str(e).splitlines()[0]}{closest(e)}") from None
    except (OmegaConfBaseException, ValueError, KeyError) as e:  # the profile refused by bench.plan (its schema)
        import re

        text = re.sub(r"^\w+ raised while resolving interpolation: ", "", str(e.args[0] if e.args else e))
        raise SystemExit(f"python -m bench.compose: {text.splitlines()[0]}; params.yaml is unchanged") from None
    print(f"wrote {PARAMS_FILE}")


if __name__ == "__main__":
    main()
