"""The fused neuron path (runtime.neuron_backend: fused): a neuron's own eager loop,
`Neuron.multistep`, compiled by torch.compile (TorchInductor) forward and backward, so it works
for any neuron's f without a hand-written backward. Three choices keep it near the memory floor
(each measured with `python -m bench.perf neurons`, docs/performance.md):

- Everything is recomputed in backward (activation checkpointing of the whole T-step loop): the
  forward keeps only its input, and never stores the boolean surrogate masks that the
  partitioner otherwise chose to save, which TorchInductor writes slowly on CPU. On CPU the
  results of transcendental functions (AdEx's exp) are kept instead of recomputed.
- Arithmetic on the neuron's scalar parameters (1/tau, the QIF or Izhikevich coefficients, the
  resting state) runs once per call (`ScalarsOnce`) instead of once per vector of every kernel.
- One cache folder per CPU instruction set (`compile_cache_per_isa`).
"""

import functools
import os
import warnings

import torch
from torch import Tensor
from torch._inductor.custom_graph_pass import CustomGraphPass, get_hash_for_files
from torch.fx import Graph, Node
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts, noop_context_fn

_compiled = None  # the compiled loop, shared by every neuron; False once compilation failed


@torch.library.custom_op("bench::computed_once", mutates_args=())
def computed_once(value: Tensor) -> Tensor:
    """A copy TorchInductor cannot inline into the kernels that read it (it has no lowering)."""
    return value.clone()


@computed_once.register_fake
def _(value: Tensor) -> Tensor:
    return torch.empty_like(value)


def _is_scalar(node: Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, Tensor) and value.numel() == 1


def _on_cpu(node: Node) -> bool:
    return node.meta["val"].device.type == "cpu"


class ScalarsOnce(CustomGraphPass):
    """TorchInductor inlines a pointwise value into every kernel that reads it. For a value of the
    neuron's scalar parameters (1 / tau, a square root in a resting state) that means the
    arithmetic is redone for every 8 elements of a layer-sized kernel: the kernel's inputs may
    alias its outputs, so the C++ compiler cannot hoist it out of the loop (its cost:
    docs/performance.md, "The fused path at its real cost"). This pass computes each such value
    into its own one-element buffer that the big kernels then load. CPU only: a GPU kernel's
    threads redo such arithmetic in parallel, where an extra launch would cost more."""

    def __call__(self, graph: Graph) -> None:
        for node in list(graph.nodes):
            if not self._is_scalar_arithmetic(node):
                continue
            readers = [user for user in node.users if user.op == "call_function" and not _is_scalar(user)]
            if readers:
                with graph.inserting_after(node):
                    once = graph.call_function(torch.ops.bench.computed_once.default, (node,))
                once.meta["val"] = node.meta["val"]
                for reader in readers:
                    reader.replace_input_with(node, once)

    @staticmethod
    def _is_scalar_arithmetic(node: Node) -> bool:
        """A computed one-element value on CPU of one-element inputs (not a view, not a constant)."""
        if node.op != "call_function" or not _is_scalar(node) or not _on_cpu(node) or getattr(node.target, "is_view", False):
            return False
        inputs = node.all_input_nodes
        return bool(inputs) and all(_is_scalar(i) for i in inputs)

    def uuid(self) -> bytes:
        return get_hash_for_files((__file__,))  # a compiled kernel is reused only with this very pass


aten = torch.ops.aten
# Kept for backward on CPU rather than recomputed: each costs tens of vector operations there, more
# than writing and reading back one float per element (docs/performance.md, "Transcendental
# results kept on CPU"). On a GPU, where these kernels are memory-bound, everything is recomputed.
KEPT_ON_CPU = frozenset({aten.exp.default, aten.expm1.default, aten.exp2.default, aten.log.default, aten.log1p.default,
                         aten.log2.default, aten.sigmoid.default, aten.tanh.default})


def _keep_transcendentals(ctx, op, *args, **kwargs) -> CheckpointPolicy:
    return CheckpointPolicy.MUST_SAVE if op in KEPT_ON_CPU else CheckpointPolicy.PREFER_RECOMPUTE


def _recomputed_in_backward(neuron, x: Tensor) -> Tensor:
    on_cpu = x.device.type == "cpu"
    context = functools.partial(create_selective_checkpoint_contexts, _keep_transcendentals) if on_cpu else noop_context_fn
    return checkpoint(type(neuron).multistep, neuron, x, use_reentrant=False, context_fn=context)


def compile_cache_per_isa() -> None:
    """TorchInductor keeps compiled kernels on disk for every later process of the user, but its
    cache key does not tell kernels built for AVX2 from AVX-512 ones: a process pinned to AVX2
    (bench.numerics) and one that is not (torch imported before bench) loaded each other's
    kernels, which corrupted the heap (double free) or raised inside the kernel (torch 2.14, on
    this machine). One cache folder per instruction set keeps them apart; a folder set in
    TORCHINDUCTOR_CACHE_DIR other than TorchInductor's default (which importing it sets) is used
    as it is."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    if os.environ.get("TORCHINDUCTOR_CACHE_DIR", default_cache_dir()) == default_cache_dir():
        isa = torch.backends.cpu.get_cpu_capability().lower()
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(default_cache_dir(), f"cpu-{isa}")


def fused_multistep(neuron, x: Tensor) -> Tensor:
    """Spikes of `neuron` on x [T, B, ...] through the compiled loop: the same numbers as the eager
    loop (tests/test_neuron_conformance.py). Falls back to the eager loop, with one warning, where
    compilation is unavailable."""
    global _compiled
    if _compiled is None:
        compile_cache_per_isa()
        # Static shapes: one compilation per input shape, and shapes repeat every batch; dynamic
        # shapes compile once but run slower (docs/performance.md, "A cell as a process").
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _compiled = torch.compile(
            _recomputed_in_backward, dynamic=False, options={"post_grad_custom_post_pass": ScalarsOnce()}
        )
    if _compiled is False:
        return neuron.multistep(x)
    try:
        return _compiled(neuron, x)
    except Exception as error:  # no compiler toolchain, unsupported platform, ...
        spikes = neuron.multistep(x)  # a genuine bug in the neuron raises here instead
        warnings.warn(f"fused neuron path unavailable, using the eager loop ({type(error).__name__}: {error})", stacklevel=2)
        _compiled = False
        return spikes
