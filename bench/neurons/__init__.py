"""Spiking neurons. Every neuron shares the form of paper.md §1 (see `base.Neuron`).

Built-in neurons live one per file (`lif.py`, `qif.py`) and are selected by the `_target_`
of their config in `conf/neuron/`; adding a neuron edits no existing file here.
"""

from bench.neurons.base import Neuron
from bench.neurons.lif import LIF
from bench.neurons.qif import QIF

__all__ = ["Neuron", "LIF", "QIF"]
