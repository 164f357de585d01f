"""End to end: the real DVC pipeline in a temporary copy of the repository, on a tiny profile:
reproduce, change a neuron, then add a new one by following docs/add-a-neuron.md."""

import json
import re
import sys

import pandas as pd

from conftest import ROOT, TINY_PROFILE, run, sh

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@t")


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def commit(repo, message: str) -> None:
    sh(*GIT, "add", "-A", cwd=repo)
    sh(*GIT, "commit", "-qm", message, cwd=repo)


def code_blocks(doc: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", doc, re.S)


def follow_add_a_neuron_doc(repo) -> None:
    """Steps 1-3 of docs/add-a-neuron.md, with its own code blocks, for the one-state neuron (cubic)
    and the two-state one (sfa)."""
    doc = (ROOT / "docs/add-a-neuron.md").read_text()
    cubic_code, sfa_code = code_blocks(doc, "python")
    yaml_blocks = code_blocks(doc, "yaml")
    cubic_config, cubic_registration, cubic_profile, _variant, sfa_config, sfa_registration, sfa_profile = yaml_blocks
    assert cubic_profile.startswith("neurons: [lif, qif, plif, cubic]")
    assert sfa_profile.startswith("neurons: [lif, qif, plif, cubic, sfa]")
    config = repo / "conf/config.yaml"
    for name, code, neuron_config, registration in (("cubic", cubic_code, cubic_config, cubic_registration),
                                                     ("sfa", sfa_code, sfa_config, sfa_registration)):
        (repo / f"bench/neurons/{name}.py").write_text(code)
        (repo / f"conf/neuron/{name}.yaml").write_text(neuron_config)
        lines = config.read_text().splitlines(keepends=True)
        last_neuron = max(i for i, line in enumerate(lines) if "neuron@neurons." in line)
        lines.insert(last_neuron + 1, registration.split("#")[0].rstrip() + "\n")
        config.write_text("".join(lines))
    profile = repo / "conf/profile/tiny.yaml"
    profile.write_text(profile.read_text().replace("neurons: [lif, qif]", "neurons: [lif, qif, cubic, sfa]"))


def test_pipeline_end_to_end_change_a_neuron_then_add_one(repo):
    (repo / "conf/profile/tiny.yaml").write_text(TINY_PROFILE.replace("seeds: [0]", "seeds: [0, 1]"))
    sh(sys.executable, "-m", "bench.compose", cwd=repo)
    commit(repo, "two seeds")
    out = sh("dvc", "repro", cwd=repo)
    cells = {f"train@{n}-digits-{s}" for n in ("lif", "qif") for s in (0, 1)}
    assert stages_run(out) == {"prepare@digits", "dynamics@lif", "dynamics@qif", "leaderboard", *cells}
    assert (repo / "results/figures/dynamics-qif.png").is_file()
    board = pd.read_csv(repo / "results/leaderboard/leaderboard.csv")
    assert sorted(board.neuron) == ["lif", "qif"] and (board.n_seeds == 2).all()
    assert (board.top1_mean > 50).all(), board  # one epoch on digits already learns
    assert "## digits" in (repo / "results/leaderboard/leaderboard.md").read_text()
    assert "up to date" in sh("dvc", "status", cwd=repo)
    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=repo))  # `dvc exp show` has columns
    shown = next(iter(metrics.values()))["data"]["results/leaderboard/metrics.json"]["data"]["digits"]
    assert set(shown) == {"lif", "qif"} and abs(shown["qif"]["top1"] - board.set_index("neuron").top1_mean["qif"]) < 1e-4
    sh("dvc", "plots", "show", "-o", "dvc_plots", cwd=repo)  # DVC renders the leaderboard's figures
    page = (repo / "dvc_plots/index.html").read_text()
    assert all(name in page for name in ("accuracy-energy", "firing-rates", "training-curves"))
    commit(repo, "results")

    qif = repo / "conf/neuron/qif.yaml"
    qif.write_text(qif.read_text().replace("a: 0.25", "a: 0.3"))
    out = sh("dvc", "exp", "run", cwd=repo)
    assert stages_run(out) == {"dynamics@qif", "train@qif-digits-0", "train@qif-digits-1", "leaderboard"}
    assert "a: 0.3" in (repo / "params.yaml").read_text()
    commit(repo, "qif a=0.3")

    follow_add_a_neuron_doc(repo)
    out = sh("dvc", "exp", "run", cwd=repo)
    added = {f"train@{n}-digits-{s}" for n in ("cubic", "sfa") for s in (0, 1)}
    assert stages_run(out) == {"dynamics@cubic", "dynamics@sfa", *added, "leaderboard"}
    board = pd.read_csv(repo / "results/leaderboard/leaderboard.csv").set_index("neuron")
    table = (repo / "results/leaderboard/leaderboard.md").read_text()
    for name in ("cubic", "sfa"):
        assert board.loc[name, "n_seeds"] == 2 and pd.notna(board.loc[name, "delta_top1"])
        assert re.search(rf"\| {name} +\| [\d.]+ ± [\d.]+ +\| [-+][\d.]+ \[", table), table
        for other in ("leaderboard.tex", "leaderboard.html"):
            assert name in (repo / "results/leaderboard" / other).read_text()
    assert json.loads((repo / "results/figures/dynamics-sfa.json").read_text())["fixed_points"][0]["kind"] == "stable node"
    changelog = (repo / "results/leaderboard/CHANGELOG.md").read_text()
    assert "tiny-v3" in changelog and "+digits/cubic" in changelog and "+digits/sfa" in changelog

    # a corrupted record fails the stage, naming the file, and leaves the previous tables in place
    tables = {name: (repo / "results/leaderboard" / name).read_bytes() for name in ("leaderboard.md", "leaderboard.html")}
    record = repo / "results/runs/digits/qif/1/record.json"
    record.write_text(record.read_text().replace('"test_top1"', '"test_top_1"'))
    out = run("dvc", "repro", "--single-item", "leaderboard", cwd=repo)
    assert out.returncode != 0 and "results/runs/digits/qif/1/record.json: not a valid record" in out.stdout + out.stderr
    assert tables == {name: (repo / "results/leaderboard" / name).read_bytes() for name in tables}

    # one command sweeps a neuron setting through the pipeline: a cell per value and seed, then a
    # sensitivity table and plot beside the leaderboard
    sh(*GIT, "checkout", "results/runs/digits/qif/1/record.json", cwd=repo)
    out = sh("dvc", "exp", "run", "-S", "profile.sweeps=[{neuron: qif, param: a, values: [0.3, 1.0]}]", cwd=repo)
    assert stages_run(out) == {"train@qif-a-1-digits-0", "train@qif-a-1-digits-1", "leaderboard"}  # 0.3 is qif's own a
    sweep = pd.read_csv(repo / "results/leaderboard/sensitivity.csv")
    assert list(sweep.value) == [0.3, 1.0] and list(sweep.n_seeds) == [2, 2] and sweep.delta.notna().tolist() == [False, True]
    assert "### qif.a on digits" in (repo / "results/leaderboard/leaderboard.md").read_text()
    assert (repo / "results/leaderboard/plots/sensitivity.png").is_file()
    assert "up to date" in sh("dvc", "status", cwd=repo)

    # a temporal task joins the profile: only its own stages run (its split and its cells; the sweep
    # above was an -S edit, not in conf/, so it is gone) and the leaderboard gains its table
    out = sh("dvc", "exp", "run", "-S", "profile.tasks=[digits,digits-seq]", "-S", "tasks.digits-seq.trainer.max_epochs=1",
             cwd=repo)
    neurons = ("lif", "qif", "cubic", "sfa")
    new_cells = {f"train@{n}-digits-seq-{s}" for n in neurons for s in (0, 1)}
    # digits-seq is a tuned task (conf/tuning/): a study per neuron, then its cells at the chosen settings
    studies = {f"tune@{n}-digits-seq" for n in neurons}
    tuned = {f"tuned@{n}-digits-seq-{s}" for n in neurons for s in (0, 1)}
    assert stages_run(out) == {"prepare@digits-seq", *new_cells, *studies, *tuned, "leaderboard"}
    board = pd.read_csv(repo / "results/leaderboard/leaderboard.csv")
    seq = board[board.task == "digits-seq"]
    assert sorted(seq[seq.settings == "tuned"].neuron) == sorted(seq[seq.settings == "shared"].neuron) == sorted(neurons)
    assert set(board[board.task == "digits"].settings) == {"shared"}  # an untuned task: its shared-settings rows
    study = json.loads((repo / "results/tuning/digits-seq/qif/study.json").read_text())
    tuned_record = json.loads((repo / "results/tuned/digits-seq/qif/1/record.json").read_text())
    assert tuned_record["config"]["tuning"]["trial"] == study["best"]["trial"]
    assert tuned_record["config"]["task"]["optimizer"]["lr"] == study["best"]["settings"]["task.optimizer.lr"]
    table = (repo / "results/leaderboard/leaderboard.md").read_text()
    assert "## Tuning" in table and "### tuning on digits-seq" in table and "### shared settings on digits-seq" in table
    assert (repo / "results/leaderboard/plots/tuning-evp.png").is_file()
    assert set(pd.read_csv(repo / "results/leaderboard/tuning.csv").neuron) == set(neurons)
    record = json.loads((repo / "results/runs/digits-seq/qif/0/record.json").read_text())
    assert record["config"]["task"]["loss"]["_target_"] == "bench.losses.LastStepCrossEntropy"
    assert "up to date" in sh("dvc", "status", cwd=repo)
