"""Gate on `rasa test nlu` results for the held-out set (tests/data/nlu_holdout.yml).

Thresholds, and why:
- overall intent accuracy >= 0.88 and FAQ sub-intent accuracy >= 0.85: the held-out set has 5
  examples per intent, so one example is worth ~0.8 points; the gates sit a few examples below
  what the model measures (docs/BENCHMARKS.md), so ordinary retraining noise passes and a real
  regression does not;
- every intent and FAQ sub-intent F1 >= 0.6 (at least 3 of its 5 examples right): an average can
  hide one intent collapsing, and a collapsed intent is exactly what a trainer must hear about.
Prints the worst intents either way, so a trainer sees where to add examples.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

MIN_INTENT_ACCURACY = 0.88
MIN_FAQ_ACCURACY = 0.85
MIN_LABEL_F1 = 0.6


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
    print(f"[nlu] intent accuracy {accuracy:.3f} (gate {MIN_INTENT_ACCURACY}), "
          f"macro F1 {intent_report['macro avg']['f1-score']:.3f}")
    if accuracy < MIN_INTENT_ACCURACY:
        failures.append(f"intent accuracy {accuracy:.3f} < {MIN_INTENT_ACCURACY}")
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
