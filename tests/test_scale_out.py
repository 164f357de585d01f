"""Scaling out on the existing engines: one cell on two DDP processes (CPU, gloo), a killed run
resuming from its checkpoint, K cells at once through DVC, and the SLURM script.

Multi-process runs are subprocesses: Lightning's DDP launcher re-executes the command line,
which under pytest would re-run pytest itself."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
from lightning.fabric.plugins.environments import SLURMEnvironment

from bench.config import cell_config, load_params
from bench.worklist import DYNAMICS_S

from conftest import run, sh, wait_for_loadable

EPOCHS = "trainer.max_epochs=4"


def train(repo: Path, *args: str) -> dict:
    neuron, task, seed = args[:3]
    sh(sys.executable, "-m", "bench.train", *args, cwd=repo)
    # a run by hand (not its DVC stage) writes to the scratch folder, never to results/runs/
    assert not (repo / "results/runs" / task / neuron / seed).exists()
    return json.loads((repo / "outputs/scratch/runs" / task / neuron / seed / "record.json").read_text())


def test_two_ddp_processes_give_the_numbers_of_one(repo):
    single = train(repo, "qif", "digits", "0", EPOCHS)
    ddp = train(repo, "qif", "digits", "0", "trainer=ddp", "trainer.devices=2", EPOCHS)
    assert (single["world_size"], ddp["world_size"]) == (1, 2)
    assert ddp["config"]["trainer"]["strategy"] == "ddp" and ddp["status"] == "ok"
    # every test sample evaluated exactly once: no DistributedSampler padding repeats
    assert single["metrics"]["samples"] == ddp["metrics"]["samples"] == ddp["n_test"] == 360
    assert abs(single["metrics"]["test_top1"] - ddp["metrics"]["test_top1"]) <= 1.0
    # one writer: one record, one set of checkpoints and logs
    work = repo / "outputs/scratch/work/digits/qif/0"
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert [p.name for p in (work / "logs").iterdir()] == ["0"]


def test_a_killed_run_resumes_and_ends_with_the_uninterrupted_numbers(repo):
    record = repo / "outputs/scratch/runs/digits/lif/0/record.json"
    last = repo / "outputs/scratch/work/digits/lif/0/checkpoints/last.ckpt"
    cmd = [sys.executable, "-m", "bench.train", "lif", "digits", "0", EPOCHS]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_loadable(last, proc)  # epoch 0 is checkpointed ...
    time.sleep(1.0)  # ... and epoch 1 is under way
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not record.exists(), "a killed run must not leave a record"

    resumed = train(repo, "lif", "digits", "0", EPOCHS)
    assert resumed["status"] == "ok" and resumed["resumed_from_epoch"] is not None
    history = (record.parent / "history.csv").read_text()

    sh("rm", "-r", "outputs", cwd=repo)
    straight = train(repo, "lif", "digits", "0", EPOCHS)
    assert straight["resumed_from_epoch"] is None
    assert resumed["metrics"] == straight["metrics"]
    assert resumed["best_epoch"] == straight["best_epoch"]
    assert history == (record.parent / "history.csv").read_text()  # every epoch, each logged once


def test_a_finished_run_trains_afresh_when_rerun(repo):
    fast = ["trainer.max_epochs=1", "+trainer.limit_train_batches=3"]
    first = train(repo, "lif", "digits", "0", *fast)
    again = train(repo, "lif", "digits", "0", *fast)
    assert first["resumed_from_epoch"] is None and again["resumed_from_epoch"] is None
    assert again["metrics"] == first["metrics"]


def test_k_cells_at_once_through_dvc_leave_every_record_and_lock_entry(repo):
    out = sh("bash", "scripts/repro-parallel.sh", "2", cwd=repo)
    cells = ["train@lif-digits-0", "train@qif-digits-0"]
    # the neurons' phase portraits run in the workers too, not one DVC stage after the other
    assert "train, dynamics and tune stages: 2 cells, 0 tuning studies and 2 dynamics stages on 2 workers" in out
    assert "Running stage 'dynamics@" not in out
    assert all((repo / f"results/figures/dynamics-{n}.json").exists() for n in ("lif", "qif"))
    for cell in ("digits/lif/0", "digits/qif/0"):
        assert f"{cell}: ok" in out
    # both cells trained at the same time: each started before the other finished
    starts, ends, devices = {}, {}, set()
    for neuron in ("lif", "qif"):
        rec = json.loads((repo / f"results/runs/digits/{neuron}/0/record.json").read_text())
        assert rec["status"] == "ok"
        devices.add(rec["provenance"]["hardware"]["cuda_visible_devices"])
        ends[neuron] = os.path.getmtime(repo / f"results/runs/digits/{neuron}/0/record.json")
        starts[neuron] = ends[neuron] - rec["provenance"]["wall_s"]
    assert starts["lif"] < ends["qif"] and starts["qif"] < ends["lif"]
    assert devices == {"0", "1"}  # each worker bound to its own device
    lock = (repo / "dvc.lock").read_text()
    assert all(f"{stage}:" in lock for stage in [*cells, "dynamics@lif", "dynamics@qif"])
    assert "up to date" in sh("dvc", "status", cwd=repo)
    # the workers' list: longest expected first (a cell: what its record took)
    expected = {f"train@{n}-digits-0": json.loads((repo / f"results/runs/digits/{n}/0/record.json").read_text())
                ["provenance"]["wall_s"] for n in ("lif", "qif")} | {"dynamics@lif": DYNAMICS_S, "dynamics@qif": DYNAMICS_S}
    assert sh(sys.executable, "-m", "bench.worklist", "--schedule", "--all", cwd=repo).split() == sorted(
        expected, key=lambda stage: -expected[stage])
    assert sh(sys.executable, "-m", "bench.worklist", "--schedule", cwd=repo).strip() == ""
    # the work list for SLURM arrays: nothing left to train, every cell with --all
    assert sh(sys.executable, "-m", "bench.worklist", cwd=repo).strip() == ""
    assert sh(sys.executable, "-m", "bench.worklist", "--all", cwd=repo).split("\n")[:2] == [
        "lif digits 0 train@lif-digits-0", "qif digits 0 train@qif-digits-0"]
    assert re.search(r"repro-parallel.sh: 2 cells and 0 tuned cells, 2 of them trained now; table tiny-v\d+ ", out)
    # nothing to do: a summary, not a line per stage (the leaderboard checks only itself)
    again = sh("bash", "scripts/repro-parallel.sh", "2", cwd=repo)
    assert re.search(r"repro-parallel.sh: 2 cells and 0 tuned cells, 0 of them trained now; table tiny-v\d+ ", again)
    assert again.split("work list in")[1].count("didn't change") == 1  # the leaderboard's own line


def runner_processes(repo: Path) -> list[int]:
    """Live processes of bench.runner started in repo."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"bench.runner" in (proc / "cmdline").read_bytes() and (proc / "cwd").resolve() == repo:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_stopping_the_launcher_stops_its_workers_and_leaves_nothing_behind(repo, tmp_path_factory):
    """kill -TERM on scripts/repro-parallel.sh while a cell trains: the workers stop too (the cell
    writes no record, now or later), the script exits 143 and removes its temporary files."""
    tmp = tmp_path_factory.mktemp("tmpdir")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(tmp),
           "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.Popen(["bash", "scripts/repro-parallel.sh", "2"], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not list(repo.glob("outputs/runs/digits/*/0/config_hash")) and time.monotonic() < deadline:  # a cell in flight
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "stopped; stopping 2 workers" in out, out
    assert runner_processes(repo) == []
    time.sleep(5)  # an orphaned worker would finish its one-epoch cell and write its record by now
    assert not list((repo / "results/runs").glob("digits/*/0/record.json"))
    assert list(tmp.iterdir()) == []


def test_cells_trained_in_one_process_equal_their_own_dvc_stage(repo):
    # bench.runner trains both cells in one process (qif after lif and a phase portrait) and commits them ...
    stages = ("train@lif-digits-0", "dynamics@qif", "train@qif-digits-0")
    sh(sys.executable, "-m", "bench.runner", *stages, cwd=repo)
    assert "up to date" in sh("dvc", "status", *stages, cwd=repo)
    files = ("record.json", "history.csv", "test-predictions.csv")
    cell = repo / "results/runs/digits/qif/0"
    in_one_process = {name: (cell / name).read_text() for name in files}
    # ... and the second one equals what its own stage, a fresh process started by DVC, writes
    assert "Running stage 'train@qif-digits-0'" in sh("dvc", "repro", "--force", "--single-item", "train@qif-digits-0",
                                                       cwd=repo)
    alone = {name: (cell / name).read_text() for name in files}
    assert in_one_process["history.csv"] == alone["history.csv"]
    assert in_one_process["test-predictions.csv"] == alone["test-predictions.csv"]
    a, b = json.loads(in_one_process["record.json"]), json.loads(alone["record.json"])
    assert a["metrics"] == b["metrics"] and a["best_epoch"] == b["best_epoch"]
    assert a["provenance"]["config_hash"] == b["provenance"]["config_hash"]
    # a name that is not a planned stage is refused before anything trains
    out = run(sys.executable, "-m", "bench.runner", "train@lif-digits-9", cwd=repo)
    assert out.returncode != 0 and "not train or dynamics stages of params.yaml's plan: train@lif-digits-9" in out.stderr


def sbatch_options(text: str) -> dict[str, str]:
    options = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH "):
            key, _, value = line.removeprefix("#SBATCH ").partition("=")
            options[key] = value
    return options


def test_the_slurm_script_and_the_trainer_config_agree(in_repo, monkeypatch):
    script = (in_repo / "scripts/slurm/cell.sbatch").read_text()
    options = sbatch_options(script)
    nodes, tasks = int(options["--nodes"]), int(options["--ntasks-per-node"])
    cfg = cell_config(load_params(), "qif", "digits", 0, ["trainer=slurm"])
    assert (cfg.trainer.num_nodes, cfg.trainer.devices) == (nodes, tasks)
    assert options["--gres"] == f"gpu:{tasks}" and cfg.trainer.strategy == "ddp"
    assert options["--job-name"] not in ("bash", "interactive")  # would turn SLURM detection off
    assert options["--signal"].startswith("SIGUSR1@") and "--requeue" in options
    assert re.search(r'^export DVC_STAGE="\$\{cell\[3\]\}"\nsrun python -m bench\.train "\$\{cell\[@\]:0:3\}"$', script, re.M)

    # Lightning accepts the config in the environment srun creates for the script (CPU here): the
    # check its launcher runs first thing in fit ...
    slurm_env = {
        "SLURM_NTASKS": str(nodes * tasks), "SLURM_NTASKS_PER_NODE": str(tasks), "SLURM_NNODES": str(nodes),
        "SLURM_JOB_NAME": options["--job-name"], "SLURM_JOB_ID": "7", "SLURM_NODELIST": "node[1-2]",
        "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
    }
    for key, value in slurm_env.items():
        monkeypatch.setenv(key, value)
    trainer_args = {**cfg.trainer, "accelerator": "cpu", "sync_batchnorm": False}
    trainer = L.Trainer(**trainer_args, logger=False, enable_checkpointing=False)
    assert isinstance(trainer.strategy.cluster_environment, SLURMEnvironment)
    assert trainer.world_size == nodes * tasks
    trainer.strategy.cluster_environment.validate_settings(num_devices=trainer.num_devices, num_nodes=trainer.num_nodes)
    # ... and refuses a script whose task count disagrees with it
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", str(tasks + 1))
    with pytest.raises(ValueError, match="ntasks-per-node"):
        trainer.strategy.cluster_environment.validate_settings(num_devices=trainer.num_devices, num_nodes=trainer.num_nodes)


def test_a_slurm_array_task_trains_its_cell_and_commits_it(in_repo, tmp_path):
    """The script's shell logic with stand-ins for srun and dvc that log their arguments."""
    (tmp_path / "bin").mkdir()
    for tool in ("srun", "dvc"):
        stub = tmp_path / "bin" / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{tmp_path}/calls"\n')
        stub.chmod(0o755)
    (tmp_path / ".venv/bin").mkdir(parents=True)
    (tmp_path / ".venv/bin/activate").write_text("")
    (tmp_path / "outputs/slurm").mkdir(parents=True)
    cells = "lif digits 0 train@lif-digits-0\nqif digits-dvs 2 train@qif-digits-dvs-2\n"
    (tmp_path / "outputs/slurm/cells.txt").write_text(cells)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "SLURM_ARRAY_TASK_ID": "1"}
    subprocess.run(["bash", in_repo / "scripts/slurm/cell.sbatch"], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "calls").read_text().splitlines() == [
        "srun python -m bench.train qif digits-dvs 2",
        "dvc --wait-for-lock commit --force train@qif-digits-dvs-2",
    ]


def test_workers_sharing_a_work_list_take_each_stage_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from bench.runner import take

    queue = tmp_path / "queue"
    stages = [f"train@lif-randman-{i}" for i in range(200)]
    queue.write_text("".join(s + "\n" for s in stages))

    def worker(_) -> list[str]:
        mine = []
        while (stage := take(queue)) is not None:
            mine.append(stage)
        return mine

    with ThreadPoolExecutor(4) as pool:
        taken = list(pool.map(worker, range(4)))
    assert sorted(sum(taken, [])) == sorted(stages)  # each exactly once
    assert all(mine == sorted(mine, key=stages.index) for mine in taken)  # each worker in the list's order
    assert queue.read_text() == "" and take(queue) is None


def test_a_stopped_worker_stops_while_a_failed_cell_lets_it_go_on(monkeypatch, capsys):
    from bench import runner, train
    from bench.config import Cell

    def stopped(argv):
        raise SystemExit(128 + signal.SIGTERM)  # what bench.train does on SIGTERM

    monkeypatch.setattr(train, "main", stopped)
    with pytest.raises(SystemExit) as exit_:
        runner.run(Cell("lif", "randman", 0))
    assert exit_.value.code == 143

    def failed(argv):
        raise SystemExit("cell randman/lif/0 failed; wrote its record")

    monkeypatch.setattr(train, "main", failed)
    assert runner.run(Cell("lif", "randman", 0)) is False
    assert "train@lif-randman-0 failed" in capsys.readouterr().err


def cell_processes(repo: Path) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"bench.train" in (proc / "cmdline").read_bytes() and (proc / "cwd").resolve() == repo:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_stopping_dvc_repro_stops_the_cell_it_runs(repo):
    """kill -TERM on `dvc repro` while its stage trains: DVC does not pass the signal on, so the
    cell asks the kernel for SIGTERM when its parent ends; it stops without a record."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env.pop("SHELL", None)  # DVC then runs the stage with /bin/sh: dash keeps itself between dvc and the cell unless cmd execs
    sh("dvc", "repro", "prepare@digits", cwd=repo)
    proc = subprocess.Popen(["dvc", "repro", "--single-item", "train@lif-digits-0"], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(repo.glob("outputs/runs/digits/lif/0/config_hash")) and time.monotonic() < deadline:
        assert proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    while cell_processes(repo) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cell_processes(repo) == []
    time.sleep(3)
    assert not (repo / "results/runs/digits/lif/0/record.json").exists()


def test_a_second_dvc_repro_is_refused_before_it_trains(repo):
    """Two `dvc repro` of different cells at once: DVC would let the second train, then fail on its
    lock with the record uncommitted (it releases the lock while a stage's command runs). The
    second's cell refuses to start, naming the first; the first trains on."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    task = repo / "conf/task/digits.yaml"
    task.write_text(re.sub(r"max_epochs: \d+", "max_epochs: 500", task.read_text()))  # the first trains long enough
    sh(sys.executable, "-m", "bench.compose", cwd=repo)
    sh("dvc", "repro", "prepare@digits", cwd=repo)
    first = subprocess.Popen(["dvc", "repro", "--single-item", "train@lif-digits-0"], cwd=repo, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (repo / "outputs/runs/digits/lif/0/config_hash").exists() and time.monotonic() < deadline:
            assert first.poll() is None
            time.sleep(0.05)
        second = run("dvc", "repro", "--single-item", "train@qif-digits-0", cwd=repo)
        assert first.poll() is None, "the first run ended before the second was tried: no concurrency tested"
        assert second.returncode != 0
        assert f"another dvc command works in this repository (pid {first.pid}: dvc repro" in second.stdout + second.stderr
        assert not (repo / "outputs/runs/digits/qif").exists() and not (repo / "results/runs/digits/qif").exists()
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
