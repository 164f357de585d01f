"""spiking-neuron-bench: a reproducible benchmark suite for spiking neuron models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spiking-neuron-bench")
except PackageNotFoundError:  # running from a source tree that was not pip-installed
    __version__ = "0.0.0+unknown"
