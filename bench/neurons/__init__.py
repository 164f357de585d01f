"""Spiking neurons. Every neuron shares the form of paper.md §1 (see `base.Neuron`).

Each neuron lives in its own file, `bench/neurons/<name>.py`, and is selected by the `_target_`
of `conf/neuron/<name>.yaml`. Nothing here imports them, so a cell depends only on its own
neuron's file (dvc.yaml tracks exactly that) and adding a neuron edits no existing file.
"""

from bench.neurons.base import Neuron

__all__ = ["Neuron"]
