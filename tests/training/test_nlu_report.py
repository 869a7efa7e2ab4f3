"""`make nlu-report` on the project's data: scripts/nlu_report.sh runs the real `rasa test nlu` on the
held-out set with the trained model once for this module (about 30 s), and the report it writes is
checked against Rasa's own figures (intent_report.json, response_selection_report.json, the
predictions); then the renderer runs again on copies of that output, with a doctored previous
summary and a misread sentence holding a card number."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.training import nlu_report

MODEL = Path(os.environ.get("TEST_MODEL") or PROJECT_ROOT / "models" / "current.tar.gz")
HOLDOUT = PROJECT_ROOT / "tests" / "data" / "nlu_holdout.yml"
AVERAGES = ("accuracy", "micro avg", "macro avg", "weighted avg")
CARD = "6222 0210 0000 0000 124"  # the documented test card (ICBC debit)


class Tables(HTMLParser):
    """The page's tables by id: rows of cell texts, and each row's data-label. Also every tag with
    its attributes, for the CSP checks."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: Dict[str, List[List[str]]] = {}
        self.row_labels: Dict[str, List[str | None]] = {}
        self.tags: List[tuple[str, Dict[str, str | None]]] = []
        self._table: str | None = None
        self._cell: List[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id") or f"table{len(self.tables)}"
            self.tables[self._table], self.row_labels[self._table] = [], []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
            self.row_labels[self._table].append(attributes.get("data-label"))
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _per_label(report: dict) -> dict:
    return {label: scores for label, scores in report.items() if label not in AVERAGES}


def _holdout_examples() -> int:
    data = yaml.safe_load(HOLDOUT.read_text(encoding="utf-8"))
    return sum(
        sum(1 for line in item["examples"].splitlines() if line.strip().startswith("- "))
        for item in data["nlu"] if "intent" in item
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    """`scripts/nlu_report.sh` (what `make nlu-report` runs) into a folder of this module."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make test`, which trains it first")
    out = tmp_path_factory.mktemp("nlu-report") / "nlu"
    run = subprocess.run(
        ["scripts/nlu_report.sh", "--model", str(MODEL), "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return {"out": out, "stdout": run.stdout, "html": (out / "index.html").read_text(encoding="utf-8")}


@pytest.fixture
def copy_of_output(report, tmp_path) -> Path:
    """The module's Rasa output and report, copied for a test that renders again."""
    folder = tmp_path / "nlu"
    shutil.copytree(report["out"], folder)
    return folder


def test_the_script_says_what_it_does_and_where_the_report_is(report):
    lines = report["stdout"].splitlines()
    assert any(line.startswith("[nlu-report] scoring") for line in lines)
    assert any(line.startswith("[nlu] intent accuracy") for line in lines)  # make test's gate, said
    assert lines[-1] == f"[nlu-report] report: {report['out']}/index.html"
    assert {"index.html", "report.css", "confusion.png", "summary.json"} <= {p.name for p in report["out"].iterdir()}


def test_every_label_shows_rasas_own_figures(report):
    out = report["out"]
    rasa_labels = {**_per_label(_json(out / "intent_report.json")),
                   **_per_label(_json(out / "response_selection_report.json"))}
    assert any(label.startswith("faq/") for label in rasa_labels)  # the FAQ sub-intents are there
    summary = _json(out / "summary.json")
    page = Tables(report["html"])
    rows = dict(zip(page.row_labels["per-label"], page.tables["per-label"]))

    assert set(summary["labels"]) == set(rasa_labels)
    assert set(rows) - {None} == set(rasa_labels)
    for label, scores in rasa_labels.items():
        mine = summary["labels"][label]
        assert (mine["precision"], mine["recall"], mine["f1"], mine["support"]) == (
            scores["precision"], scores["recall"], scores["f1-score"], scores["support"]), label
        cells = rows[label]
        assert cells[0] == label
        assert cells[2:5] == [f"{scores[key]:.3f}" for key in ("precision", "recall", "f1-score")], label
        assert cells[6] == str(scores["support"]), label

    shown_f1 = [float(cells[4]) for label, cells in zip(page.row_labels["per-label"], page.tables["per-label"]) if label]
    assert shown_f1 == sorted(shown_f1)  # worst first

    intent_report = _json(out / "intent_report.json")
    assert summary["accuracy"] == intent_report["accuracy"]
    assert summary["macro_f1"] == intent_report["macro avg"]["f1-score"]
    assert summary["weighted_f1"] == intent_report["weighted avg"]["f1-score"]
    assert summary["faq_accuracy"] == _json(out / "response_selection_report.json")["accuracy"]
    headline = {cells[0]: cells[1] for cells in Tables(report["html"]).tables["summary"][1:]}
    assert headline["意图准确率"] == f"{intent_report['accuracy']:.3f}"
    assert headline["宏平均 F1"] == f"{intent_report['macro avg']['f1-score']:.3f}"
    assert summary["model_fingerprint"] and summary["generated_at"]


def test_confusion_matrix_counts_every_held_out_example_once(report):
    out = report["out"]
    summary = _json(out / "summary.json")
    labels, matrix = summary["confusion"]["labels"], summary["confusion"]["matrix"]
    correct = len(_json(out / "intent_successes.json"))
    examples = _holdout_examples()
    assert examples == 290
    assert sum(map(sum, matrix)) == examples
    assert sum(matrix[i][i] for i in range(len(labels))) == correct
    assert correct == round(_json(out / "intent_report.json")["accuracy"] * examples)
    intent_report = _json(out / "intent_report.json")
    for i, label in enumerate(labels):
        assert sum(matrix[i]) == intent_report[label]["support"], label
        predicted = sum(row[i] for row in matrix)
        if predicted:
            assert matrix[i][i] / predicted == pytest.approx(intent_report[label]["precision"]), label

    table = Tables(report["html"]).tables["confusion"]
    assert table[0][1:] == labels
    assert [row[0] for row in table[1:]] == labels
    cells = [[int(cell or 0) for cell in row[1:]] for row in table[1:]]
    assert cells == matrix


def test_confusion_picture_is_a_png_of_sensible_size(report):
    picture = (report["out"] / "confusion.png").read_bytes()
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", picture[16:24])  # the IHDR chunk
    assert 400 <= width <= 4000 and 400 <= height <= 4000
    assert 10_000 < len(picture) < 5_000_000
    assert '<img class="confusion" src="confusion.png"' in report["html"]


def test_most_confused_pairs_come_from_the_misread_examples(report):
    errors = _json(report["out"] / "intent_errors.json") if (report["out"] / "intent_errors.json").exists() else []
    table = Tables(report["html"]).tables.get("pairs", [])
    shown = {(row[0], row[1]): int(row[2]) for row in table[1:]}
    expected: Dict[tuple, int] = {}
    for error in errors:
        pair = (error["intent"], error["intent_prediction"]["name"])
        expected[pair] = expected.get(pair, 0) + 1
    assert shown == dict(sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:nlu_report.MOST_CONFUSED_PAIRS])
    for error in errors[:3]:
        assert error["text"] in report["html"]  # short sentences without numbers read as they are


def test_first_report_says_there_is_no_previous_one(report):
    assert "没有上一次的报告" in report["html"]
    assert not (report["out"] / "previous_summary.json").exists()


def test_change_against_a_previous_report(copy_of_output):
    summary = _json(copy_of_output / "summary.json")
    by_f1 = sorted(summary["labels"], key=lambda label: (summary["labels"][label]["f1"], label))
    improved, worsened, steady = by_f1[-1], by_f1[0], by_f1[len(by_f1) // 2]
    doctored = json.loads(json.dumps(summary))
    doctored["generated_at"] = "2026-11-01T09:00:00+08:00"
    doctored["labels"][improved]["f1"] -= 0.2   # it was worse before: got better
    doctored["labels"][worsened]["f1"] += 0.2   # it was better before: got worse
    doctored["labels"][steady]["f1"] -= 0.01    # within the tolerance: neither
    (copy_of_output / "summary.json").write_text(json.dumps(doctored), encoding="utf-8")

    nlu_report.render(copy_of_output, fingerprint="test", source="保留集")

    assert _json(copy_of_output / "previous_summary.json") == doctored
    assert _json(copy_of_output / "summary.json")["labels"] == summary["labels"]
    html = (copy_of_output / "index.html").read_text(encoding="utf-8")
    assert "没有上一次的报告" not in html and "2026-11-01T09:00:00+08:00" in html
    better = html.split('id="better"')[1].split("</ul>")[0]
    worse = html.split('id="worse"')[1].split("</ul>")[0]
    assert f"{improved}：" in better and f"{worsened}：" not in better and f"{steady}：" not in better
    assert f"{worsened}：" in worse and f"{improved}：" not in worse and f"{steady}：" not in worse
    page = Tables(html)
    delta = {label: cells[5] for label, cells in zip(page.row_labels["per-label"], page.tables["per-label"]) if label}
    assert delta[improved] == "+0.200" and delta[worsened] == "-0.200" and delta[steady] == "+0.010"

    # Once more: the previous report is now the one just written, and nothing moved.
    nlu_report.render(copy_of_output, fingerprint="test", source="保留集")
    assert _json(copy_of_output / "previous_summary.json")["labels"] == summary["labels"]
    html = (copy_of_output / "index.html").read_text(encoding="utf-8")
    assert '<p id="better">没有。</p>' in html and '<p id="worse">没有。</p>' in html


def test_no_card_or_id_number_in_full(report, copy_of_output):
    import importlib.util

    spec = importlib.util.spec_from_file_location("scan_secrets", PROJECT_ROOT / "scripts" / "scan_secrets.py")
    scan_secrets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scan_secrets)
    numbers = scan_secrets.test_numbers(PROJECT_ROOT / "tests")
    assert scan_secrets.scan([report["out"]], numbers) == []

    # A misread sentence with a card number in it (the renderer masks what it quotes, whoever
    # wrote the JSON): shown, masked.
    errors_file = copy_of_output / "intent_errors.json"
    errors = _json(errors_file) if errors_file.exists() else []
    errors.append({"text": f"新卡号是{CARD}", "intent": "inform",
                   "intent_prediction": {"name": "change_account", "confidence": 0.51}})
    errors_file.write_text(json.dumps(errors, ensure_ascii=False), encoding="utf-8")
    index = nlu_report.render(copy_of_output, fingerprint="test", source="保留集")
    errors_file.unlink()  # the injected card, in full: not left for make test's secrets scan
    html = index.read_text(encoding="utf-8")
    assert "新卡号是****0124" in html
    assert scan_secrets.scan([index, copy_of_output / "summary.json"], {CARD.replace(" ", ""): "test card"}) == []


def test_page_has_no_inline_style_or_script(report):
    page = Tables(report["html"])
    tags = {tag for tag, _ in page.tags}
    assert "style" not in tags and "script" not in tags
    for tag, attributes in page.tags:
        assert "style" not in attributes, tag
        assert not [name for name in attributes if name.startswith("on")], tag
    stylesheets = [a["href"] for tag, a in page.tags if tag == "link" and a.get("rel") == "stylesheet"]
    assert stylesheets == ["report.css"]
    assert (report["out"] / "report.css").read_text(encoding="utf-8").strip()
