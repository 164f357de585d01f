"""spiking-neuron-bench: a reproducible benchmark suite for spiking neuron models."""

from importlib.metadata import PackageNotFoundError, version

from bench import numerics

numerics.pin()  # before anything imports torch: CPU results must not depend on the CPU model

try:
    __version__ = version("spiking-neuron-bench")
except PackageNotFoundError:  # running from a source tree that was not pip-installed
    __version__ = "0.0.0+unknown"
