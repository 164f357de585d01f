"""Numbers and names that must not depend on the machine or the input: the CPU instruction set
is pinned before torch loads (bench/numerics.py), and names are data, never paths or shell code."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from bench.compose import compose
from bench.config import cell_config, check_name, load_params

from conftest import ROOT

PROBE = (
    "import os, bench, torch\n"
    "from bench.numerics import effective\n"
    "e = effective()\n"
    "print(e['cpu_isa'], e['pinned_before_torch'], e['torch_cpu_capability'], os.environ.get('ONEDNN_MAX_CPU_ISA'),"
    " os.environ.get('MKL_CBWR'), torch.get_num_threads(), e['cpu_threads'])\n"
)


def probe(**env) -> list[str]:
    return run_fresh(PROBE, **env)


def run_fresh(code: str, *args: str, **env) -> list[str]:
    """The words `code` prints in a new process, without this process's own pin (in its environment)."""
    pinned = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "TORCHINDUCTOR_CACHE_DIR")
    clean = {k: v for k, v in os.environ.items() if k not in pinned}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_cpu_numerics_are_pinned_to_avx2_before_torch_loads_by_default():
    assert yaml.safe_load((ROOT / "params.yaml").read_text())["runtime"]["cpu_isa"] == "avx2"
    assert probe() == ["avx2", "True", "AVX2", "AVX2", "AVX2", "1", "1"]


def test_native_leaves_the_cpu_its_own_instruction_set():
    isa, pinned, _, onednn, mkl, *_ = probe(BENCH_CPU_ISA="native")
    assert (isa, pinned, onednn, mkl) == ("native", "True", "None", "None")


CACHE_PROBE = (
    "import os, sys\n"
    "if sys.argv[1] == 'torch-first':\n"
    "    import torch\n"
    "import bench, torch\n"
    "from bench.neurons.fused import compile_cache_per_isa\n"
    "compile_cache_per_isa()\n"
    "print(os.environ['TORCHINDUCTOR_CACHE_DIR'], torch.backends.cpu.get_cpu_capability())\n"
)


def test_fused_kernels_built_for_one_instruction_set_are_never_loaded_by_another(tmp_path):
    """TorchInductor's on-disk cache key misses the instruction set: a process pinned to AVX2 and
    one that loaded torch first (the CPU's own, AVX-512 here) crashed on each other's cached
    kernels. Each instruction set gets its own folder; a folder set by the user is kept."""
    folders = {}
    for order in ("bench-first", "torch-first"):
        folder, isa = run_fresh(CACHE_PROBE, order, TMPDIR=str(tmp_path))
        assert folder.startswith(str(tmp_path)) and folder.endswith(f"cpu-{isa.lower()}")
        folders[isa] = folder
    assert folders["AVX2"].endswith("cpu-avx2") and len(set(folders.values())) == len(folders)
    assert run_fresh(CACHE_PROBE, "bench-first", TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "mine"))[0] == str(tmp_path / "mine")


def test_the_thread_count_is_the_configs_not_the_launchers():
    """ATen splits a reduction (PLIF's shared decay gradient) into one partial sum per thread: the
    count is part of the config (runtime.cpu_threads: 1), so a launcher's OMP_NUM_THREADS does not
    change a record; BENCH_CPU_THREADS changes it for one run, `auto` leaves it to torch."""
    assert yaml.safe_load((ROOT / "params.yaml").read_text())["runtime"]["cpu_threads"] == 1
    assert probe(OMP_NUM_THREADS="2")[-2:] == ["1", "1"]
    assert probe(BENCH_CPU_THREADS="2")[-2:] == ["2", "2"]
    assert probe(BENCH_CPU_THREADS="auto", OMP_NUM_THREADS="2")[-2:] == ["2", "auto"]


def test_a_cell_trained_in_a_process_that_loaded_torch_first_still_gets_its_thread_count():

    from bench.numerics import pinned_threads

    before = torch.get_num_threads()
    with pinned_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_an_unknown_instruction_set_is_refused():
    out = subprocess.run([sys.executable, "-c", "import bench"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "BENCH_CPU_ISA": "avx9"})
    assert out.returncode != 0 and "runtime.cpu_isa (or BENCH_CPU_ISA) must be one of" in out.stderr


@pytest.mark.parametrize("name", ["../../../../victim", "digits;touch /tmp/x;#", "Digits", "", "a/b", "..", "a b", "x'y"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ValueError, match="is not allowed"):
        check_name("task", name)


def test_bench_train_refuses_a_path_traversal_name(in_repo):
    with pytest.raises(ValueError, match="neuron name '../../victim' is not allowed"):
        cell_config(load_params(), "../../victim", "digits", 0)


def test_compose_refuses_a_shell_metacharacter_task_and_keeps_params_yaml(tmp_path):
    for folder in ("conf", "hydra_plugins"):
        if (ROOT / folder).is_dir():
            subprocess.run(["cp", "-r", str(ROOT / folder), str(tmp_path)], check=True)
    (tmp_path / "conf/task/evil.yaml").write_text((ROOT / "conf/task/digits.yaml").read_text())
    config = tmp_path / "conf/config.yaml"
    config.write_text(config.read_text().replace("  - task@tasks.digits: digits\n",
                                                 "  - task@tasks.digits: digits\n  - task@tasks.digits;touch x;#: evil\n"))
    params = tmp_path / "params.yaml"
    params.write_text("unchanged\n")
    with pytest.raises(ValueError, match="task name 'digits;touch x;#' is not allowed"):
        compose(params, root=tmp_path)
    assert params.read_text() == "unchanged\n" and not (tmp_path / "x").exists()


def copy_of_the_config(tmp_path):
    for folder in ("conf", "hydra_plugins"):
        subprocess.run(["cp", "-r", str(ROOT / folder), str(tmp_path)], check=True)
    (tmp_path / "params.yaml").write_bytes((ROOT / "params.yaml").read_bytes())


@pytest.mark.parametrize("override, message", [
    ("profile.seeds=['0;touch PWNED']", "profile.seeds"),  # issue 34 (1), as written
    ("profile.seeds=[4294967296]", "profile.seeds holds 4294967296; a seed is an integer from 0 to 4294967295"),
    ("+profile.task_seeds={randman: ['1 $(touch PWNED)']}", "task_seeds"),
    ("profile.sweeps=[{neuron: lif, param: _target_, values: [builtins.print]}]", "is a Hydra keyword"),
    ("+profile.nuerons=[lif]", "nuerons"),  # a typo is not ignored either
    ("profile.sweeps=[{neuron: qif}]", "Missing mandatory value: sweeps[0].param"),  # issue 34 (16): a malformed sweep
    ("profile.sweeps=[{neuron: qif, param: a, values: 3}]", "setting profile.values"),
    (f"profile.sweeps=[{{neuron: qif, param: a, values: {list(range(1, 501))}}}]", "500 values, more than 32"),  # (13)
    (f"profile.seeds={list(range(100))}", "plans 4900 cells, more than 1000"),  # 2,700 at the shared settings + 2,200 tuned
])
def test_compose_refuses_what_would_reach_a_command_line_unchecked(tmp_path, override, message):
    """Everything of a profile that reaches dvc.yaml's commands is typed by one schema
    (bench.config.Profile) before a plan is written; nothing runs, params.yaml is kept."""
    copy_of_the_config(tmp_path)
    out = subprocess.run([sys.executable, "-m", "bench.compose", override], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert (tmp_path / "params.yaml").read_bytes() == (ROOT / "params.yaml").read_bytes()
    assert not (tmp_path / "PWNED").exists()


def test_dvc_yaml_passes_names_as_quoted_words():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("prepare", "dynamics", "train"):
        cmd = stages[name].get("do", stages[name])["cmd"].split("#")[0]
        for word in ("${item.neuron}", "${item.task}", "${item.seed}", "${key}"):
            assert word not in cmd or f"'{word}'" in cmd, cmd

