"""Write an evaluation report (the dict from model/evaluate.py) as report.json, report.md and chart.png.

The Markdown report has one column per variant. The chart is drawn with matplotlib's Agg backend, imported
inside ``chart`` so that nothing graphical loads unless a chart is drawn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from model import metrics

FIELDS = ("description", "short_description", "seo_title", "seo_description")

ROWS: list[tuple[str, Callable[[dict], object], str]] = [
    ("Validation loss (↓)", lambda m: m.get("validation_loss"), "{:.3f}"),
    ("Perplexity (↓)", lambda m: m.get("perplexity"), "{:.2f}"),
    ("Attribute coverage, all fields (↑)", lambda m: m.get("attribute_coverage"), "{:.1%}"),
    ("Attribute coverage, description (↑)", lambda m: m.get("attribute_coverage_description"), "{:.1%}"),
    ("Attribute coverage, model-written fields only (↑)", lambda m: m.get("attribute_coverage_model_written"),
     "{:.1%}"),
    ("Unsupported claims per draft (↓)", lambda m: m.get("unsupported_claims_per_draft"), "{:.2f}"),
    ("Drafts with an unsupported claim (↓)", lambda m: m.get("drafts_with_unsupported_claim"), "{:.1%}"),
    ("ROUGE-L F1 vs human description (↑)", lambda m: m.get("rouge_l"), "{:.3f}"),
    ("Distinct-2, descriptions (↑)", lambda m: m.get("distinct_2"), "{:.3f}"),
    ("Near-duplicate descriptions (↓)", lambda m: m.get("near_duplicate_rate"), "{:.1%}"),
    *[(f"Length compliant: {f} (↑)", (lambda m, f=f: m.get("length_compliance", {}).get(f)), "{:.1%}")
      for f in FIELDS],
    ("Fields replaced by the fact fallback (↓)", lambda m: m.get("fallback_fields"), "{:.1%}"),
]
"""Metric table rows: label (arrow: which way is better), getter on a variant's metrics, number format."""
TIMING_ROWS = [("Products / min", "products_per_min", "{:.1f}"), ("Generated tokens / s", "tokens_per_s", "{:.1f}"),
               ("Generation wall seconds", "generate_seconds", "{:.1f}"), ("Load seconds", "load_seconds", "{:.1f}"),
               ("Loss seconds", "loss_seconds", "{:.1f}"), ("Device", "device", "{}")]
CHART = [("coverage", "attribute_coverage"), ("coverage\n(descr.)", "attribute_coverage_description"),
         ("drafts w/ unsup-\nported claim (↓)", "drafts_with_unsupported_claim"), ("ROUGE-L", "rouge_l"),
         ("distinct-2", "distinct_2"), ("near-dup (↓)", "near_duplicate_rate")]
"""Share-like metrics (0–1) drawn as grouped bars; mean length compliance is added as a last group."""


def _cell(value: object, fmt: str) -> str:
    if value is None:
        return "–"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def metric_table(report: dict) -> str:
    """Markdown table of every metric, one column per variant."""
    names = list(report["variants"])
    rows = [[label, *(_cell(get(report["variants"][n]["metrics"]), fmt) for n in names)]
            for label, get, fmt in ROWS]
    kinds = sorted({k for n in names for k in report["variants"][n]["metrics"]["unsupported_claims_by_kind"]})
    rows += [[f"Unsupported claims of kind '{k}' (total)",
              *(str(report["variants"][n]["metrics"]["unsupported_claims_by_kind"].get(k, 0)) for n in names)]
             for k in kinds]
    return _table(["Metric", *names], rows)


def timing_table(report: dict) -> str:
    """Markdown table of the timing section, one column per variant."""
    names = list(report["variants"])
    return _table(["Timing", *names], [[label, *(_cell(report["variants"][n]["timing"].get(key), fmt)
                                                 for n in names)] for label, key, fmt in TIMING_ROWS])


def markdown(report: dict) -> str:
    """The whole report.md: data and command, metric and timing tables, definitions, samples, chart."""
    data, style = report["data"], report.get("style", {})
    rouge_note = ("the model was shown the human description (`--with-description`), so ROUGE-L and the "
                  "validation loss are measured against text it saw" if data.get("with_description") else
                  "the model was not shown the human description; it is the reference for ROUGE-L and the loss")
    lines = [
        "# Copydesk evaluation", "",
        f"- Data: `{data['path']}`: {data['n']} products, sha256 `{data['sha256']}` of the lines used",
        f"- Prompt input: {rouge_note}",
        f"- Seed {report['seed']}; style {json.dumps(style, ensure_ascii=False)}",
        *([f"- Command: `{report['command']}`"] if report.get("command") else []),
        *([f"- Created: {report['created']}"] if report.get("created") else []),
        "", "## Variants", "",
        *(f"- **{n}**: model `{v['model']}` (weights {v.get('revision', '?')}), "
          f"adapter {('`' + v['adapter'] + '`') if v.get('adapter') else 'none'}"
          for n, v in report["variants"].items()),
        "", "## Metrics", "", metric_table(report), "", "![metrics](chart.png)", "",
        "## Timing", "", timing_table(report), "",
        "## Definitions", "",
        "- Validation loss: mean cross-entropy per token of the human description, cleaned into the answer format "
        "the model is trained to write (paragraphs and `-` bullets, which the worker turns into our HTML), as the "
        "assistant reply to the description prompt used for generation; loss on the reply tokens only, as "
        "`copydesk train` measures it; perplexity = exp(loss).",
        "- Copy is written as the worker writes it: a field whose model output is unusable is replaced by a minimal "
        "text built from the product facts (the fallback row); a high fallback share flatters coverage and "
        "grounding.",
        "- Attribute coverage: share of a product's attribute values (keys like price/SKU/id and yes/no values "
        "left out) whose significant words all appear in the copy (case and plural insensitive); mean over "
        "products that have such attributes.",
        "- Unsupported claims: claims in all four fields that the grounding check finds no support for in the "
        "product data the model was shown.",
        "- ROUGE-L: F1 of the longest common subsequence of lowercased words, generated vs human description.",
        f"- Near-duplicate: a description whose word-{metrics.SHINGLE_SIZE}-shingle Jaccard similarity with "
        f"another generated description is ≥ {metrics.NEAR_DUPLICATE_THRESHOLD}.",
        "- Length rules: " + "; ".join(f"{k} {v}" for k, v in metrics.LENGTH_RULES.items())
        + f" (target {style.get('target_words', '?')} words).",
        "", "## Samples", "",
    ]
    for sample in report.get("samples", []):
        lines += [f"### {sample['title']} (`{sample['id']}`)", "", f"Human description: {sample['reference'] or '–'}",
                  ""]
        for name, fields in sample["variants"].items():
            lines += [f"**{name}**", "", *(f"- {f}: {' '.join(fields.get(f, '').split())}" for f in FIELDS), ""]
    return "\n".join(lines).rstrip() + "\n"


def chart(report: dict, path: Path) -> None:
    """Grouped bars of the share-like metrics per variant, and the validation loss beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["variants"])
    labels = [label for label, _ in CHART] + ["length\ncompliance"]
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [4, 1]})
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        m = report["variants"][name]["metrics"]
        values = [m.get(key) or 0.0 for _, key in CHART]
        values.append(metrics.mean(m.get("length_compliance", {}).values()) or 0.0)
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
        ax_loss.bar(i, m.get("validation_loss") or 0.0, 0.6, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(labels))], labels, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("Copy metrics (share, 0–1; higher is better unless ↓)")
    ax.legend(fontsize=8)
    ax_loss.set_xticks(range(len(names)), names, fontsize=8)
    ax_loss.set_title("Validation loss (↓)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(report: dict, out: Path) -> dict[str, Path]:
    """Write report.json, report.md and chart.png into ``out`` (created if needed); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "chart": out / "chart.png"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    chart(report, paths["chart"])
    return paths
