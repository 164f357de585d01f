"""The leaderboard's outputs, all rendered from the one DataFrame of bench.leaderboard.stats (so
they cannot disagree): Markdown, tidy CSV, LaTeX (booktabs) and a standalone sortable HTML page.
Every output carries the table's identity (bench.leaderboard.version)."""

import re

import pandas as pd
from jinja2 import Environment
from markupsafe import Markup, escape

from bench.leaderboard.paired import CONFIDENCE
from bench.leaderboard.questions import EXPLORATORY, NOT_TESTED
from bench.leaderboard.sensitivity import INTRO as SENSITIVITY_INTRO
from bench.leaderboard.sensitivity import displayed as sensitivity_tables
from bench.leaderboard.stats import DELTA, DELTA_HIGH, DELTA_LOW
from bench.record import PRIMARY, SHOWN, Metric

DESCRIPTION = (
    "Top-1/top-5 test accuracy (%) of the checkpoint chosen on validation data, mean ± sample std over seeds; "
    f"Δ top-1 = paired difference to the baseline neuron (same seeds, same test samples) with its {CONFIDENCE:.0%} "
    "confidence interval, which includes seed-to-seed variation and test-set sampling (docs/statistics.md); "
    "verdict = the answer to one of the profile's questions, with its family (primary, mechanism): better / worse / "
    f"not resolved / not tested, one hierarchy of tests whose probability of any false verdict is at most {1 - CONFIDENCE:.0%} "
    "(see Answers); a comparison the profile does not ask is exploratory: an estimate and its CI, no verdict; "
    "top-1, max over epochs (optimistic) = the test top-1 evaluated after every epoch, its maximum over epochs: the "
    "convention of the literature's training scripts (e.g. TET, SEW), which selects on the test set; it is the column "
    "to set beside reported rows, never the headline; "
    "firing rate = mean spikes per neuron per timestep on the test set; energy per test sample under the "
    "named model, the conventional count papers report (first-layer MACs once per sample for a static input, "
    "spike-driven ACs, no neuron updates; the CSV also has the full count, neuron updates included: "
    "docs/efficiency.md). Rows marked `reported` are numbers papers report (results/reported.csv), "
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


def tuned_lead(meta: dict) -> str:
    """The headline's settings, where a task's neurons were tuned (bench/tune.py)."""
    tuned = meta.get("tuned") or []
    if not tuned:
        return ""
    return (f"On {', '.join(tuned)} every neuron is shown at its own tuned settings (the same tuning budget for every "
            "neuron; see the Tuning section); the same neurons at the shared settings are in their own section. "
            "Δ is paired over the seeds both neurons ran (the primary question's arms run more seeds). ")


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
    verdict = row["verdict"] if isinstance(row["verdict"], str) else ""
    return f"{verdict} ({row['family']})" if verdict and verdict != EXPLORATORY else verdict


def _seeds(row) -> str:
    if row.kind == "measured":
        return f"{row.n_seeds}/{row.n_seeds_expected}"
    return f"{int(row.n_seeds)}" if _num(row.n_seeds) else "—"


def markdown_cell(text: str) -> str:
    """Text from records (a failure reason may hold newlines, `|` or Markdown) as one inert table
    cell: one line, pipes escaped, no heading, list or HTML it could start."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("#", "\\#")


def _notes(row) -> str:
    if row.kind == "reported":
        return f"reported: {row.source}, {row.where}" + (f"; {row.note}" if _num(row.note) else "")
    notes = []
    if row.incomplete:
        notes.append(f"INCOMPLETE: {row.n_seeds} of {row.n_seeds_expected} seeds")
    if row.n_failed:
        notes.append(f"FAILED {row.failures}")
    if _num(row.stale):
        notes.append(f"STALE (not what params.yaml asks for; not in any number): {row.stale}")
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


def _pp(x: float) -> str:
    return f"{x:+.2f}"


def _level(alpha: float) -> str:
    return f"{100 * alpha:.3g}%"


def _answer(c) -> str:
    """One tested contrast: estimate, 95% CI, verdict, the level and interval the verdict used, the
    adjusted p and what the test resolves at that level."""
    if pd.isna(c.delta):
        return f"{c.contrast}: no data"
    text = f"{c.contrast}: {_pp(c.delta)} pp [{_pp(c.ci_low)}, {_pp(c.ci_high)}]"
    if c.verdict == NOT_TESTED:
        return f"{text}, not tested"
    verdict = f"**{c.a} {c.verdict} than {c.b}**" if c.verdict in ("better", "worse") else c.verdict
    return (f"{text}: {verdict} (tested at α = {_level(c.alpha_tested)}: [{_pp(c.ci_tested_low)}, {_pp(c.ci_tested_high)}], "
            f"adjusted p = {c.p_adjusted:.2g}; resolves {c.resolvable_pp:.1f} pp at that level)")


def answers(contrasts: pd.DataFrame) -> list[dict]:
    """The answers at a glance, by family: {"title", "intro", "items": [(line, sub-lines)]}: the
    primary question one line per task, then the mechanism contrasts per task, then what the
    exploratory comparisons can resolve."""
    if contrasts is None or contrasts.empty:
        return []
    sections = []
    primary = contrasts[contrasts.family == "primary"]
    if len(primary):
        sections.append({
            "title": "Primary question", "items": [(f"**{c.task}**: {_answer(c)}", []) for c in primary.itertuples()],
            "intro": (f"the paper's claim, on each task; α = {1 - CONFIDENCE:.0%} split equally over the {len(primary)} "
                      "primary tests, passed on to a task's mechanism contrasts once its answer is resolved."),
        })
    mechanism = contrasts[contrasts.family == "mechanism"]
    if len(mechanism):
        items = []
        for task, rows in mechanism.groupby("task", sort=False):
            if (rows.verdict == NOT_TESTED).all():
                estimates = "; ".join(_answer(c) for c in rows.itertuples()).replace(", not tested", "")
                why = f"not tested: {rows.gate.iloc[0]} is not resolved on {task}"
                items.append((f"**{task}**: {why}. Estimates: {estimates}", []))
            else:
                items.append((f"**{task}**:", [_answer(c) for c in rows.itertuples()]))
        sections.append({"title": "Mechanism contrasts", "items": items, "intro": (
            "what explains the primary answer; tested on a task once its primary answer is resolved, sharing the α "
            "it passes on (Holm within the task).")})
    explored = contrasts[contrasts.family == EXPLORATORY]
    if len(explored):
        per_task = [f"{task} about {rows.resolvable_pp.median():.1f} pp" for task, rows in explored.groupby("task", sort=True)
                    if rows.resolvable_pp.notna().any()]
        sections.append({"title": "Exploratory", "items": [], "intro": (
            f"every other neuron vs the baseline: the estimate and its {CONFIDENCE:.0%} CI in the tables below, labelled "
            "exploratory, no verdict. At the unadjusted level (80% power) they resolve " + ", ".join(per_task) + ".")})
    return sections


def answers_markdown(contrasts: pd.DataFrame) -> list[str]:
    sections = answers(contrasts)
    if not sections:
        return []
    lines = ["", "## Answers", "",
             f"The profile's questions (`questions` in conf/profile), tested as one hierarchy: the probability of any false "
             f"verdict among them is at most {1 - CONFIDENCE:.0%}, whichever other arms the profile lists "
             "(docs/statistics.md). Every contrast: Δ top-1 [95% CI]; the verdict, the level α it was tested at with the "
             "interval at that level, and the difference that test resolves with 80% power. All contrasts: `contrasts.csv`."]
    for section in sections:
        lines += ["", f"**{section['title']}**: {section['intro']}"]
        if section["items"]:
            lines.append("")
        for line, subs in section["items"]:
            lines += [f"- {line}", *[f"  - {sub}" for sub in subs]]
    return [*lines, "", "![forest plot](plots/forest.png)"]


def tasks(table: pd.DataFrame):
    return table.groupby("task", sort=True)


def sections_markdown(sections: list[dict]) -> list[str]:
    """Sections after the task tables (e.g. tuning, shared settings): {"title", "intro", "tables": [(title, shown)]}."""
    lines = []
    for section in sections or []:
        lines += ["", f"## {section['title']}", "", section["intro"]]
        for title, shown in section["tables"]:
            lines += ["", f"### {title}", "", shown.map(markdown_cell).to_markdown(index=False, disable_numparse=True)]
    return lines


def to_markdown(table: pd.DataFrame, meta: dict, contrasts: pd.DataFrame | None = None, sections: list[dict] = ()) -> str:
    lines = ["# Leaderboard", "", f"Profile `{meta['profile']}`. {tuned_lead(meta)}{DESCRIPTION}", ""]
    lines += [f"- {line}" for line in identity_lines(meta)]
    source = "`results/runs/` and `results/tuned/`" if meta.get("tuned") else "`results/runs/`"
    lines += ["", f"Generated by `dvc repro` (stage `leaderboard`) from {source}; do not edit by hand."]
    lines += answers_markdown(contrasts)
    for task, rows in tasks(table):
        protocols = _protocols(rows)
        lines += ["", f"## {task}", ""]
        if protocols:
            lines += [f"Split protocol: `{protocols}`.", ""]
        lines.append(display(rows).map(markdown_cell).to_markdown(index=False, disable_numparse=True))
    failures = failed_cells(table)
    if failures:
        lines += ["", "## Failed cells", "", *[f"- {markdown_cell(line)}" for line in failures]]
    lines += sections_markdown(sections)
    return "\n".join(lines) + "\n"


def failed_cells(table: pd.DataFrame) -> list[str]:
    """One line per task x neuron with failed cells: which seeds, and why."""
    return [f"{r.task} / {r.neuron}: {r.failures}" for r in table[table.n_failed.fillna(0) > 0].itertuples()]


def answer_table(contrasts: pd.DataFrame | None) -> pd.DataFrame:
    """The questions' contrasts as the strings the LaTeX shows (the Markdown's Answers, one row each)."""
    asked = contrasts[contrasts.family != EXPLORATORY] if contrasts is not None and len(contrasts) else pd.DataFrame()
    rows = []
    for c in asked.itertuples():
        estimate = "no data" if pd.isna(c.delta) else f"{_pp(c.delta)} [{_pp(c.ci_low)}, {_pp(c.ci_high)}]"
        tested = "" if c.verdict == NOT_TESTED or pd.isna(c.delta) else (
            f"{_level(c.alpha_tested)}: [{_pp(c.ci_tested_low)}, {_pp(c.ci_tested_high)}]")
        adjusted = "" if c.verdict == NOT_TESTED else f"{c.p_adjusted:.2g}"
        rows.append([c.task, c.family, c.contrast, estimate, tested, adjusted, c.verdict])
    return pd.DataFrame(rows, columns=["task", "family", "contrast", "Δ top-1 [95% CI]", "tested at α: its interval",
                                       "adjusted p", "verdict"])


def to_csv(table: pd.DataFrame, meta: dict) -> str:
    """Tidy: one row per task x neuron (measured or reported), full precision, identity columns."""
    ident = {"table_version": f"{meta['profile']}-v{meta['version']}", "content_sha256": meta["content_hash"]}
    return table.assign(**ident).to_csv(index=False, lineterminator="\n")


def _latex_escape(text: str) -> str:
    for a, b in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")]:
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("≥", r"$\geq$").replace("—", "--")


def _latex_float(shown: pd.DataFrame, caption: str, label: str, columns: str | None = None) -> list[str]:
    header = " & ".join(_latex_escape(c) for c in shown.columns) + r" \\"
    body = [" & ".join(_latex_escape(str(v)) for v in row) + r" \\" for row in shown.itertuples(index=False)]
    return [
        "", r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{_latex_escape(caption)}}}", rf"\label{{{label}}}",
        r"\begin{tabular}{" + (columns or "l" + "r" * (len(shown.columns) - 1)) + "}",
        r"\toprule", header, r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}",
    ]


def to_latex(table: pd.DataFrame, meta: dict, contrasts: pd.DataFrame | None = None,
             swept: pd.DataFrame | None = None, sections: list[dict] = ()) -> str:
    """Booktabs table floats, ready to \\input (needs \\usepackage{booktabs}): the answers to the
    profile's questions, one table per task, the failed cells and the sensitivity tables: every
    section of the Markdown."""
    out = [f"% {line}" for line in ["Generated by `dvc repro` (stage leaderboard); do not edit.", *identity_lines(meta)]]
    version = f"profile {meta['profile']}, table version {meta['profile']}-v{meta['version']}, sha256 {meta['content_hash'][:12]}"
    answered = answer_table(contrasts)
    if len(answered):
        out += _latex_float(answered, f"Answers to the profile's questions ({version}; docs/statistics.md)", "tab:bench-answers",
                            "lllllrl")
    for task, rows in tasks(table):
        tuned = ", each neuron at its tuned settings" if task in meta.get("tuned", ()) else ""
        out += _latex_float(display(rows).drop(columns="notes"), f"{task}{tuned} ({version})", f"tab:bench-{task}")
    failures = failed_cells(table)
    if failures:
        shown = pd.DataFrame([line.split(": ", 1) for line in failures], columns=["cells", "failures"])
        out += _latex_float(shown, f"Failed cells ({version})", "tab:bench-failed", r"lp{0.7\linewidth}")
    for section in sections or []:
        for title, shown in section["tables"]:
            out += _latex_float(shown.drop(columns="notes", errors="ignore"), f"{section['title']}: {title} ({version})",
                                "tab:bench-" + "-".join(title.split()))
    for title, shown in sensitivity_tables(swept):
        label = "tab:bench-sensitivity-" + "-".join(title.replace(".", "-").split(" on "))
        out += _latex_float(shown, f"Sensitivity: {title} ({version})", label)
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
{% if answers %}<h2 id="answers">Answers</h2>
<p>{{ answers_intro }}</p>
{% for section in answers %}<p><strong>{{ section.title }}</strong>: {{ section.intro }}</p>
{% if section["items"] %}<ul>{% for line, subs in section["items"] %}<li>{{ line }}
{%- if subs %}<ul>{% for sub in subs %}<li>{{ sub }}</li>{% endfor %}</ul>{% endif %}</li>{% endfor %}</ul>{% endif %}
{% endfor %}<img src="plots/forest.png" alt="the questions' contrasts and the exploratory ones with their CIs"
 style="max-width: 100%">{% endif %}
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
{% if failures %}<h2 id="failed">Failed cells</h2>
<ul>{% for line in failures %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{% for section in sections %}<h2 id="{{ section.id }}">{{ section.title }}</h2>
<p>{{ section.intro }}</p>
{% for title, shown in section.tables %}<h3>{{ title }}</h3>
<table><thead><tr>{% for c in shown.columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in shown.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table>
{% endfor %}{% endfor %}
{% if sensitivity %}<h2 id="sensitivity">Sensitivity</h2>
<p>{{ sensitivity_intro }}</p>
{% for title, shown in sensitivity %}<h3>{{ title }}</h3>
<table><thead><tr>{% for c in shown.columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in shown.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table>
{% endfor %}{% endif %}
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
    "forest.png": "per task, the profile's questions and the exploratory comparisons: each paired difference with its 95% "
                  "CI and, for a question, the interval at the level its verdict was tested at",
    "accuracy-energy.png": "top-1 against energy per sample, with the Pareto front",
    "firing-rates.png": "firing rate per spiking layer",
    "training-curves.png": "validation top-1 per epoch, mean over seeds",
    "sensitivity.png": "top-1 per value of each swept setting",
    "tuning-evp.png": "per task, each neuron's expected best validation top-1 against the number of tuning trials "
                      "(Dodge et al. 2019)",
}


def _inline_html(text: str) -> Markup:
    """Markdown's **bold** and `code` of one line as HTML, everything else escaped."""
    html = str(escape(text))
    html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
    return Markup(re.sub(r"`(.+?)`", r"<code>\1</code>", html))


def to_html(table: pd.DataFrame, meta: dict, figures: list[str] = (), contrasts: pd.DataFrame | None = None,
            swept: pd.DataFrame | None = None, sections: list[dict] = ()) -> str:
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
        meta=meta, description=(tuned_lead(meta) + DESCRIPTION).replace("`", ""),
        identity=[line.replace("`", "") for line in identity_lines(meta)],
        columns=COLUMNS, tasks=pages, answers_intro=_inline_html(answers_markdown(contrasts)[3]) if answers(contrasts) else "",
        answers=[{"title": a["title"], "intro": _inline_html(a["intro"]),
                  "items": [(_inline_html(line), [_inline_html(sub) for sub in subs]) for line, subs in a["items"]]}
                 for a in answers(contrasts)],
        figures=[(name, what) for name, what in FIGURES.items() if name in figures],
        failures=failed_cells(table), sensitivity=sensitivity_tables(swept), sensitivity_intro=_inline_html(SENSITIVITY_INTRO),
        sections=[{"id": "-".join(s["title"].lower().split()), "title": s["title"], "intro": _inline_html(s["intro"]),
                   "tables": s["tables"]} for s in sections or []],
    )
