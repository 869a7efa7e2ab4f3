"""Gate on `rasa test nlu` results for the held-out set (tests/data/nlu_holdout.yml).

`rasa test nlu` scores intents with the FAQ questions as one `faq` intent (intent_report.json) and
the FAQ sub-intents apart (response_selection_report.json). The held-out set has 10 examples per
intent and FAQ sub-intent (290, of which 100 FAQ), never trained on.

Thresholds, and why (measured 2026-12-01 on the data of issue 9, "NLU from more voices", four
trainings: random seeds 42, 1 and 2, and seed 42 again after 7 more examples: intent accuracy
0.986 to 0.993, macro-F1 0.984 to 0.992, FAQ sub-intent accuracy 1.000 each time, weakest intent
F1 0.89 to 0.95):
- intent accuracy >= 0.96 and macro-F1 >= 0.96: one held-out example is worth ~0.35 points, so the
  gate sits about 8 examples below what the model measures. That absorbs retraining noise (the
  seeds above move it by ~1 example; the rounds of new examples of this issue moved the held-out
  score by up to 2 points) while a real regression, such as an intent that swallows its
  neighbours, still fails;
- FAQ sub-intent accuracy >= 0.95: 5 of the 100 FAQ examples below the measured 1.000;
- every intent and FAQ sub-intent F1 >= 0.8 (about 8 of its 10 examples right, measured 0.89 at
  worst): an average can hide one intent collapsing, and a collapsed intent is exactly what a
  trainer must hear about.
Prints the worst intents either way, so a trainer sees where to add examples.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

MIN_INTENT_ACCURACY = 0.96
MIN_MACRO_F1 = 0.96
MIN_FAQ_ACCURACY = 0.95
MIN_LABEL_F1 = 0.8


def _labels(report: dict) -> dict:
    return {
        label: scores
        for label, scores in report.items()
        if isinstance(scores, dict) and "f1-score" in scores
        and label not in ("micro avg", "macro avg", "weighted avg")
    }


def main(report_dir: str) -> int:
    folder = Path(report_dir)
    intent_report = json.loads((folder / "intent_report.json").read_text())
    faq_path = folder / "response_selection_report.json"
    faq_report = json.loads(faq_path.read_text()) if faq_path.exists() else {}

    failures = []
    accuracy = intent_report["accuracy"]
    macro_f1 = intent_report["macro avg"]["f1-score"]
    print(f"[nlu] intent accuracy {accuracy:.3f} (gate {MIN_INTENT_ACCURACY}), "
          f"macro F1 {macro_f1:.3f} (gate {MIN_MACRO_F1})")
    if accuracy < MIN_INTENT_ACCURACY:
        failures.append(f"intent accuracy {accuracy:.3f} < {MIN_INTENT_ACCURACY}")
    if macro_f1 < MIN_MACRO_F1:
        failures.append(f"intent macro F1 {macro_f1:.3f} < {MIN_MACRO_F1}")
    if faq_report:
        faq_accuracy = faq_report.get("accuracy", 0.0)
        print(f"[nlu] FAQ sub-intent accuracy {faq_accuracy:.3f} (gate {MIN_FAQ_ACCURACY})")
        if faq_accuracy < MIN_FAQ_ACCURACY:
            failures.append(f"FAQ accuracy {faq_accuracy:.3f} < {MIN_FAQ_ACCURACY}")
    else:
        failures.append("no response_selection_report.json: the FAQ selector was not evaluated")

    per_label = {**_labels(intent_report), **_labels(faq_report)}
    for label, scores in sorted(per_label.items(), key=lambda item: item[1]["f1-score"])[:5]:
        print(f"[nlu]   weakest: {label:32s} F1 {scores['f1-score']:.2f} "
              f"(support {scores['support']})")
    for label, scores in per_label.items():
        if scores.get("support", 0) and scores["f1-score"] < MIN_LABEL_F1:
            failures.append(f"{label} F1 {scores['f1-score']:.2f} < {MIN_LABEL_F1}")

    errors_file = folder / "intent_errors.json"
    if errors_file.exists():
        for error in json.loads(errors_file.read_text())[:10]:
            print(f"[nlu]   misread: {error['text']!r} expected {error['intent']} "
                  f"got {error['intent_prediction']['name']}")
    for failure in failures:
        print(f"[nlu] FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
