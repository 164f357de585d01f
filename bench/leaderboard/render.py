"""The leaderboard's outputs, all rendered from the one DataFrame of bench.leaderboard.stats (so
they cannot disagree): Markdown, tidy CSV, LaTeX (booktabs) and a standalone sortable HTML page.
Every output carries the table's identity (bench.leaderboard.version)."""

import pandas as pd
from jinja2 import Environment

from bench.leaderboard.paired import CONFIDENCE, POWER
from bench.leaderboard.stats import DELTA, DELTA_HIGH, DELTA_LOW
from bench.record import PRIMARY, SHOWN, Metric

DESCRIPTION = (
    "Top-1/top-5 test accuracy (%) of the checkpoint chosen on validation data, mean ± sample std over seeds; "
    f"Δ top-1 = paired difference to the baseline neuron (same seeds, same test samples) with its {CONFIDENCE:.0%} "
    "confidence interval, which includes seed-to-seed variation and test-set sampling (docs/statistics.md); "
    f"verdict = better / worse / not resolved at {CONFIDENCE:.0%}, Holm-corrected over every comparison of the table; "
    "top-1, max over epochs (optimistic) = the test top-1 evaluated after every epoch, its maximum over epochs: the "
    "convention of the literature's training scripts (e.g. TET, SEW), which selects on the test set; it is the column "
    "to set beside reported rows, never the headline; "
    "firing rate = mean spikes per neuron per timestep on the test set; energy per test sample under the "
    "named model (bench/efficiency.py). Rows marked `reported` are numbers papers report (results/reported.csv), "
    "never part of any mean."
)
DELTA_HEADER = f"Δ {PRIMARY.label} vs baseline [{CONFIDENCE:.0%} CI]"


def _shown_columns() -> list[tuple[str, str | None]]:
    """(header, the table column its HTML sort key comes from; None: the text shown)."""
    columns: list[tuple[str, str | None]] = [("neuron", None)]
    for m in SHOWN:
        columns.append((m.header, m.col("mean")))
        if m is PRIMARY:
            columns += [(DELTA_HEADER, DELTA), ("verdict", None)]
    return [*columns, ("seeds", "n_seeds"), ("notes", None)]


COLUMNS = [header for header, _ in _shown_columns()]
SORT_KEYS = [key for _, key in _shown_columns()]


def _num(x) -> bool:
    return not pd.isna(x)


def _value(row: dict, m: Metric) -> str:
    mean = row.get(m.col("mean"))
    if not _num(mean):
        return "—"
    std = row.get(m.col("std"))
    text = f"{mean:{m.fmt}}" + (f" ± {std:{m.fmt}}" if "std" in m.aggregate and _num(std) else "")
    return text + (f" ({row[m.qualifier]})" if m.qualifier else "")


def _delta(row: dict) -> str:
    if row["kind"] == "reported" or not _num(row[DELTA]):
        return "baseline" if row["neuron"] == row["baseline"] and row["kind"] == "measured" else "—"
    low, high = row[DELTA_LOW], row[DELTA_HIGH]
    return f"{row[DELTA]:+{PRIMARY.fmt}} [{low:+{PRIMARY.fmt}}, {high:+{PRIMARY.fmt}}]"


def _verdict(row: dict) -> str:
    return row["verdict"] if isinstance(row["verdict"], str) and row["verdict"] else ""


def _seeds(row) -> str:
    if row.kind == "measured":
        return f"{row.n_seeds}/{row.n_seeds_expected}"
    return f"{int(row.n_seeds)}" if _num(row.n_seeds) else "—"


def _notes(row) -> str:
    if row.kind == "reported":
        return f"reported: {row.source}, {row.where}" + (f"; {row.note}" if _num(row.note) else "")
    notes = []
    if row.incomplete:
        notes.append(f"INCOMPLETE: {row.n_seeds} of {row.n_seeds_expected} seeds")
    if row.n_failed:
        notes.append(f"FAILED {row.failures}")
    if _num(row.stale):
        notes.append(f"STALE (made under another config than params.yaml asks for): {row.stale}")
    if _num(row.paired_seeds) and row.paired_seeds == 1:
        notes.append("one seed: the CI covers test-set sampling only")
    if _num(row.arm):
        notes.append(f"arm: {row.arm}")
    if _num(row.identical_seeds):
        notes.append(f"same top-1 on several seeds: {row.identical_seeds}")
    return "; ".join(notes)


def _cells(row) -> list[str]:
    values = row._asdict()
    cells = [row.neuron + (" (reported)" if row.kind == "reported" else "")]
    for m in SHOWN:
        cells.append(_value(values, m))
        if m is PRIMARY:
            cells += [_delta(values), _verdict(values)]
    return [*cells, _seeds(row), _notes(row)]


def display(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of one task as the strings every format shows (COLUMNS)."""
    return pd.DataFrame([_cells(r) for r in rows.itertuples()], columns=COLUMNS)


def _protocols(rows: pd.DataFrame) -> str:
    return ", ".join(sorted(set(rows.split_protocol.dropna())))


def identity_lines(meta: dict) -> list[str]:
    dirty = " (with uncommitted source changes)" if meta["git_dirty"] else ""
    return [
        f"Table version {meta['profile']}-v{meta['version']} ({meta['date']}), content sha256 {meta['content_hash']}",
        f"Produced by git commit {meta['git_commit']}{dirty} with dvc.lock sha256 {meta['dvc_lock_hash']}",
        "Cite with `python -m bench.cite`; history in results/leaderboard/CHANGELOG.md.",
    ]


def verdicts(table: pd.DataFrame) -> list[str]:
    """The story at a glance, one line per task: each arm's paired difference to the baseline in
    the profile's order of arms (the first is the headline), and what the task can resolve."""
    lines = []
    for task, rows in tasks(table):
        measured = rows[(rows.kind == "measured") & rows[DELTA].notna()]
        if measured.empty:
            continue
        baseline = measured.baseline.iloc[0]
        arms = measured.sort_values(["arm_rank", "neuron"], na_position="last")
        parts = []
        for r in arms.itertuples():
            what = f" ({r.arm})" if _num(r.arm) else ""
            ci = f"{getattr(r, DELTA):+.2f} pp [{getattr(r, DELTA_LOW):+.2f}, {getattr(r, DELTA_HIGH):+.2f}]"
            parts.append(f"{r.neuron}{what}: {ci}, {r.verdict}")
        head, rest = parts[0], parts[1:]
        line = f"**{task}** vs {baseline}: {head}" + (f". Arms: {'; '.join(rest)}" if rest else "")
        resolves = measured.resolvable_pp.median()
        if _num(resolves):
            seeds, samples = int(measured.paired_seeds.max()), int(measured.paired_samples.max())
            line += (f". With {seeds} paired seed{'s' * (seeds > 1)} x {samples} test samples this task resolves "
                     f"differences of about {resolves:.1f} pp ({POWER:.0%} power, {CONFIDENCE:.0%} confidence).")
        lines.append(line)
    return lines


def tasks(table: pd.DataFrame):
    return table.groupby("task", sort=True)


def to_markdown(table: pd.DataFrame, meta: dict) -> str:
    lines = ["# Leaderboard", "", f"Profile `{meta['profile']}`. {DESCRIPTION}", ""]
    lines += [f"- {line}" for line in identity_lines(meta)]
    lines += ["", "Generated by `dvc repro` (stage `leaderboard`) from `results/runs/`; do not edit by hand."]
    story = verdicts(table)
    if story:
        lines += ["", "## Verdicts", "", *[f"- {line}" for line in story], "", "![forest plot](plots/forest.png)"]
    for task, rows in tasks(table):
        protocols = _protocols(rows)
        lines += ["", f"## {task}", ""]
        if protocols:
            lines += [f"Split protocol: `{protocols}`.", ""]
        lines.append(display(rows).to_markdown(index=False, disable_numparse=True))
    failed = table[table.n_failed.fillna(0) > 0]
    if len(failed):
        lines += ["", "## Failed cells", ""]
        lines += [f"- {r.task} / {r.neuron}: {r.failures}" for r in failed.itertuples()]
    return "\n".join(lines) + "\n"


def to_csv(table: pd.DataFrame, meta: dict) -> str:
    """Tidy: one row per task x neuron (measured or reported), full precision, identity columns."""
    ident = {"table_version": f"{meta['profile']}-v{meta['version']}", "content_sha256": meta["content_hash"]}
    return table.assign(**ident).to_csv(index=False, lineterminator="\n")


def _latex_escape(text: str) -> str:
    for a, b in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")]:
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("≥", r"$\geq$").replace("—", "--")


def to_latex(table: pd.DataFrame, meta: dict) -> str:
    """One booktabs table float per task, ready to \\input (needs \\usepackage{booktabs})."""
    out = [f"% {line}" for line in ["Generated by `dvc repro` (stage leaderboard); do not edit.", *identity_lines(meta)]]
    for task, rows in tasks(table):
        shown = display(rows).drop(columns="notes")
        header = " & ".join(_latex_escape(c) for c in shown.columns) + r" \\"
        body = [" & ".join(_latex_escape(v) for v in row) + r" \\" for row in shown.itertuples(index=False)]
        out += [
            "", r"\begin{table}[t]", r"\centering", r"\small",
            rf"\caption{{{_latex_escape(task)} (profile {_latex_escape(meta['profile'])}, table version "
            rf"{_latex_escape(meta['profile'])}-v{meta['version']}, sha256 {meta['content_hash'][:12]})}}",
            rf"\label{{tab:bench-{task}}}",
            r"\begin{tabular}{l" + "r" * (len(shown.columns) - 1) + "}",
            r"\toprule", header, r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}",
        ]
    return "\n".join(out) + "\n"


HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Leaderboard ({{ meta.profile }}-v{{ meta.version }})</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 2em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, th:last-child, td:last-child { text-align: left; }
th { cursor: pointer; user-select: none; border-bottom: 2px solid #444; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
tr.reported { color: #666; font-style: italic; }
tr.flagged td:last-child { color: #a00; }
.meta { color: #555; font-size: 0.9em; }
</style>
</head>
<body>
<h1>Leaderboard</h1>
<p>Profile <code>{{ meta.profile }}</code>. {{ description }}</p>
<ul class="meta">{% for line in identity %}<li>{{ line }}</li>{% endfor %}</ul>
{% if verdicts %}<h2>Verdicts</h2>
<ul>{% for line in verdicts %}<li>{{ line }}</li>{% endfor %}</ul>
<img src="plots/forest.png" alt="paired differences to the baseline with their CIs" style="max-width: 100%">{% endif %}
<p class="meta">Click a column header to sort; click again to reverse.</p>
{% for task in tasks %}
<h2 id="{{ task.name }}">{{ task.name }}</h2>
{% if task.protocol %}<p class="meta">Split protocol: <code>{{ task.protocol }}</code></p>{% endif %}
<table class="sortable" data-task="{{ task.name }}">
<thead><tr>{% for c in columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in task.rows %}<tr class="{{ row.css }}">
{%- for cell in row.cells %}<td data-sort="{{ cell.key }}">{{ cell.text }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% endfor %}
{% if figures %}<h2 id="figures">Figures</h2>
<ul>{% for name, what in figures %}<li><a href="plots/{{ name }}">{{ name }}</a>: {{ what }}</li>{% endfor %}</ul>{% endif %}
<script>
// Sort a table by the clicked column: numeric data-sort keys numerically, others as text.
document.querySelectorAll("table.sortable th").forEach(function (th, _, all) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.sort, y = b.cells[index].dataset.sort;
      var nx = parseFloat(x), ny = parseFloat(y), c;
      if (x === "" && y === "") c = 0; else if (x === "") return 1; else if (y === "") return -1;
      else if (!isNaN(nx) && !isNaN(ny)) c = nx - ny; else c = x.localeCompare(y);
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
</body>
</html>
"""

# The figures the page links to (plots/<name>), with what each shows, in reading order.
FIGURES = {
    "forest.png": "each neuron's paired difference to the baseline, with its 95% CI, per task",
    "accuracy-energy.png": "top-1 against energy per sample, with the Pareto front",
    "firing-rates.png": "firing rate per spiking layer",
    "training-curves.png": "validation top-1 per epoch, mean over seeds",
    "sensitivity.png": "top-1 per value of each swept setting",
}


def to_html(table: pd.DataFrame, meta: dict, figures: list[str] = ()) -> str:
    """A standalone page: inline style and script, no server, no network; it links the figures
    that exist (plots/)."""
    pages = []
    for task, rows in tasks(table):
        shown = display(rows)
        html_rows = []
        for (_, raw), texts in zip(rows.iterrows(), shown.itertuples(index=False)):
            keys = [raw[k] if k and _num(raw[k]) else ("" if k else t) for k, t in zip(SORT_KEYS, texts)]
            flagged = raw.kind == "measured" and (raw.incomplete or raw.n_failed or _num(raw.stale))
            css = "reported" if raw.kind == "reported" else ("flagged" if flagged else "")
            html_rows.append({"css": css, "cells": [{"key": k, "text": t} for k, t in zip(keys, texts)]})
        pages.append({"name": task, "protocol": _protocols(rows), "rows": html_rows})
    template = Environment(autoescape=True).from_string(HTML_TEMPLATE)
    return template.render(
        meta=meta, description=DESCRIPTION.replace("`", ""), identity=[line.replace("`", "") for line in identity_lines(meta)],
        columns=COLUMNS, tasks=pages, verdicts=[line.replace("**", "") for line in verdicts(table)],
        figures=[(name, what) for name, what in FIGURES.items() if name in figures],
    )
