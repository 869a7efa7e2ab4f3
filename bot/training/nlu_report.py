"""The trainers' NLU report (`make nlu-report`): what the model gets wrong, as a page.

`rasa test nlu` (held-out set or cross-validation, run by scripts/nlu_report.sh with `--successes`)
leaves JSON files in a folder: `intent_report.json` (per intent precision, recall, F1, support; the
FAQ questions as one intent `faq`), `response_selection_report.json` (the FAQ sub-intents
`faq/<topic>`), and every prediction, right or wrong, in `intent_successes.json` /
`intent_errors.json` (and `response_selection_*` for the FAQ sub-intents). Rasa writes a file only
when it has something to put in it: no `intent_errors.json` when nothing was misread.

`render(folder, ...)` reads them and writes beside them:

- `index.html` (Chinese, for trainers), linking `report.css`: no inline style or script, since the
  agent console serves the page under `style-src 'self'; script-src 'self'`;
- `confusion.png`: the intent confusion matrix (Rasa draws one only when plotting, so it is counted
  here from the predictions), the same matrix as an HTML table on the page;
- `summary.json`: the figures in machine-readable form; the previous run's is moved to
  `previous_summary.json` first, and the page says which intents got better or worse since.

The example sentences quoted come from the test data: they go through `bot.masking.redact`, card,
ID and phone numbers included (scripts/nlu_report.sh masks Rasa's JSON files too).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from jinja2 import Environment

from bot.masking import redact

# An F1 that moved less than this is "unchanged": one example of 10 moves an intent's F1 by about
# 0.05, so 0.02 is below any real change and above rounding and float noise.
TOLERANCE = 0.02
# Below this F1 a label is highlighted (scripts/check_nlu_report.py fails `make test` there).
WEAK_F1 = 0.8
MOST_CONFUSED_PAIRS = 10
EXAMPLES_PER_PAIR = 5

SUMMARY = "summary.json"
PREVIOUS_SUMMARY = "previous_summary.json"
_AVERAGES = ("accuracy", "micro avg", "macro avg", "weighted avg")


@dataclass(frozen=True)
class LabelScores:
    label: str
    kind: str  # "intent" or "faq" (a FAQ sub-intent, scored by the response selector)
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Prediction:
    text: str
    expected: str
    predicted: str


@dataclass(frozen=True)
class ConfusedPair:
    expected: str
    predicted: str
    count: int
    examples: List[str]  # masked


@dataclass(frozen=True)
class Change:
    label: str
    previous_f1: Optional[float]  # None: the label is new
    f1: float

    @property
    def delta(self) -> Optional[float]:
        return None if self.previous_f1 is None else self.f1 - self.previous_f1


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def label_scores(report: Dict[str, Any], kind: str) -> List[LabelScores]:
    """The per-label rows of a Rasa (sklearn) classification report, averages left out."""
    return [
        LabelScores(label, kind, scores["precision"], scores["recall"], scores["f1-score"], int(scores["support"]))
        for label, scores in report.items()
        if label not in _AVERAGES and isinstance(scores, dict) and "f1-score" in scores
    ]


def _predictions(folder: Path, prefix: str, expected_key: str, predicted_key: str) -> List[Prediction]:
    rows = _read_json(folder / f"{prefix}_successes.json", []) + _read_json(folder / f"{prefix}_errors.json", [])
    return [Prediction(row["text"], row[expected_key], row[predicted_key]["name"]) for row in rows]


def intent_predictions(folder: Path) -> List[Prediction]:
    """Every held-out (or test-fold) example with its intent and the predicted one."""
    return _predictions(folder, "intent", "intent", "intent_prediction")


def faq_predictions(folder: Path) -> List[Prediction]:
    """Every FAQ example with its sub-intent (`faq/<topic>`) and the response selector's choice."""
    return _predictions(folder, "response_selection", "intent_response_key_target", "intent_response_key_prediction")


def confusion_matrix(predictions: Sequence[Prediction]) -> tuple[List[str], List[List[int]]]:
    """(labels, matrix): matrix[i][j] counts the examples of labels[i] predicted as labels[j].
    Labels sorted, as Rasa (sklearn) sorts them; every expected and predicted label is one."""
    labels = sorted({p.expected for p in predictions} | {p.predicted for p in predictions})
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for prediction in predictions:
        matrix[index[prediction.expected]][index[prediction.predicted]] += 1
    return labels, matrix


def confused_pairs(predictions: Iterable[Prediction], limit: int = MOST_CONFUSED_PAIRS) -> List[ConfusedPair]:
    """The (expected, predicted) pairs most often wrong, most first, with masked example sentences."""
    examples: Dict[tuple[str, str], List[str]] = defaultdict(list)
    for prediction in predictions:
        if prediction.expected != prediction.predicted:
            examples[(prediction.expected, prediction.predicted)].append(redact(prediction.text))
    ranked = sorted(examples.items(), key=lambda item: (-len(item[1]), item[0]))
    return [ConfusedPair(expected, predicted, len(texts), texts[:EXAMPLES_PER_PAIR])
            for (expected, predicted), texts in ranked[:limit]]


def summarize(folder: Path, fingerprint: str, source: str, generated_at: str) -> Dict[str, Any]:
    """The figures of one run, as summary.json keeps them."""
    intent_report = _read_json(folder / "intent_report.json", None)
    if intent_report is None:
        raise FileNotFoundError(f"{folder / 'intent_report.json'}: run `rasa test nlu --out {folder}` first")
    faq_report = _read_json(folder / "response_selection_report.json", {})
    scores = label_scores(intent_report, "intent") + label_scores(faq_report, "faq")
    labels, matrix = confusion_matrix(intent_predictions(folder))
    return {
        "generated_at": generated_at,
        "model_fingerprint": fingerprint,
        "source": source,
        "accuracy": intent_report["accuracy"],
        "macro_f1": intent_report["macro avg"]["f1-score"],
        "weighted_f1": intent_report["weighted avg"]["f1-score"],
        "faq_accuracy": faq_report.get("accuracy"),
        "labels": {
            score.label: {"kind": score.kind, "precision": score.precision, "recall": score.recall,
                          "f1": score.f1, "support": score.support}
            for score in scores
        },
        "confusion": {"labels": labels, "matrix": matrix},
    }


def changes(current: Dict[str, Any], previous: Optional[Dict[str, Any]]) -> Dict[str, Change]:
    """Per label of the current run, its F1 now and in the previous run (None where it is new)."""
    before = (previous or {}).get("labels", {})
    return {label: Change(label, before[label]["f1"] if label in before else None, scores["f1"])
            for label, scores in current["labels"].items()}


def better_and_worse(label_changes: Dict[str, Change], tolerance: float = TOLERANCE) -> tuple[List[Change], List[Change]]:
    """Labels whose F1 rose / fell by more than `tolerance`, the largest change first."""
    moved = [change for change in label_changes.values() if change.delta is not None and abs(change.delta) > tolerance]
    better = sorted((c for c in moved if c.delta > 0), key=lambda c: (-c.delta, c.label))
    worse = sorted((c for c in moved if c.delta < 0), key=lambda c: (c.delta, c.label))
    return better, worse


# --- the picture -------------------------------------------------------------------------------

def cjk_font_file() -> Optional[str]:
    """A font file that has Chinese glyphs (`fc-list :lang=zh`), or None: matplotlib's own fonts
    have none, and Chinese text drawn without one comes out as empty boxes."""
    if not shutil.which("fc-list"):
        return None
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip())
    return files[0] if files else None


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path) -> None:
    """Draw the matrix (rows expected, columns predicted) with its non-zero counts into a PNG.

    Cells are shaded by the share of their row (the `faq` row holds ten times the examples of any
    other intent, and by counts alone every other cell would look empty); misread counts are red.
    The axes carry the intent names (ASCII); the title is Chinese only when a CJK font exists."""
    import matplotlib

    matplotlib.use("Agg")  # no display: draw to files only
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    font_file = cjk_font_file()
    font = (lambda size: FontProperties(fname=font_file, size=size)) if font_file else (lambda size: FontProperties(size=size))
    title, predicted, expected = (("意图混淆矩阵", "预测为", "应为") if font_file
                                  else ("Intent confusion matrix", "predicted", "expected"))
    side = max(6.0, 0.32 * len(labels) + 3.0)
    figure, axes = plt.subplots(figsize=(side, side))
    try:
        shares = [[count / (sum(row) or 1) for count in row] for row in matrix]
        axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
        axes.set_xticks(range(len(labels)))
        axes.set_yticks(range(len(labels)))
        axes.set_xticklabels(labels, rotation=90, fontsize=8)
        axes.set_yticklabels(labels, fontsize=8)
        axes.set_xlabel(predicted, fontproperties=font(11))
        axes.set_ylabel(expected, fontproperties=font(11))
        axes.set_title(title, fontproperties=font(14))
        for row, counts in enumerate(matrix):
            for column, count in enumerate(counts):
                if count and row == column:
                    axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                              color="white" if shares[row][column] > 0.5 else "black")
                elif count:
                    axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                              color="#b91c1c", fontweight="bold")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)


# --- the page ----------------------------------------------------------------------------------

CSS = """\
body { margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem; color: #1f2328;
       font: 15px/1.5 -apple-system, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
h1 { font-size: 1.5rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #6b7280; }
.weak td { background: #fee2e2; }
.better { color: #15803d; }
.worse { color: #b91c1c; }
.scroll { overflow-x: auto; }
table.confusion th, table.confusion td { padding: .15rem .3rem; font-size: 12px; border: 1px solid #e5e7eb; text-align: center; }
table.confusion th.predicted { writing-mode: vertical-rl; transform: rotate(180deg); }
table.confusion td.hit { background: #dbeafe; }
table.confusion td.miss { background: #fecaca; font-weight: bold; }
img.confusion { max-width: 100%; height: auto; }
ul.examples { margin: 0; padding-left: 1.2rem; }
"""

PAGE = """\
<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>NLU 评估报告</title>
<link rel="stylesheet" href="report.css">
</head>
<body>
<h1>NLU 评估报告</h1>
<p class="meta">生成时间：{{ summary.generated_at }} · 评估数据：{{ summary.source }} · 模型指纹：{{ summary.model_fingerprint }} · 意图样本数：{{ total }}</p>

<h2>总览</h2>
<table id="summary">
<tr><th>指标</th><th class="number">本次</th><th class="number">上次</th></tr>
{% for name, key in headline %}
<tr><td>{{ name }}</td><td class="number">{{ fmt(summary[key]) }}</td><td class="number">{{ fmt(previous[key]) if previous else "—" }}</td></tr>
{% endfor %}
</table>

<h2>与上次报告相比</h2>
{% if not previous %}
<p id="no-previous">没有上一次的报告：这是第一次生成，下次生成时将在这里列出变好和变差的意图。</p>
{% else %}
<p class="meta">上次报告：{{ previous.generated_at }} · 评估数据：{{ previous.source }} · 模型指纹：{{ previous.model_fingerprint }}
{% if previous.source != summary.source %}（两次评估数据不同，比较仅供参考）{% endif %}</p>
<p>F1 变化超过 {{ fmt(tolerance) }} 才算变好或变差。</p>
<h3>变好的意图</h3>
{% if better %}<ul id="better">{% for change in better %}<li class="better">{{ change.label }}：F1 {{ fmt(change.previous_f1) }} → {{ fmt(change.f1) }}（{{ signed(change.delta) }}）</li>{% endfor %}</ul>
{% else %}<p id="better">没有。</p>{% endif %}
<h3>变差的意图</h3>
{% if worse %}<ul id="worse">{% for change in worse %}<li class="worse">{{ change.label }}：F1 {{ fmt(change.previous_f1) }} → {{ fmt(change.f1) }}（{{ signed(change.delta) }}）</li>{% endfor %}</ul>
{% else %}<p id="worse">没有。</p>{% endif %}
{% endif %}

<h2>各意图得分（最差的在前）</h2>
<p class="meta">“意图”由意图分类器评估（FAQ 问题合为一个意图 faq）；“FAQ 子意图”由回答选择器评估。F1 低于 {{ fmt(weak_f1) }} 的行标红。</p>
<table id="per-label">
<tr><th>意图</th><th>类型</th><th class="number">精确率</th><th class="number">召回率</th><th class="number">F1</th><th class="number">F1 变化</th><th class="number">样本数</th></tr>
{% for score in scores %}
<tr data-label="{{ score.label }}"{% if score.support and score.f1 < weak_f1 %} class="weak"{% endif %}><td>{{ score.label }}</td><td>{{ "FAQ 子意图" if score.kind == "faq" else "意图" }}</td><td class="number">{{ fmt(score.precision) }}</td><td class="number">{{ fmt(score.recall) }}</td><td class="number">{{ fmt(score.f1) }}</td>{% set change = label_changes[score.label] %}<td class="number{% if change.delta is not none and change.delta > tolerance %} better{% elif change.delta is not none and change.delta < -tolerance %} worse{% endif %}">{{ "新" if previous and change.delta is none else (signed(change.delta) if previous else "—") }}</td><td class="number">{{ score.support }}</td></tr>
{% endfor %}
</table>

<h2>混淆矩阵</h2>
<p class="meta">行是样本应属的意图，列是模型预测的意图；对角线上是预测正确的样本数，其余非零格子是被认错的样本。</p>
<p><img class="confusion" src="confusion.png" alt="意图混淆矩阵"></p>
<div class="scroll">
<table class="confusion" id="confusion">
<tr><th>应为 \\ 预测为</th>{% for label in labels %}<th class="predicted">{{ label }}</th>{% endfor %}</tr>
{% for row in matrix %}{% set i = loop.index0 %}
<tr><th>{{ labels[i] }}</th>{% for count in row %}<td{% if count and loop.index0 == i %} class="hit"{% elif count %} class="miss"{% endif %}>{{ count if count else "" }}</td>{% endfor %}</tr>
{% endfor %}
</table>
</div>

<h2>最常混淆的意图</h2>
{% if pairs %}
<table id="pairs">
<tr><th>应为</th><th>预测为</th><th class="number">次数</th><th>例句（号码已隐藏）</th></tr>
{% for pair in pairs %}
<tr><td>{{ pair.expected }}</td><td>{{ pair.predicted }}</td><td class="number">{{ pair.count }}</td><td><ul class="examples">{% for text in pair.examples %}<li>{{ text }}</li>{% endfor %}</ul></td></tr>
{% endfor %}
</table>
{% else %}
<p id="pairs">没有被认错的样本。</p>
{% endif %}
</body>
</html>
"""

_HEADLINE = [("意图准确率", "accuracy"), ("宏平均 F1", "macro_f1"), ("加权平均 F1", "weighted_f1"),
             ("FAQ 子意图准确率", "faq_accuracy")]


def _fmt(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.3f}"


def _signed(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:+.3f}"


def page(summary: Dict[str, Any], previous: Optional[Dict[str, Any]], pairs: Sequence[ConfusedPair]) -> str:
    """index.html for one run's summary, the previous run's (or None) and the confused pairs."""
    scores = sorted(
        (LabelScores(label, s["kind"], s["precision"], s["recall"], s["f1"], s["support"])
         for label, s in summary["labels"].items()),
        key=lambda score: (score.f1, -score.support, score.label),
    )
    label_changes = changes(summary, previous)
    better, worse = better_and_worse(label_changes)
    matrix = summary["confusion"]["matrix"]
    environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(PAGE).render(
        summary=summary, previous=previous, headline=_HEADLINE, scores=scores, label_changes=label_changes,
        better=better, worse=worse, tolerance=TOLERANCE, weak_f1=WEAK_F1, pairs=pairs,
        labels=summary["confusion"]["labels"], matrix=matrix, total=sum(map(sum, matrix)),
        fmt=_fmt, signed=_signed,
    )


def render(folder: Path, fingerprint: str, source: str, generated_at: Optional[str] = None) -> Path:
    """Write index.html, report.css, confusion.png and summary.json into `folder` (which holds
    `rasa test nlu`'s output), the previous summary.json moved to previous_summary.json first.
    Returns the path of index.html."""
    folder = Path(folder)
    generated_at = generated_at or datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    summary = summarize(folder, fingerprint, source, generated_at)
    pairs = confused_pairs(intent_predictions(folder) + faq_predictions(folder))
    plot_confusion(summary["confusion"]["labels"], summary["confusion"]["matrix"], folder / "confusion.png")

    previous = _read_json(folder / SUMMARY, None)
    if previous is not None:
        os.replace(folder / SUMMARY, folder / PREVIOUS_SUMMARY)
    else:  # a previous_summary.json without a summary.json is older than the last run: not "the previous"
        (folder / PREVIOUS_SUMMARY).unlink(missing_ok=True)
    (folder / SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "report.css").write_text(CSS, encoding="utf-8")
    index = folder / "index.html"
    index.write_text(page(summary, previous, pairs), encoding="utf-8")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the trainers' NLU report from `rasa test nlu` output.")
    parser.add_argument("folder", type=Path, help="the --out folder of `rasa test nlu` (run with --successes)")
    parser.add_argument("--fingerprint", default="", help="what identifies the model or training data evaluated")
    parser.add_argument("--source", default="", help="what was evaluated, shown on the page")
    args = parser.parse_args(argv)
    render(args.folder, args.fingerprint, args.source)
    summary = json.loads((args.folder / SUMMARY).read_text(encoding="utf-8"))
    faq = summary["faq_accuracy"]
    print(f"[nlu-report] intent accuracy {summary['accuracy']:.3f}, macro F1 {summary['macro_f1']:.3f}, "
          f"weighted F1 {summary['weighted_f1']:.3f}, FAQ sub-intent accuracy {_fmt(faq)}")
    previous = _read_json(args.folder / PREVIOUS_SUMMARY, None)
    if previous is None:
        print("[nlu-report] no previous report to compare with")
    else:
        better, worse = better_and_worse(changes(summary, previous))
        print(f"[nlu-report] since {previous['generated_at']}: better {', '.join(c.label for c in better) or 'none'}; "
              f"worse {', '.join(c.label for c in worse) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
