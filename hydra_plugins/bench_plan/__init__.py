"""Registers the `bench.plan` resolver of conf/config.yaml wherever Hydra composes it. DVC's Hydra
integration (`dvc exp run`) imports the modules of the repository's hydra_plugins/ before it
composes params.yaml (its `hydra.plugins_path`, the repository root by default)."""

import bench.plan  # noqa: F401  (registers the resolver on import)
