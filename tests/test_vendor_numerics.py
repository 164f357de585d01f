"""Issue 30: the same bits on Intel and AMD. The kernels a CPU cell runs are fingerprinted and
compared with an Intel AVX-512 reference (tests/numerics/); MKL's vendor-dependent kernels are
routed to vendor-neutral ones (bench.numerics); records carry their machine's fingerprint."""

import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

REFERENCE = ROOT / "tests/numerics/reference-intel-avx512-mkl-avx2.json"


def fingerprint_command(*args: str, isa: str = "avx2") -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_CPU_ISA": isa, "BENCH_CPU_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bench.numerics", "fingerprint", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_every_kernel_of_a_cpu_cell_gives_the_intel_reference_bits():
    """Issue 30: the kernels a CPU cell runs (forward, backward, loss, Adam, tdBN) at the mini
    profile's shapes give, on this machine, the bits the Intel AVX-512 reference holds for every
    kernel it covers. With MKL's matrix products and exp on the cell path this fails on an AMD CPU."""
    out = fingerprint_command("--compare", str(REFERENCE))
    assert out.returncode == 0, out.stdout + out.stderr
    compared = int(out.stdout.split(" kernels compared")[0].rsplit(maxsplit=1)[-1])
    assert compared == 17 and "0 differ" in out.stdout, out.stdout


def test_native_keeps_torchs_own_kernels_and_the_fingerprint_says_so():
    code = "import bench, torch; from bench import numerics; print(numerics.route_vendor_kernels())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "BENCH_CPU_ISA": "native"})
    assert out.stdout.strip() == "[]", out.stderr
    native = fingerprint_command(isa="native")
    assert native.returncode == 0 and "routed: none (runtime.cpu_isa native)" in native.stdout, native.stdout


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_routed_kernels_compute_what_torch_computes(dtype):
    from bench import numerics

    if numerics.requested() == "native":
        pytest.skip("runtime.cpu_isa native routes nothing")
    assert numerics.route_vendor_kernels() == ["aten::addmm", "aten::exp", "aten::mm"]
    torch.manual_seed(0)
    a, b, bias = torch.randn(37, 20, dtype=dtype), torch.randn(20, 11, dtype=dtype), torch.randn(11, dtype=dtype)
    exact = a.double() @ b.double()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(torch.mm(a, b).double(), exact, atol=tol)
    column_major = a.t().contiguous().t()  # as autograd passes a transposed gradient
    assert torch.allclose(torch.mm(column_major, b).double(), exact, atol=tol)
    assert torch.allclose(torch.addmm(bias, a, b).double(), exact + bias.double(), atol=tol)
    assert torch.allclose(torch.addmm(bias[None], a, b, beta=0.5, alpha=2.0).double(), 2 * exact + 0.5 * bias.double(), atol=tol)
    assert torch.allclose(torch.addmm(bias.expand(37, 11) * float("nan"), a, b, beta=0).double(), exact, atol=tol)
    x = torch.linspace(-80, 80, 1001, dtype=dtype)
    # exp2(x log2 e): rounding log2 e and the product to the dtype costs a relative error of up to |x| eps
    eps = torch.finfo(dtype).eps
    bound = x.double().abs() * eps + 2 * eps
    assert ((torch.exp(x).double() / torch.exp(x.double()) - 1).abs() <= bound).all()
    w = torch.randn(5, 20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: torch.nn.functional.linear(a.double(), w, bias[:5].double()).exp(), (w,))


def test_a_record_carries_its_machines_fingerprint_and_verify_names_what_differs():
    from bench import numerics
    from bench.verify import other_kernels

    facts = numerics.effective()
    here = facts["fingerprint"]
    assert facts["fingerprint_hash"] == numerics.fingerprint_hash(here) and "exp" in here
    other = {**here, "exp": "0" * 16, "linear 800x20->128": "1" * 16}
    assert other_kernels({"provenance": {"numerics": {"fingerprint": other}}}) == ["exp", "linear 800x20->128"]
    assert other_kernels({"provenance": {"numerics": {"fingerprint": here}}}) == []


@pytest.mark.parametrize("cell, message", [
    ("digits-seq/qif-a-0p125/1", "digits-seq/qif-a-0p125/1 is not a cell of params.yaml's plan"),
    ("randman/lif", "randman/lif is not of the form <task>/<neuron>/<seed>"),
    ("randman/lif/x", "is not of the form"),
])
def test_verify_names_a_cell_outside_the_plan_in_one_line(cell, message):
    out = subprocess.run([sys.executable, "-m", "bench.verify", cell], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "results/runs/, <task>/<neuron>/<seed>" in out.stderr
