"""HTML pages of explanations: one per example (the text as a heat map per method, side by
side) and an index with the faithfulness summary. Plain HTML and inline CSS, no scripts,
so the pages open from disk in any browser.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

from common.records import atomic_write_text
from phase4_medical_text_xai.faithfulness import HIGHER_IS_BETTER, METRICS

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
        notes.append(f"IG: sum {checks['ig']['attribution_sum']:.4f} vs f(x) - f(baseline) "
                     f"{checks['ig']['logit'] - checks['ig']['baseline_logit']:.4f} (delta {checks['ig']['delta']:.2e})")
    if "lrp" in checks:
        notes.append(f"LRP: tokens {checks['lrp']['token_relevance']:.4f} + biases {checks['lrp']['bias_relevance']:.4f}"
                     f" = logit {checks['lrp']['logit']:.4f} (relative error {checks['lrp']['conservation_error']:.1e})")
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


def write_index(records: Sequence[dict], result: dict, out_dir: Path) -> Path:
    rows = "".join(
        f'<tr><td><a href="{example_name(r["index"])}.html">{r["index"]}</a></td><td>{html.escape(r["label"])}</td>'
        f'<td class="{"right" if r["label"] == r["prediction"] else "wrong"}">{html.escape(r["prediction"])}</td>'
        f'<td>{max(r["probs"].values()):.3f}</td><td>{html.escape(r["text"][:110])}&hellip;</td></tr>'
        for r in records)
    body = (f"<h1>Explanations: {html.escape(result['run'])}</h1>"
            f"<p>Model {html.escape(result['model'])}; {result['n']} test examples; device {html.escape(result['device'])}."
            f" Faithfulness (mean &plusmn; std over examples; masking with {html.escape(result['replacement'])}):</p>"
            f"{summary_table(result['summary'], result['seconds_per_example'])}"
            '<img src="faithfulness.png" alt="deletion and insertion curves">'
            "<h2>Examples</h2><table><tr><th>#</th><th>true</th><th>predicted</th><th>confidence</th><th>text</th></tr>"
            f"{rows}</table>")
    path = out_dir / "index.html"
    atomic_write_text(path, page(f"Explanations: {result['run']}", body))
    return path
