"""spiking-neuron-bench: a reproducible benchmark suite for spiking neuron models."""

from importlib.metadata import PackageNotFoundError, version

from bench import numerics

numerics.pin()  # before anything imports torch: CPU results must not depend on the CPU model



def skip_exit_collections() -> None:
    """Called last by a command that imported torch and Lightning: the interpreter's garbage
    collections at exit would walk every object their imports made (docs/performance.md), and
    frozen objects are skipped. Everything the command wrote is closed by then."""
    import gc

    gc.freeze()


try:
    __version__ = version("spiking-neuron-bench")
except PackageNotFoundError:  # running from a source tree that was not pip-installed
    __version__ = "0.0.0+unknown"
