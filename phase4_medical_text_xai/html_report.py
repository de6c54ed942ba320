"""HTML pages of explanations: one per example (the text as a heat map per method, side by
side) and an index that says first how good the explained model is (its test scores, its
warnings, and a plain line when its predictions are near chance: explanations of a model
that has learned little explain little), then the faithfulness of each method against the
random ranking, each measure defined on the page. Plain HTML and inline CSS, no scripts,
so the pages open from disk in any browser.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from common.records import atomic_write_text, read_json
from phase4_medical_text_xai.faithfulness import HIGHER_IS_BETTER, METRICS

# Each measure in words, on the index page (faithfulness.py computes them).
DEFINITIONS = {
    "comprehensiveness": "how much the explained class's probability falls when the tokens the method ranks highest "
                         "are masked (the mean over growing fractions of the tokens); higher: the ranked tokens "
                         "mattered",
    "sufficiency": "how much the probability falls when only the top-ranked tokens are left and every other is "
                   "masked; lower: the ranked tokens alone carry the prediction",
    "deletion_auc": "area under the probability as ever more top-ranked tokens are masked; lower: it falls fast",
    "insertion_auc": "area under the probability as ever more top-ranked tokens are revealed in a fully masked "
                     "text; higher: it rises fast",
}
NEAR_CHANCE = 1.5  # a macro-F1 or a mean confidence under 1.5 / classes counts as near chance
MIN_EFFECT = 0.005  # a difference of probability smaller than this is no difference, however tight its spread

METHOD_TITLES = {"attention": "Attention rollout", "ig": "Integrated Gradients", "lrp": "LRP (conservative)",
                 "random": "Random"}
STYLE = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; margin: 1.5em; color: #222; }
.methods { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1em; }
.method { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em 0.9em; }
.method h3 { margin: 0.2em 0 0.5em; font-size: 1em; }
.text { line-height: 1.9; font-size: 0.92em; }
.text span { border-radius: 3px; padding: 1px 0; }
table { border-collapse: collapse; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 0.9em; }
.wrong { color: #b00020; font-weight: bold; } .right { color: #0a7d2c; font-weight: bold; }
.legend span { padding: 2px 8px; margin-right: 6px; border-radius: 3px; }
.warn { background: #fff4e5; border-left: 4px solid #e67e00; padding: 0.4em 0.8em; }
dd { margin: 0 0 0.5em 1.2em; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def cell_color(score: float, scale: float) -> str:
    """Red for evidence for the explained class, blue against; opacity by |score| / scale."""
    alpha = min(1.0, abs(score) / scale) if scale > 0 else 0.0
    rgb = "220,38,38" if score >= 0 else "37,99,235"
    return f"rgba({rgb},{alpha * 0.85:.3f})"


def highlight(text: str, offsets: Sequence[Sequence[int]], scores: Sequence[float],
              unread: Sequence[bool]) -> str:
    """The text with each token's characters shaded by its score (tokens the model did not
    read, such as the middle that head_tail cuts, stay unshaded)."""
    content = [abs(s) for s, skipped in zip(scores, unread) if not skipped]
    scale = max(content) if content else 0.0
    parts, cursor = [], 0
    for (start, end), score, skipped in zip(offsets, scores, unread):
        if skipped or end <= start or start < cursor:
            continue
        parts.append(html.escape(text[cursor:start]))
        parts.append(f'<span style="background:{cell_color(score, scale)}" title="{score:.4g}">'
                     f"{html.escape(text[start:end])}</span>")
        cursor = end
    return "".join(parts)


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def example_name(index: int) -> str:
    return f"example_{index:04d}"


def write_example_page(record: dict, methods: Sequence[str], out_dir: Path) -> Path:
    verdict = "right" if record["label"] == record["prediction"] else "wrong"
    probs = "".join(f"<tr><td>{html.escape(name)}</td><td>{p:.3f}</td></tr>" for name, p in record["probs"].items())
    columns = []
    for method in methods:
        scores = record["attributions"][method]
        faith = record["faithfulness"][method]
        columns.append(
            f'<div class="method"><h3>{METHOD_TITLES.get(method, method)}</h3>'
            f'<div class="text">{highlight(record["text"], record["offsets"], scores, record["unread"])}</div>'
            f'<p><small>comprehensiveness {faith["comprehensiveness"]:.3f}, sufficiency {faith["sufficiency"]:.3f}; '
            f'{record["seconds"][method]:.2f} s</small></p></div>')
    checks = record.get("checks", {})
    notes = []
    if "ig" in checks:
        ig = checks["ig"]
        notes.append(f"IG: sum {ig['attribution_sum']:.4f} vs f(x) - f(baseline) "
                     f"{ig['logit'] - ig['baseline_logit']:.4f} (delta {ig['delta']:.2e})")
    if "lrp" in checks:
        lrp = checks["lrp"]
        notes.append(f"LRP: tokens {lrp['token_relevance']:.4f} + biases {lrp['bias_relevance']:.4f}"
                     f" = logit {lrp['logit']:.4f} (relative error {lrp['conservation_error']:.1e})")
    windows = record.get("windows", 1)
    read = f"read as {windows} overlapping windows whose logits were pooled; " if windows > 1 else ""
    truncated = (f"<p><em>The abstract is longer than the model read: {read}{record.get('tokens_cut', 0)} of its "
                 "tokens were cut (left unshaded, or beyond the part shown).</em></p>" if record["truncated"] else
                 f"<p><em>The abstract was {read.rstrip('; ')}.</em></p>" if windows > 1 else "")
    figure = f'<h2>Attention of the first token</h2><img src="attention/{example_name(record["index"])}.png" ' \
             'alt="attention maps">' if "attention" in methods else ""
    body = (f'<p><a href="index.html">&larr; all examples</a></p><h1>Example {record["index"]}</h1>'
            f'<p>True: <b>{html.escape(record["label"])}</b> &middot; predicted: '
            f'<span class="{verdict}">{html.escape(record["prediction"])}</span> &middot; explained: the '
            f'predicted class\'s logit</p><table><tr><th>class</th><th>probability</th></tr>{probs}</table>'
            '<p class="legend"><span style="background:rgba(220,38,38,0.7)">for the predicted class</span>'
            '<span style="background:rgba(37,99,235,0.7)">against</span> (shade: |score| / the largest in that '
            'column)</p>'
            f'{truncated}<div class="methods">{"".join(columns)}</div>'
            f'<p><small>{"<br>".join(notes)}</small></p>{figure}')
    path = out_dir / f"{example_name(record['index'])}.html"
    atomic_write_text(path, page(f"Example {record['index']}", body))
    return path


def summary_table(summary: dict, seconds: dict) -> str:
    arrows = {m: "&uarr;" if HIGHER_IS_BETTER[m] else "&darr;" for m in METRICS}
    head = "".join(f"<th>{m.replace('_', ' ')} {arrows[m]}</th>" for m in METRICS)
    rows = []
    for method, entry in summary.items():
        cells = "".join(f"<td>{entry[m]['mean']:.3f} &plusmn; {entry[m]['std']:.3f}</td>" for m in METRICS)
        rows.append(f"<tr><td>{METHOD_TITLES.get(method, method)}</td>{cells}"
                    f"<td>{seconds.get(method, 0):.2f}</td></tr>")
    return f"<table><tr><th>method</th>{head}<th>s / example</th></tr>{''.join(rows)}</table>"


def model_quality(run_dir: Path, records: Sequence[dict]) -> str:
    """The explained model's test scores and warnings (its metrics.json), and a line when it
    or the explained predictions are near chance."""
    metrics_path = Path(run_dir) / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    classes = len(metrics.get("labels") or (records[0]["probs"] if records else {})) or 1
    parts = ["<h2>How good the explained model is</h2>"]
    f1, ci = metrics.get("test_f1_macro"), metrics.get("test_f1_macro_ci")
    if f1 is not None:
        interval = f" (95% interval {ci[0]:.3f} to {ci[1]:.3f})" if ci else ""
        accuracy = metrics.get("test_accuracy", math.nan)
        parts.append(f"<p>Test macro-F1 <b>{f1:.3f}</b>{interval}, accuracy {accuracy:.3f}, over {classes} "
                     "classes: a model guessing uniformly at random scores about "
                     f"{1 / classes:.2f}.</p>")
    else:
        parts.append(f"<p>No test scores found in {html.escape(str(metrics_path))}.</p>")
    confidence = float(np.mean([max(r["probs"].values()) for r in records])) if records else math.nan
    near = [f"its test macro-F1 is under {NEAR_CHANCE:g} times chance" if f1 is not None and
            f1 < NEAR_CHANCE / classes else "",
            f"its mean probability for the class it predicts is {confidence:.2f}, close to the uniform "
            f"{1 / classes:.2f}" if confidence < NEAR_CHANCE / classes else ""]
    near = [reason for reason in near if reason]
    if near:
        parts.append(f'<p class="warn">Near chance: {"; ".join(near)}. Its explanations show what a model that has '
                     "learned little attends to, not evidence for the classes.</p>")
    if metrics.get("warnings"):
        parts.append("<p>Warnings of the run:</p><ul>" + "".join(f"<li>{html.escape(w)}</li>"
                                                                 for w in metrics["warnings"]) + "</ul>")
    return "".join(parts)


def against_random(records: Sequence[dict], methods: Sequence[str]) -> str:
    """Each method's faithfulness minus the random ranking's on the same examples (paired), with
    two standard errors, and a sentence per method: better (or worse) than random where the
    difference exceeds both two standard errors and MIN_EFFECT, else not distinguishable."""
    head = "".join(f"<th>{m.replace('_', ' ')}</th>" for m in METRICS)
    rows, sentences = [], []
    for method in (m for m in methods if m != "random"):
        cells, better, worse = [], [], []
        for metric in METRICS:
            diffs = np.array([r["faithfulness"][method][metric] - r["faithfulness"]["random"][metric] for r in records])
            mean = float(diffs.mean()) if len(diffs) else math.nan
            margin = 2 * float(diffs.std(ddof=1)) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
            cells.append(f"<td>{mean:+.3f} &plusmn; {margin:.3f}</td>")
            gain, threshold = (mean if HIGHER_IS_BETTER[metric] else -mean), max(margin, MIN_EFFECT)
            if gain > threshold:
                better.append(metric.replace("_", " "))
            elif gain < -threshold:
                worse.append(metric.replace("_", " "))
        rows.append(f"<tr><td>{METHOD_TITLES.get(method, method)}</td>{''.join(cells)}</tr>")
        title = METHOD_TITLES.get(method, method)
        if better and not worse:
            sentences.append(f"{title} ranks tokens better than chance on {', '.join(better)}.")
        elif worse:
            sentences.append(f"{title} ranks tokens worse than random on {', '.join(worse)}"
                             + (f" and better on {', '.join(better)}." if better else "."))
        else:
            sentences.append(f"{title} cannot be told apart from a random ranking on these {len(records)} examples: "
                             "its highlights are no evidence of what the model used.")
    return (f"<p>Each method minus the random ranking on the same examples (mean &plusmn; two standard errors of "
            f"the paired difference):</p><table><tr><th>method</th>{head}</tr>{''.join(rows)}</table>"
            f"<p>{' '.join(sentences)}</p>")


def definitions() -> str:
    return ("<h2>What the measures mean</h2><dl>" + "".join(
        f"<dt><b>{m.replace('_', ' ')}</b> ({'higher' if HIGHER_IS_BETTER[m] else 'lower'} is better)</dt>"
        f"<dd>{html.escape(text)}.</dd>" for m, text in DEFINITIONS.items())
        + "<dt><b>random</b></dt><dd>the same measures for a random order of the tokens: what any method must "
          "beat.</dd></dl>")


def write_index(records: Sequence[dict], result: dict, out_dir: Path) -> Path:
    rows = "".join(
        f'<tr><td><a href="{example_name(r["index"])}.html">{r["index"]}</a></td><td>{html.escape(r["label"])}</td>'
        f'<td class="{"right" if r["label"] == r["prediction"] else "wrong"}">{html.escape(r["prediction"])}</td>'
        f'<td>{max(r["probs"].values()):.3f}</td><td>{html.escape(r["text"][:110])}&hellip;</td></tr>'
        for r in records)
    device = html.escape(result["device"])
    body = (f"<h1>Explanations: {html.escape(result['run'])}</h1>"
            f"<p>Model {html.escape(result['model'])}; {result['n']} test examples explained; device {device}.</p>"
            f"{model_quality(Path(result.get('run_dir', '')), records)}"
            f"<h2>Faithfulness</h2><p>Mean &plusmn; std over the explained examples; tokens masked with "
            f"{html.escape(str(result['replacement']))}:</p>"
            f"{summary_table(result['summary'], result['seconds_per_example'])}"
            f"{against_random(records, result['methods']) if 'random' in result['methods'] else ''}"
            '<img src="faithfulness.png" alt="deletion and insertion curves">'
            f"{definitions()}"
            "<h2>Examples</h2><table><tr><th>#</th><th>true</th><th>predicted</th><th>confidence</th><th>text</th></tr>"
            f"{rows}</table>")
    path = out_dir / "index.html"
    atomic_write_text(path, page(f"Explanations: {result['run']}", body))
    return path
