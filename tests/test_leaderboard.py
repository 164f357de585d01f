import json
import os
import pathlib
import re
import shutil
import signal
import time

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats

from bench.cite import entry
from bench.leaderboard import publish
from bench.leaderboard.records import load_records
from bench.leaderboard.stage import build, read_reported
from bench.leaderboard.stats import leaderboard_table, select_profile
from bench.record import Record

from conftest import ROOT

PROFILE = OmegaConf.create(
    {"name": "t", "neurons": ["lif", "qif"], "tasks": ["digits"], "seeds": [0, 1, 2], "single_seed_tasks": [],
     "questions": {"primary": ["qif vs lif"]}}
)
REPORTED = (
    "task,neuron,top1,top1_std,n_seeds,source,where,note\n"
    "digits,qif,99.5,0.1,,Doe 2025,Table 2,\ncifar10,qif,96.9,,,Doe 2025,Table 1,\n"
)


N_TEST = 100


def write_predictions(record_path, neuron, seed, top1, n=N_TEST):
    """test-predictions.csv with exactly top1 % right: the samples a neuron finds easiest, by a
    per-neuron ease plus per-seed noise (so that differences have sample and seed effects)."""
    ease = np.random.default_rng(sum(map(ord, neuron))).random(n) + 0.3 * np.random.default_rng([7, seed]).random(n)
    right = np.zeros(n, dtype=bool)
    right[np.argsort(-ease, kind="stable")[: round(top1 * n / 100)]] = True
    target = np.arange(n) % 10
    pd.DataFrame({"index": np.arange(n), "target": target, "prediction": np.where(right, target, (target + 1) % 10)}).to_csv(
        record_path.with_name("test-predictions.csv"), index=False)


def write(root, neuron, seed, top1=None, status="ok", task="digits", overrides=(), predictions=True, **extra):
    record = {"neuron": neuron, "task": task, "seed": seed, "status": status, "overrides": list(overrides)}
    record["split_protocol"] = "stratified-60/20/20-seed0"
    if status == "ok":
        record["metrics"] = {"test_top1": top1, "test_top5": min(top1 + 1, 100), "val_top1": min(top1 + 2, 100),
                             "firing_rate": 0.1 * (seed % 10),
                             "firing_rate_per_layer": {"conv1": 0.1 * (seed % 10), "conv2": 0.05},
                             "energy_mj": 0.01 * (seed + 1), "energy_model": "conventional-horowitz45-fp32"}
    else:
        record["reason"] = "DivergedError: non-finite training loss"
    record.update(extra)
    path = root / "runs" / task / neuron / str(seed) / "record.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    if status == "ok" and predictions:
        write_predictions(path, neuron, seed, top1)
    return path


@pytest.fixture
def results(tmp_path):
    return some_results(tmp_path)


def some_results(tmp_path):
    """Records of lif and qif on digits (a failed seed, a seed outside the profile, a smoke run)
    and a reported.csv."""
    for seed, top1 in enumerate([90.0, 92.0, 94.0]):
        write(tmp_path, "qif", seed, top1)
    write(tmp_path, "lif", 0, 95.0)
    write(tmp_path, "lif", 1, 96.0)
    write(tmp_path, "lif", 2, status="failed")
    write(tmp_path, "lif", 3, 10.0)  # not a seed of the profile
    write(tmp_path, "qif", 3, 10.0, overrides=["trainer.max_epochs=1"])  # a smoke run: not the protocol
    (tmp_path / "results").mkdir()
    (tmp_path / "results/reported.csv").write_text(REPORTED)
    return tmp_path


def run(root, monkeypatch, date="2026-01-02", profile=PROFILE):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(pd.Timestamp(date).timestamp())))
    monkeypatch.chdir(root)  # git commit / dvc.lock of the working directory
    return build(root / "runs", root / "results", profile)


def outputs(root) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "results").rglob("*")) if p.is_file()}


def independent_paired_ci(d: np.ndarray) -> tuple[float, float, float]:
    """(mean, 95% half-width, df) of an S x N matrix of paired differences, computed from the
    residual sums of squares of least-squares fits (numpy) and scipy's t: the two-way crossed
    random-effects variance of the mean, Var = s2_seed/S + s2_sample/N + s2_res/(SN), with
    s2_seed = (MS_seed - MS_res)/N, s2_sample = (MS_sample - MS_res)/S, negative estimates as 0,
    and Satterthwaite's df for the resulting sum of mean squares."""
    S, N = d.shape
    seed_dummies = np.kron(np.eye(S), np.ones((N, 1)))
    sample_dummies = np.kron(np.ones((S, 1)), np.eye(N))
    y = d.reshape(-1)
    ss = {}
    designs = {"seed": seed_dummies, "sample": sample_dummies, "both": np.hstack([seed_dummies, sample_dummies])}
    for name, design in designs.items():
        fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        ss[name] = ((y - fitted) ** 2).sum()
    ss_total = ((y - y.mean()) ** 2).sum()
    ms = {"seed": ((ss_total - ss["seed"]) / (S - 1), S - 1), "sample": ((ss_total - ss["sample"]) / (N - 1), N - 1),
          "res": (ss["both"] / ((S - 1) * (N - 1)), (S - 1) * (N - 1))}
    seed_part, sample_part = ms["seed"][0] > ms["res"][0], ms["sample"][0] > ms["res"][0]
    # Var(mean) * S N as a sum of mean squares c_k MS_k
    coefficients = {"seed": float(seed_part), "sample": float(sample_part),
                    "res": -1.0 if seed_part and sample_part else float(not (seed_part or sample_part))}
    combination = sum(c * ms[k][0] for k, c in coefficients.items())
    df = combination**2 / sum((c * ms[k][0]) ** 2 / ms[k][1] for k, c in coefficients.items() if c)
    return y.mean(), stats.t.ppf(0.975, df) * np.sqrt(combination / (S * N)), df


@pytest.mark.parametrize("seed_sd, sample_sd", [(0.0, 0.0), (3.0, 0.0), (0.0, 2.0), (3.0, 2.0)])
def test_the_paired_estimator_agrees_with_the_independent_computation_in_every_case(seed_sd, sample_sd):
    from bench.leaderboard.paired import estimate

    rng = np.random.default_rng(1)
    d = 0.5 + rng.normal(0, seed_sd, (4, 1)) + rng.normal(0, sample_sd, (1, 200)) + rng.normal(0, 1, (4, 200))
    mean, half, df = independent_paired_ci(d)
    e = estimate(d)
    assert (e.mean, e.low, e.high, e.df) == pytest.approx((mean, mean - half, mean + half, df), rel=1e-9)


def test_the_paired_interval_covers_the_true_difference_95_percent_of_the_time():
    """Simulated crossed design (3 seeds x 300 samples, binary correctness, seed and sample
    effects): the 95% CI covers the true mean difference in 93-97% of 600 draws."""
    from bench.leaderboard.paired import estimate

    rng = np.random.default_rng(0)
    covered, trials = 0, 600
    ease = rng.normal(0, 1.5, 20_000)  # a population of test samples: how easy each is
    seeds = rng.normal(0, 0.3, (2000, 1))  # the distribution of seed effects, for the true value

    def accuracy(shift):
        return 100 * (1 / (1 + np.exp(-(ease[None, :] + shift + seeds)))).mean()

    true_difference = accuracy(1.0) - accuracy(0.9)
    for _ in range(trials):
        sample = rng.choice(len(ease), 300)
        seed_a, seed_b = rng.normal(0, 0.3, (3, 1)), rng.normal(0, 0.3, (3, 1))
        logit = ease[sample][None, :]
        a = rng.random((3, 300)) < 1 / (1 + np.exp(-(logit + 1.0 + seed_a)))
        b = rng.random((3, 300)) < 1 / (1 + np.exp(-(logit + 0.9 + seed_b)))
        e = estimate(100.0 * (a.astype(float) - b))
        covered += e.low <= true_difference <= e.high
    assert 0.93 <= covered / trials <= 0.97, covered / trials


def test_mean_std_and_the_paired_interval_recomputed_independently(results, monkeypatch):
    """The Δ row's CI from the stored predictions, recomputed here with numpy's least squares (the
    additive seed + sample model's residuals) and scipy's t: the two-way crossed random-effects
    variance of the mean paired difference with Satterthwaite's degrees of freedom."""
    table, _ = run(results, monkeypatch)
    qif = table[(table.neuron == "qif") & (table.kind == "measured")].iloc[0]
    assert (qif.n_seeds, qif.top1_mean, qif.top1_std) == (3, 92.0, 2.0)  # sample std (ddof 1)
    assert qif.paired_seeds == 2  # lif's seed 2 failed: the pairs are seeds 0 and 1

    def correct(neuron, seed):
        p = pd.read_csv(results / f"runs/digits/{neuron}/{seed}/test-predictions.csv")
        return 100.0 * (p.prediction == p.target).to_numpy()

    d = np.array([correct("qif", s) - correct("lif", s) for s in (0, 1)])  # seeds x samples
    mean, half, df = independent_paired_ci(d)
    y = d.reshape(-1)
    assert qif.delta_top1 == pytest.approx(y.mean()) == pytest.approx(-4.5)  # (90 + 92)/2 - (95 + 96)/2
    assert (qif.delta_ci_low, qif.delta_ci_high) == pytest.approx((y.mean() - half, y.mean() + half), rel=1e-9)
    assert qif.delta_p == pytest.approx(2 * stats.t.sf(abs(mean) / (half / stats.t.ppf(0.975, df)), df))
    lif = table[table.neuron == "lif"].iloc[0]
    assert (lif.n_seeds, lif.n_failed, bool(lif.incomplete)) == (2, 1, True)


def test_tables_show_failures_incomplete_rows_and_reported_numbers_apart(results, monkeypatch):
    run(results, monkeypatch, profile=OmegaConf.merge(PROFILE, {"neurons": ["lif", "qif", "plif"]}))
    md = (results / "results/leaderboard/leaderboard.md").read_text()
    assert "| qif " in md and "92.00 ± 2.00" in md and "-4.50 [" in md
    assert "INCOMPLETE: 2 of 3 seeds" in md and "seed 2: DivergedError" in md
    assert "qif (reported)" in md and "99.50 ± 0.10" in md and "reported: Doe 2025, Table 2" in md
    assert "cifar10" not in md  # reported numbers of tasks outside the profile are not shown
    assert "| plif " in md and "INCOMPLETE: 0 of 3 seeds" in md  # asked for by the profile, no record yet
    assert "10.00" not in md  # the override run and the foreign seed are left out
    table = pd.read_csv(results / "results/leaderboard/leaderboard.csv")
    measured = table[table.kind == "measured"]
    assert measured.set_index("neuron").top1_mean.dropna().to_dict() == {"qif": 92.0, "lif": 95.5}  # reported row not in means


def test_every_format_shows_the_same_numbers(results, monkeypatch):
    run(results, monkeypatch)
    md = (results / "results/leaderboard/leaderboard.md").read_text()
    tex = (results / "results/leaderboard/leaderboard.tex").read_text()
    page = (results / "results/leaderboard/leaderboard.html").read_text()
    csv = pd.read_csv(results / "results/leaderboard/leaderboard.csv")
    for row in csv.itertuples():
        shown = f"{row.top1_mean:.2f}"
        assert shown in md and shown in tex and shown in page
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and r"92.00 $\pm$ 2.00" in tex
    assert csv.table_version.unique().tolist() == ["t-v1"]


def test_the_html_page_is_standalone_and_sortable(results, monkeypatch):
    run(results, monkeypatch)
    page = (results / "results/leaderboard/leaderboard.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no network references"
    assert "<script>" in page and "aria-sort" in page and 'data-sort="92.0"' in page
    # it links every figure that was drawn, by its relative path, and only those
    linked = re.findall(r'<a href="plots/([^"]+)">', page)
    drawn = sorted(p.name for p in (results / "results/leaderboard/plots").glob("*.png"))
    assert linked and sorted(linked) == drawn


def test_the_hash_and_version_follow_the_numbers_and_only_the_numbers(results, monkeypatch):
    _, first = run(results, monkeypatch)
    before = outputs(results)
    _, again = run(results, monkeypatch, date="2026-02-03")  # nothing changed: same table, same files
    assert again == first and outputs(results) == before
    record = results / "runs/digits/qif/1/record.json"
    data = json.loads(record.read_text())
    data["metrics"]["test_top1"] += 0.0001  # below what the table rounds to
    record.write_text(json.dumps(data))
    _, changed = run(results, monkeypatch, date="2026-02-03")
    assert changed["content_hash"] != first["content_hash"]
    assert (changed["version"], changed["date"]) == (2, "2026-02-03")
    assert "~digits/qif" in changed["changes"]
    changelog = (results / "results/leaderboard/CHANGELOG.md").read_text()
    assert changelog.index("t-v2") < changelog.index("t-v1") and first["content_hash"] in changelog
    identity = f"t-v2 ({changed['date']}), content sha256 {changed['content_hash']}"
    assert identity in (results / "results/leaderboard/leaderboard.md").read_text()
    bib = entry("t", history_path=results / "results/leaderboard/table-versions.csv", citation_path=ROOT / "CITATION.cff")
    assert bib.startswith("@misc{") and "t-v2" in bib and changed["content_hash"] in bib and "year = {2026}" in bib
    assert ("uncommitted source changes" in bib) == changed["git_dirty"]  # a citation never hides a dirty tree
    history = pd.read_csv(results / "results/leaderboard/table-versions.csv")
    history["git_dirty"] = True
    history.to_csv(results / "results/leaderboard/table-versions.csv", index=False)
    bib = entry("t", history_path=results / "results/leaderboard/table-versions.csv", citation_path=ROOT / "CITATION.cff")
    assert "plus uncommitted source changes (not reproducible from that commit alone)" in bib


@pytest.mark.parametrize(
    "text, error",
    [
        ("{not json", "not a valid record"),
        ('{"neuron": "qif", "task": "digits", "seed": 0, "status": "ok", "metrics": {}}', "test_top1"),
        ('{"neuron": "qif", "task": "digits", "seed": 0, "status": "done"}', "status"),
        ('{"neuron": "qif", "task": "digits", "seed": 0, "status": "failed"}', "needs a reason"),
        ('{"neuron": "lif", "task": "digits", "seed": 0, "status": "failed", "reason": "x"}',
         "lies in the folder of digits/qif/0"),
    ],
)
def test_a_malformed_record_fails_the_stage_naming_its_file(results, monkeypatch, text, error):
    path = results / "runs/digits/qif/0/record.json"
    path.write_text(text)
    before = outputs(results)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*{error}"):
        run(results, monkeypatch)
    assert outputs(results) == before  # nothing half-written


def test_a_reported_file_without_its_columns_is_an_error(tmp_path):
    (tmp_path / "reported.csv").write_text("task,top1\ndigits,99\n")
    with pytest.raises(ValueError, match="reported.csv.*lacks"):
        read_reported(tmp_path / "reported.csv")


def test_ten_thousand_records_aggregate_in_under_five_seconds(tmp_path):
    config = {"trainer": {"max_epochs": 300}, "task": {"model": {"channels": [128, 256, 512]}}, "notes": "x" * 2000}
    neurons, tasks = [f"n{i}" for i in range(10)], [f"task{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    for task in tasks:
        for neuron in neurons:
            for seed in range(100):
                write(tmp_path, neuron, seed, float(rng.uniform(80, 99)), task=task, config=config, predictions=False)
    profile = OmegaConf.create(
        {"name": "big", "neurons": neurons, "tasks": tasks, "seeds": list(range(100)), "single_seed_tasks": []}
    )
    start = time.perf_counter()
    records = select_profile(load_records(tmp_path / "runs"), profile)
    table = leaderboard_table(records, profile, read_reported(tmp_path / "none.csv"))
    seconds = time.perf_counter() - start
    assert len(records) == 10_000 and len(table) == 100
    assert seconds < 5, f"aggregating 10,000 records took {seconds:.1f} s"


def test_the_record_schema_is_exported_as_json_schema():
    schema = Record.model_json_schema()
    assert {"neuron", "task", "seed", "status"} <= set(schema["required"])


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_the_html_page_renders_and_sorts_in_a_headless_browser_offline(results, monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    write(results, "plif", 0, 93.0)  # a third measured row, so that sorting has something to do
    profile = OmegaConf.merge(PROFILE, {"neurons": ["lif", "qif", "plif"]})
    monkeypatch.chdir(results)
    build(results / "runs", results / "results", profile)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update",
                 "--proxy-server=http://127.0.0.1:9"):  # network off: any request would fail
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((results / "results/leaderboard/leaderboard.html").as_uri())
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0  # nothing fetched
        table = driver.find_element(By.CSS_SELECTOR, "table[data-task='digits']")
        def names():
            return [row.find_element(By.TAG_NAME, "td").text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert names() == ["lif", "plif", "qif", "qif (reported)"]  # as generated: measured by top-1, then reported
        header = table.find_elements(By.TAG_NAME, "th")[1]  # top-1
        header.click()
        assert names() == ["qif", "plif", "lif", "qif (reported)"]  # ascending top-1: 92, 93, 95.5, 99.5
        header.click()
        assert names() == ["qif (reported)", "lif", "plif", "qif"]
        assert header.get_attribute("aria-sort") == "descending"
        table.find_elements(By.TAG_NAME, "th")[0].click()  # by name
        assert names() == ["lif", "plif", "qif", "qif (reported)"]
    finally:
        driver.quit()


def test_a_record_made_under_another_config_is_stale_not_a_number(results, monkeypatch):
    """A record whose config hash is not what params.yaml asks for its cell never shows as a
    number: its row counts it as missing and names it with the command that refreshes it."""
    hashes = {(n, "digits", s): None for n in ("lif", "qif") for s in (0, 1, 2)}  # the fixture's records have none
    hashes["qif", "digits", 1] = "the config params.yaml asks for now"
    monkeypatch.setattr("bench.leaderboard.stage.expected_config_hashes", lambda params: hashes)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    monkeypatch.chdir(results)
    table, _ = build(results / "runs", results / "results", PROFILE, params=OmegaConf.create({"profile": PROFILE}))
    qif = table[(table.neuron == "qif") & (table.kind == "measured")].iloc[0]
    assert (qif.n_seeds, qif.top1_mean, bool(qif.incomplete)) == (2, 92.0, True)  # seeds 0 and 2: (90 + 94) / 2
    assert qif.stale == "seed 1: made under another config (`dvc repro -f train@qif-digits-1`)"
    md = (results / "results/leaderboard/leaderboard.md").read_text()
    assert "STALE (not what params.yaml asks for; not in any number): seed 1: made under another config" in md


def test_a_record_made_under_other_numerics_or_tested_on_part_of_the_split_is_stale(results, monkeypatch):
    """BENCH_CPU_THREADS=2 dvc repro -f ... keeps the config hash but not the bits; nor does a
    record whose test covered part of the split: both are named, neither is a number."""
    made = {"git_commit": None, "git_dirty": None, "versions": {}, "hardware": {}, "config_hash": "h", "wall_s": 1.0}
    write(results, "qif", 1, 92.0, provenance={**made, "numerics": {"cpu_isa": "avx2", "cpu_threads": 2}})
    write(results, "qif", 2, 94.0, provenance={**made, "numerics": {"cpu_isa": "avx2", "cpu_threads": 1}},
          n_test=32, n_test_split=100)
    hashes = {(n, "digits", s): None for n in ("lif", "qif") for s in (0, 1, 2)}
    hashes |= {("qif", "digits", 1): "h", ("qif", "digits", 2): "h"}
    monkeypatch.setattr("bench.leaderboard.stage.expected_config_hashes", lambda params: hashes)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    monkeypatch.chdir(results)
    params = OmegaConf.create({"profile": PROFILE, "runtime": {"cpu_isa": "avx2", "cpu_threads": 1}})
    table, _ = build(results / "runs", results / "results", PROFILE, params=params)
    qif = table[(table.neuron == "qif") & (table.kind == "measured")].iloc[0]
    assert (qif.n_seeds, qif.top1_mean) == (1, 90.0)
    assert qif.stale == ("seed 1: made with 2 CPU threads, params.yaml asks for 1 (`dvc repro -f train@qif-digits-1`), "
                         "seed 2: tested on part of the test split (`dvc repro -f train@qif-digits-2`)")


def test_a_deleted_history_never_lets_a_version_number_be_reused(results, monkeypatch):
    _, first = run(results, monkeypatch)
    (results / "results/leaderboard/table-versions.csv").unlink()
    write(results, "qif", 1, 93.0)
    _, second = run(results, monkeypatch)
    assert (first["version"], second["version"]) == (1, 2)


def publish_killed_at(root, kill_at: int, swap: str) -> int:
    """Runs the stage in a forked child that SIGKILLs itself at its `kill_at`-th file write,
    rename or removal; the child's exit code (-9 if the kill came, 0 if the run finished first)."""
    pid = os.fork()
    if pid:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    code = 1
    try:  # the child: patching its own copy of the modules touches nothing in the test process
        calls = [0]

        def hook(function):
            def wrapped(*args, **kwargs):
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return function(*args, **kwargs)
            return wrapped

        pathlib.Path.write_text, os.replace, shutil.rmtree = map(hook, (pathlib.Path.write_text, os.replace, shutil.rmtree))
        publish.exchange = hook(publish.exchange if swap == "exchange" else lambda a, b: False)
        os.chdir(root)
        build(root / "runs", root / "results", PROFILE)
        code = 0
    finally:
        os._exit(code)


@pytest.mark.parametrize("swap", ["exchange", "two renames"])
def test_a_kill_at_any_point_of_publishing_leaves_the_old_set_or_the_new_one(results, monkeypatch, tmp_path_factory, swap):
    """SIGKILL at every file write, rename and removal of a publish: the published folder is the
    whole old set or the whole new one (with two renames, possibly absent with a complete backup,
    which the next run restores); nothing else appears in results/, and the next run publishes
    the new set and leaves no leftovers."""
    run(results, monkeypatch)
    old = outputs(results)
    write(results, "qif", 1, 93.0)  # the next table differs
    start = tmp_path_factory.mktemp("start") / "repo"  # the state each killed run starts from
    shutil.copytree(results, start)
    run(start, monkeypatch)
    new = outputs(start)
    shutil.rmtree(start)
    shutil.copytree(results, start)
    assert new != old
    states, recovered = set(), set()
    for kill_at in range(1, 100):
        shutil.rmtree(results)
        shutil.copytree(start, results)
        code = publish_killed_at(results, kill_at, swap)
        assert code in (0, -signal.SIGKILL)
        assert {p.name for p in (results / "results").iterdir()} <= {"leaderboard", "reported.csv"}
        now = outputs(results)
        if code == 0:
            assert now == new and not list(results.glob(".results-*"))
            break
        if now == old or now == new:
            states.add("old" if now == old else "new")
        else:
            assert swap == "two renames" and not (results / "results/leaderboard").exists(), f"kill {kill_at}: a mixture"
            assert {p.name: p.read_bytes() for p in sorted(results.glob(".results-leaderboard.backup/**/*")) if p.is_file()} == {
                k: v for k, v in old.items() if k != "reported.csv"}
            states.add("absent, backup complete")
        leftovers = (now == old, now == new, tuple(sorted(p.name for p in results.glob(".results-*"))))
        if leftovers not in recovered:  # the next run recovers and publishes
            run(results, monkeypatch)
            assert outputs(results) == new and not list(results.glob(".results-*"))
            recovered.add(leftovers)
    assert code == 0 and {"old", "new"} <= states, states


def test_predictions_that_disagree_with_their_record_are_refused(results, monkeypatch):
    record = results / "runs/digits/qif/1/record.json"
    record.write_text(record.read_text().replace('"test_top1": 92.0', '"test_top1": 93.0'))
    with pytest.raises(ValueError, match="qif/1/test-predictions.csv: top-1 92.0000 from the predictions, 93.0 in the record"):
        run(results, monkeypatch)


def test_holm_adjusts_step_down_and_seeds_with_the_same_count_are_explained():
    from bench.leaderboard.paired import holm, identical_accuracies

    adjusted = holm(pd.Series([0.01, 0.04, 0.03], index=["a", "b", "c"]))
    assert adjusted.to_dict() == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})  # 3p, max(2p, prev), max(p, prev)
    matrix = pd.DataFrame([[1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 1, 0]], index=[0, 1, 2], dtype=float)
    assert identical_accuracies(matrix) == "seeds 0, 1 each 2/4 correct: different samples right (2-2 of 4 differ pairwise)"
    assert identical_accuracies(matrix.loc[[0, 0]].set_axis([0, 1])) == "seeds 0, 1 each 2/4 correct: the same samples right"


def test_a_sweep_becomes_a_sensitivity_table_and_plot_with_paired_cis(results, monkeypatch):
    """A profile's sweep points (params.yaml's plan.points) are not table rows: they give, per sweep
    and task, top-1 against the value with each point's CI and its paired difference to the base
    neuron's own value (here qif, a = 0.25), from the same predictions the table uses."""
    write(results, "qif-a-1", 0, 80.0)
    write(results, "qif-a-1", 1, 82.0)
    write(results, "qif-a-1", 2, 81.0)
    write(results, "qif-a-0p5", 0, 91.0)  # seeds 1 and 2 not run yet
    neuron = {"_target_": "bench.neurons.qif.QIF", "a": 0.25}
    cells = {f"{n}-digits-{s}": {"neuron": n, "task": "digits", "seed": s} for n in ("qif-a-0p5", "qif-a-1") for s in (0, 1, 2)}
    params = OmegaConf.create({"profile": PROFILE, "neurons": {"qif": neuron, "lif": {}}, "plan": {"cells": cells, "points": {
        "qif-a-0p5": {"base": "qif", "param": "a", "value": 0.5, "neuron": {**neuron, "a": 0.5}},
        "qif-a-1": {"base": "qif", "param": "a", "value": 1.0, "neuron": {**neuron, "a": 1.0}}}}})
    monkeypatch.setattr("bench.leaderboard.stage.expected_config_hashes", lambda params: None)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    monkeypatch.chdir(results)
    table, _ = build(results / "runs", results / "results", PROFILE, params=params)
    assert set(table.neuron) == {"lif", "qif"}  # sweep points are not rows of the leaderboard
    out = results / "results/leaderboard"
    sweep = pd.read_csv(out / "sensitivity.csv")
    assert list(sweep.value) == [0.25, 0.5, 1.0] and list(sweep.n_seeds) == [3, 1, 3]
    assert list(sweep.top1_mean) == [92.0, 91.0, 81.0] and list(sweep.is_default) == [True, False, False]
    # the point's difference is the same paired estimate the leaderboard gives an arm
    from bench.leaderboard.paired import compare

    records = load_records(results / "runs")
    paired = compare(records[records.neuron.isin(["qif", "qif-a-1"]) & (records.seed < 3) & (records.status == "ok")
                             & ~records.overrides.astype(bool)], "qif")
    expected = paired[paired.neuron == "qif-a-1"].iloc[0]
    point = sweep[sweep.neuron == "qif-a-1"].iloc[0]
    assert point.delta == pytest.approx(-11.0, abs=1e-4) and point.delta_low == pytest.approx(expected.delta_low, abs=1e-4)
    assert point.verdict == "worse" and sweep.verdict[0] == "(reference)"
    md = (out / "leaderboard.md").read_text()
    assert "### qif.a on digits" in md
    assert re.search(r"\| 0\.25 \(default\) +\| qif +\| 3/3 ", md) and re.search(r"\| 0\.5 +\| qif-a-0p5 +\| 1/3 ", md)
    assert (out / "plots/sensitivity.png").stat().st_size > 10_000
    # every section of the Markdown is in the HTML page and the LaTeX too (issue 35)
    html, tex = (out / "leaderboard.html").read_text(), (out / "leaderboard.tex").read_text()
    sections = re.findall(r"^## (.+)$", md, re.M)
    assert {"Answers", "digits", "Failed cells", "Sensitivity"} <= set(sections)
    for title in sections:
        assert f">{title}</h2>" in html, title
        assert rf"\caption{{{title}" in tex, title
    assert "<h3>qif.a on digits</h3>" in html and r"\caption{Sensitivity: qif.a on digits" in tex
    assert "<td>0.5</td><td>qif-a-0p5</td><td>1/3</td>" in html
