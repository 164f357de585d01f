"""Measured speed, as ratios from one run (never bare seconds across runs).

Usage: python -m bench.perf neurons [--shape T B ...]... [--neuron N ...] [--rounds N] [--device cpu|cuda] [--backend B ...]
                                    [--against COMMIT]
       python -m bench.perf cell <neuron> <task> [--seed S] [--rounds N]
       python -m bench.perf train <task> [<neuron> ...] [--backend B ...] [--batch N] [--precision P] [--out FILE]
       python -m bench.perf profile <profile> [--measured FILE ...] [--batch N] [--out FILE]

`train` and `profile`: costs at paper scale (bench.costs): step times of a task's real network on
synthetic data, and the projected device-hours of every cell of a profile.

`cell`: one cell of params.yaml trained and tested by the suite (bench.train's run_cell, in this
process, into a scratch folder), by a plain PyTorch loop written here without Lightning (the
same model, data, optimiser, schedule and epochs, a best-validation checkpoint kept in memory and
the test) and by the plain loop's steps in a bare Lightning Trainer (Lightning's own loop, none of
the suite's metrics, checkpoints or logs), alternately for N rounds; prints the medians and the
overhead ratios, then the wall time of the cell as a process (`python -m bench.train`, imports
included).

`neurons`:
Times forward+backward of every neuron in params.yaml on each path, on each input shape (default,
in one run: [25, 32, 128], a hidden layer of the embedded tasks, and [4, 32, 128, 32, 32], a
convolutional layer of the paper tasks; float32), interleaved with the memory floor and, when installed, snnTorch
`Leaky` and spikingjelly `LIFNode`/`QIFNode` (multi-step, torch backend): every candidate runs
once per round, after warm-up (which includes compilation), and the medians over rounds are
compared. Backward gets one fixed dense gradient, as from the layer above in a network (a
`.sum()` would hand the compiled path a broadcast gradient it first copies out in full). The
floor is `x * 1.0` on the same tensor, forward and backward: read and write the tensor twice. A
neuron reads x and writes spikes, then in backward reads what it kept (x alone on the fused path,
unless it keeps transcendental results on CPU) and the gradient and writes the input gradient:
1.25x the floor's bytes is its physical limit; arithmetic beyond what memory hides shows above that.

On CPU the allocator is held steady while timing (glibc: freed memory stays mapped, as a CUDA
caching allocator keeps it): with the default, a fresh 64 MiB tensor costs its page faults
again on every allocation, which moved the floor between 10 and 63 ms in one process depending
on what had run before. Times are on the configured thread count (runtime.cpu_threads).

--against COMMIT adds every neuron's bptt path as bench/neurons/base.py at COMMIT runs it (same
neurons, that commit's time loop), with the time of today's path relative to it and whether the
two give identical spikes and input gradients: a before/after of the loop measured in one run.

Memory: the bytes each candidate keeps for backward (distinct storages packed by autograd;
activations dominate the memory of BPTT), and on CUDA the peak allocated during forward+backward.
"""

import argparse
import contextlib
import ctypes
import functools
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from hydra.utils import instantiate

from bench import costs
from bench.config import Cell, load_params
from bench.neurons.base import BACKENDS, Neuron

DEFAULT_SHAPE = (4, 32, 128, 32, 32)  # a convolutional layer of the paper tasks (ResNet-19, T = 4)
EMBEDDED_SHAPE = (25, 32, 128)  # a hidden layer of the embedded tasks (randman: T = 25, batch 32)
SHAPES = (EMBEDDED_SHAPE, DEFAULT_SHAPE)  # what `neurons` measures by default, in one run


def our_neurons(T: int, backends: tuple[str, ...] = BACKENDS, only: tuple[str, ...] = ()) -> dict[str, Neuron]:
    """Every neuron of params.yaml (or those named in `only`) on each backend, as configured
    (calibrated for T, alpha = 1)."""
    out = {}
    neurons = load_params().neurons
    unknown = sorted(set(only) - set(neurons))
    if unknown:
        raise SystemExit(f"bench.perf neurons --neuron: {unknown} not in params.yaml's neurons ({', '.join(neurons)})")
    for name, cfg in neurons.items():
        if only and name not in only:
            continue
        for backend in backends:
            neuron = instantiate(cfg, backend=backend)
            neuron.calibrate(T=T, alpha=1.0)
            out[f"{name} {backend}"] = neuron
    return out


def peer_neurons() -> dict[str, Callable]:
    """Multi-step peers with the same LIF dynamics (decay 0.5, hard reset to 0), when installed.
    snnTorch 1.0.0's Leaky(beta=0.5, reset_mechanism="zero") gave the same spikes as our LIF
    (tau = 2) on 20 steps x 20,000 neurons of N(0.3, 0.6^2) input; spikingjelly's QIFNode differs
    from our QIF by its input scaling and start (docs/neurons.md)."""
    peers: dict[str, Callable] = {}
    try:
        import snntorch

        leaky = snntorch.Leaky(beta=0.5, reset_mechanism="zero")

        def snntorch_leaky(x):
            mem, spikes = leaky.init_leaky(), []
            for x_t in x:
                s, mem = leaky(x_t, mem)
                spikes.append(s)
            return torch.stack(spikes)

        peers["snntorch Leaky"] = snntorch_leaky
    except ImportError:
        pass
    try:
        from spikingjelly.activation_based import neuron as sj

        for label, node in (("LIFNode", sj.LIFNode(tau=2.0, step_mode="m")), ("QIFNode", sj.QIFNode(step_mode="m"))):

            def run(x, node=node):
                node.reset()
                return node(x)

            peers[f"spikingjelly {label}"] = run
    except ImportError:
        pass
    return peers


def bptt_at(ref: str, T: int, device: str, only: tuple[str, ...] = ()) -> dict[str, Callable]:
    """Every neuron's bptt path as git commit `ref` runs it (bench/neurons/bptt.py, or base.py
    before the path had its own module): the same neuron objects (f, g, surrogate of today's code)
    through that commit's _ThroughTime and _ThroughTimeStates, named "<neuron> bptt@<ref>". A
    before/after of the time loop in one run."""
    import subprocess
    import types

    for path in ("bench/neurons/bptt.py", "bench/neurons/base.py"):
        shown = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True)
        if not shown.returncode:
            break
    else:
        raise SystemExit(f"bench.perf neurons --against {ref}: git cannot show its bench/neurons/base.py: {shown.stderr.strip()}")
    then = types.ModuleType(f"bench.neurons.bptt@{ref}")
    exec(compile(shown.stdout, f"{ref}:{path}", "exec"), then.__dict__)
    out: dict[str, Callable] = {}
    for name, neuron in our_neurons(T, ("bptt",), only).items():
        neuron = neuron.to(device)
        if hasattr(then, "through_time"):  # the module's own entry point, whatever its Functions take
            out[f"{name}@{ref}"] = lambda x, n=neuron, f=then.through_time: f(n, x)
            continue
        through_time = getattr(then, "_ThroughTimeStates" if neuron.states else "_ThroughTime", None)
        if through_time is not None:  # a commit before multi-state neurons has no path for them
            out[f"{name}@{ref}"] = lambda x, n=neuron, f=through_time: f.apply(x, n, *n.parameters())
    return out


def candidates(T: int, device: str, backends: tuple[str, ...] = BACKENDS, against: str | None = None,
               only: tuple[str, ...] = ()) -> dict[str, Callable]:
    out: dict[str, Callable] = {"floor": lambda x: x * 1.0}
    out.update({name: n.to(device) for name, n in our_neurons(T, backends, only).items()})
    if against:
        out.update(bptt_at(against, T, device, only))
    out.update(peer_neurons())
    return out


def same_numbers(fn: Callable, other: Callable, x: torch.Tensor) -> bool:
    """Whether two candidates give bit-identical spikes and input gradients on x."""
    grads = []
    for f in (fn, other):
        leaf = x.detach().requires_grad_()
        spikes = f(leaf)
        spikes.backward(torch.ones_like(spikes) * torch.linspace(-1, 1, spikes.shape[-1], device=x.device))
        grads.append((spikes.detach(), leaf.grad))
    return all(torch.equal(a, b) for a, b in zip(*grads))


def fwd_bwd(fn: Callable, x: torch.Tensor, grad: torch.Tensor) -> None:
    x = x.detach().requires_grad_()  # a fresh leaf: the gradient is cleared each time
    fn(x).backward(grad)


# glibc's mallopt parameters (malloc.h) and their defaults
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536


@contextlib.contextmanager
def steady_allocator() -> Iterator[str]:
    """Freed memory stays mapped while timing: no mmap for big blocks, no trimming of the heap.
    Yields what the allocator does, for the report; a libc without mallopt is left alone."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        yield "system default allocator"
        return
    mallopt(M_MMAP_MAX, 0)
    mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield "freed memory kept mapped"
    finally:
        mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)


def saved_bytes(fn: Callable, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for backward during one forward of fn on x."""
    x = x.detach().requires_grad_()
    return costs.saved_bytes(lambda: fn(x).sum())


def cuda_peak_bytes(fn: Callable, x: torch.Tensor, grad: torch.Tensor) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fwd_bwd(fn, x, grad)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def measure(shape: tuple[int, ...] = DEFAULT_SHAPE, device: str = "cpu", rounds: int = 7,
            backends: tuple[str, ...] = BACKENDS, against: str | None = None, only: tuple[str, ...] = ()) -> dict[str, dict]:
    torch.manual_seed(0)
    x, grad = torch.randn(shape, device=device), torch.randn(shape, device=device)
    fns = candidates(shape[0], device, backends, against, only)
    with steady_allocator() if device == "cpu" else contextlib.nullcontext("CUDA caching allocator") as allocator:
        samples = timed_rounds(fns, x, grad, rounds, device)
    floor = statistics.median(samples["floor"])
    results = {}
    for name, fn in fns.items():
        median = statistics.median(samples[name])
        results[name] = {
            "ms": 1e3 * median,
            "x_floor": median / floor,
            "saved_mib": saved_bytes(fn, x) / 2**20,
            **({"cuda_peak_mib": cuda_peak_bytes(fn, x, grad) / 2**20} if device == "cuda" else {}),
        }
        today = name.split("@")[0]  # "<neuron> bptt"
        if "@" in name and today in fns:
            results[name] |= {"vs_today": statistics.median(samples[today]) / median, "same": same_numbers(fns[today], fn, x)}
    results["floor"]["allocator"] = allocator
    return results


def timed_rounds(fns: dict[str, Callable], x: torch.Tensor, grad: torch.Tensor, rounds: int,
                 device: str) -> dict[str, list[float]]:
    """Seconds of forward+backward per candidate and round, after two warm-up calls each
    (compilation included)."""
    for fn in fns.values():
        fwd_bwd(fn, x, grad)
        fwd_bwd(fn, x, grad)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():  # interleaved: machine noise hits every candidate alike
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fwd_bwd(fn, x, grad)
            if device == "cuda":
                torch.cuda.synchronize()
            samples[name].append(time.perf_counter() - start)
    return samples


def report(results: dict[str, dict], shape, device: str, rounds: int) -> str:
    lines = [
        f"forward+backward on {list(shape)} float32, {device} ({torch.get_num_threads()} thread(s), "
        f"{results['floor']['allocator']}), median of {rounds} interleaved rounds after warm-up",
        f"{'candidate':26s} {'ms':>8s} {'x floor':>8s} {'saved MiB':>10s}" + ("  peak MiB" if device == "cuda" else ""),
    ]
    for name, r in results.items():
        peak = f"  {r['cuda_peak_mib']:8.1f}" if "cuda_peak_mib" in r else ""
        lines.append(f"{name:26s} {r['ms']:8.1f} {r['x_floor']:8.2f} {r['saved_mib']:10.1f}{peak}")
    for name, r in results.items():
        if "vs_today" in r:
            lines.append(f"  {name.split('@')[0]} today / {name}: {r['vs_today']:.2f}x the time, "
                         f"{'identical' if r['same'] else 'DIFFERENT'} spikes and input gradients")
    peers = [n for n in results if n.startswith(("snntorch", "spikingjelly"))]
    fused = [n for n in results if n.endswith((" fused", " bptt"))]
    if peers:
        lines.append("speed-up of the bptt and fused paths over peers (same run):")
        for ours in fused:
            ratios = ", ".join(f"{results[p]['ms'] / results[ours]['ms']:.1f}x {p}" for p in peers)
            lines.append(f"  {ours:20s} {ratios}")
    else:
        lines.append("peers: install snntorch and/or spikingjelly to compare (pip install -e '.[peers]')")
    return "\n".join(lines)


def correct(model, x: torch.Tensor, y: torch.Tensor) -> int:
    """How many samples of a batch the model classifies correctly, counted in plain PyTorch."""
    return (model.loss.readout(model(x)).argmax(-1) == y).sum().item()


def top1(model, loader) -> float:
    """Top-1 (%) of the model on a loader."""
    model.eval()
    with torch.no_grad():
        hits = [correct(model, x, y) for x, y in loader]
    return 100 * sum(hits) / len(loader.dataset)


def plain_cell(cfg) -> dict:
    """The cell's training as a plain PyTorch loop: the model and data built as the suite builds
    them, then Adam (the task's optimiser) with the task's schedule stepped per epoch, validation
    and the test after every epoch, the state of the best validation epoch kept, restored and
    tested. No Lightning, no logging, no files."""
    import copy

    from bench.builder import build

    torch.manual_seed(cfg.seed)
    datamodule, model = build(cfg)
    datamodule.setup("fit")
    optimizer = model.optimizer(model.parameters())
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.trainer.max_epochs)
    best, best_state, test_by_epoch = -1.0, None, []
    for epoch in range(cfg.trainer.max_epochs):
        model.train()
        loader = datamodule.train_dataloader()
        loader.sampler.set_epoch(epoch)  # each epoch its own order, as Lightning does for the suite
        for x, y in loader:
            optimizer.zero_grad()
            model.loss(model(x), y).backward()
            optimizer.step()
        if cfg.task.lr_schedule == "cosine":
            schedule.step()
        val = top1(model, datamodule.eval_loader("val"))
        test_by_epoch.append(top1(model, datamodule.eval_loader("test")))  # as the suite does: the max over epochs
        if val > best:
            best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    datamodule.setup("test")
    return {"val_top1": best, "test_top1": top1(model, datamodule.test_dataloader()),
            "test_top1_max_over_epochs": max(test_by_epoch)}


def lightning_cell(cfg) -> dict:
    """The plain loop's training in a bare Lightning Trainer: the same steps in a LightningModule
    written here, the configured Trainer settings, but no callbacks, logger, checkpoint files or
    torchmetrics (the best validation state kept in memory, top-1 counted as the plain loop
    counts it). Against the plain loop it times Lightning's own loop; the suite against it, what
    the suite adds (metrics, checkpoints, logs, efficiency counters, the record)."""
    import copy

    import lightning as L

    from bench.builder import build
    from bench.trainer import trainer_settings

    torch.manual_seed(cfg.seed)
    datamodule, model = build(cfg)
    datamodule.setup("fit")
    loaders = {"val": datamodule.eval_loader("val"), "test": datamodule.eval_loader("test")}

    class Bare(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.best, self.best_state, self.test_by_epoch = model, -1.0, None, []

        def training_step(self, batch, batch_idx):
            x, y = batch
            return model.loss(model(x), y)

        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            self.hits[dataloader_idx] += correct(model, *batch)

        def on_validation_epoch_start(self) -> None:
            self.hits = [0, 0]

        def on_validation_epoch_end(self) -> None:
            if self.trainer.sanity_checking:
                return
            val, test = (100 * h / len(loader.dataset) for h, loader in zip(self.hits, loaders.values(), strict=True))
            self.test_by_epoch.append(test)
            if val > self.best:
                self.best, self.best_state = val, copy.deepcopy(model.state_dict())

        def configure_optimizers(self):
            optimizer = model.optimizer(model.parameters())
            if cfg.task.lr_schedule != "cosine":
                return optimizer
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.trainer.max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}

    bare = Bare()
    settings = trainer_settings(cfg) | {"enable_progress_bar": False}  # the suite's Trainer settings
    trainer = L.Trainer(**settings, logger=False, enable_checkpointing=False, use_distributed_sampler=False)
    trainer.fit(bare, datamodule.train_dataloader(), list(loaders.values()))
    model.load_state_dict(bare.best_state)
    datamodule.setup("test")
    return {"val_top1": bare.best, "test_top1": top1(model, datamodule.test_dataloader()),
            "test_top1_max_over_epochs": max(bare.test_by_epoch)}


def measure_cell(neuron: str, task: str, seed: int, rounds: int) -> dict:
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from bench import numerics
    from bench.config import cell_config
    from bench.train import run_cell  # what is measured: the suite's cell run
    from bench.trainer import quiet_library_noise

    quiet_library_noise()
    cfg = cell_config(load_params(), neuron, task, seed)
    times: dict[str, list[float]] = {"suite": [], "lightning": [], "plain": []}
    top1s: dict[str, float] = {}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            top1s["suite"] = run_cell(cfg, [], Path(scratch) / "runs", Path(scratch) / "work")["metrics"]["test_top1"]
            times["suite"].append(time.perf_counter() - start)
        for name, loop in (("lightning", lightning_cell), ("plain", plain_cell)):
            start = time.perf_counter()
            with numerics.pinned_threads(cfg.runtime.cpu_threads):  # as run_cell does
                top1s[name] = loop(cfg)["test_top1"]
            times[name].append(time.perf_counter() - start)
    start = time.perf_counter()  # the whole cell as a process, imports included (it writes outputs/scratch/)
    subprocess.run([sys.executable, "-m", "bench.train", neuron, task, str(seed)], check=True, capture_output=True)
    process = time.perf_counter() - start
    suite_s, lightning_s, plain_s = (statistics.median(times[name]) for name in ("suite", "lightning", "plain"))
    return {"cell": str(Cell(neuron, task, seed)), "suite_s": suite_s, "lightning_s": lightning_s, "plain_s": plain_s,
            "overhead": suite_s / plain_s, "lightning_overhead": lightning_s / plain_s, "process_s": process,
            **{f"{name}_test_top1": value for name, value in top1s.items()}}


def measure_kernels(neuron: str, task: str, seed: int, rounds: int) -> dict:
    """The suite's cell (run_cell) with bench.numerics' routed kernels and with torch's own, in
    alternating rounds of one process: what vendor-neutral numerics cost per cell."""
    import tempfile

    from bench import numerics
    from bench.config import cell_config
    from bench.train import run_cell  # what is measured: the suite's cell run
    from bench.trainer import quiet_library_noise

    if not numerics.route_vendor_kernels():
        raise SystemExit("bench.perf cell --kernels: nothing is routed under runtime.cpu_isa native")
    quiet_library_noise()
    cfg = cell_config(load_params(), neuron, task, seed)
    times: dict[str, list[float]] = {"routed": [], "torch": []}
    top1s: dict[str, float] = {}
    for _ in range(rounds):
        for name in times:
            with tempfile.TemporaryDirectory() as scratch, \
                    (numerics.torch_kernels() if name == "torch" else contextlib.nullcontext()):
                start = time.perf_counter()
                top1s[name] = run_cell(cfg, [], Path(scratch) / "runs", Path(scratch) / "work")["metrics"]["test_top1"]
                times[name].append(time.perf_counter() - start)
    routed_s, torch_s = (statistics.median(times[name]) for name in ("routed", "torch"))
    return {"cell": str(Cell(neuron, task, seed)), "isa": numerics.requested(), "routed_s": routed_s, "torch_s": torch_s,
            "ratio": routed_s / torch_s, **{f"{name}_test_top1": value for name, value in top1s.items()}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    modes = parser.add_subparsers(dest="what", required=True)
    neurons = modes.add_parser("neurons", help="forward+backward of every neuron against the memory floor and peers")
    neurons.add_argument("--shape", type=int, nargs="+", action="append", metavar="N",
                         help="an input shape T B ... (repeat for several; default: "
                              f"{' and '.join(str(list(s)) for s in SHAPES)})")
    neurons.add_argument("--rounds", type=int, default=7)
    neurons.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    neurons.add_argument("--backend", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    neurons.add_argument("--against", metavar="COMMIT", help="also every neuron's bptt path as COMMIT's base.py runs it")
    neurons.add_argument("--neuron", nargs="+", default=[], help="only these neurons of params.yaml (default: all)")
    cell = modes.add_parser("cell", help="one cell by the suite and by a plain PyTorch loop, side by side")
    cell.add_argument("neuron")
    cell.add_argument("task")
    cell.add_argument("--seed", type=int, default=0)
    cell.add_argument("--rounds", type=int, default=2)
    cell.add_argument("--kernels", action="store_true",
                      help="instead: the suite's cell on the routed vendor-neutral kernels against torch's own")
    train = modes.add_parser("train", help="step time, samples/s and memory of a task's real network, per neuron and backend")
    train.add_argument("task")
    train.add_argument("neurons", nargs="*", help="default: the profile's neurons in params.yaml")
    train.add_argument("--backend", nargs="+", default=None, choices=BACKENDS, help="default: runtime.neuron_backend")
    train.add_argument("--batch", type=int, default=None, help="default: the task's batch size")
    train.add_argument("--precision", default=None, help="32-true or bf16-mixed (default: the task's trainer precision)")
    train.add_argument("--steps", type=int, default=5)
    train.add_argument("--out", type=Path, default=None, help="append the measurements to this JSON file")
    profile = modes.add_parser("profile", help="projected device-hours of every cell of a profile")
    profile.add_argument("profile", help="a profile of conf/profile/ (e.g. paper)")
    profile.add_argument("--measured", type=Path, nargs="*", default=[], help="JSON files written by `train --out`")
    profile.add_argument("--batch", type=int, default=None, help="default: the task's (2 on a CPU)")
    profile.add_argument("--precision", default=None)
    profile.add_argument("--steps", type=int, default=None, help="timed steps per (task, neuron) (default: 3, 1 on a CPU)")
    profile.add_argument("--out", type=Path, default=None, help="write the projection to this JSON file")
    for p in (train, profile):
        p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.what == "train":
        params = load_params()
        rows = [
            costs.measure_step(args.task, neuron, backend, args.device, args.batch, args.steps, args.precision)
            for neuron in args.neurons or list(params.profile.neurons)
            for backend in args.backend or [params.runtime.neuron_backend]
        ]
        print(costs.step_table(rows))
        if args.out:
            costs.save(args.out, rows)
        return rows
    if args.what == "profile":
        say = functools.partial(print, file=sys.stderr, flush=True)  # progress; the table goes to stdout
        rows = costs.profile_hours(args.profile, args.measured, args.device, args.batch, args.precision, args.steps, say)
        print(costs.hours_table(args.profile, rows))
        if args.out:
            costs.save(args.out, rows, append=False)
        return rows
    if args.what == "cell" and args.kernels:
        r = measure_kernels(args.neuron, args.task, args.seed, args.rounds)
        print(f"{r['cell']}, the suite's cell, median of {args.rounds} alternating rounds in one process, one thread:\n"
              f"  routed kernels (runtime.cpu_isa {r['isa']})  {r['routed_s']:7.2f} s   test top-1 {r['routed_test_top1']:.2f}\n"
              f"  torch's own kernels (MKL)            {r['torch_s']:7.2f} s   test top-1 {r['torch_test_top1']:.2f}\n"
              f"  routed / torch                       {r['ratio']:7.2f}x")
        return r
    if args.what == "cell":
        r = measure_cell(args.neuron, args.task, args.seed, args.rounds)
        print(f"{r['cell']}, median of {args.rounds} alternating rounds in one process, one thread:\n"
              f"  suite (Lightning, checkpoints, logs, record)  {r['suite_s']:7.2f} s   test top-1 {r['suite_test_top1']:.2f}\n"
              f"  bare Lightning loop (no suite additions)      {r['lightning_s']:7.2f} s   "
              f"test top-1 {r['lightning_test_top1']:.2f}\n"
              f"  plain PyTorch loop                            {r['plain_s']:7.2f} s   test top-1 {r['plain_test_top1']:.2f}\n"
              f"  suite / plain                                 {r['overhead']:7.2f}x\n"
              f"  bare Lightning / plain                        {r['lightning_overhead']:7.2f}x\n"
              f"  the cell as a process (python -m bench.train)  {r['process_s']:7.2f} s")
        return r
    results = {}
    for shape in args.shape or SHAPES:  # one run: the ratios of every shape come from the same machine state
        results[shape_name(shape)] = measure(tuple(shape), args.device, args.rounds, tuple(args.backend), args.against,
                                             tuple(args.neuron))
        print(report(results[shape_name(shape)], shape, args.device, args.rounds), flush=True)
    return results


def shape_name(shape) -> str:
    return "x".join(str(n) for n in shape)


if __name__ == "__main__":
    main()
