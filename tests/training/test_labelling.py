"""Labelling a message into the training data (bot/training/labelling.py), on a temporary copy of
the project's data/, domain.yml, config.yml and measurement sets: the line lands at the end of its
intent's block in the project's style, nothing else in the file moves, Rasa reads it back with its
entities, `rasa data validate --fail-on-warnings` still passes, and what must not be written
(a duplicate, a held-out sentence, a full number, text Rasa would misread) is not."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from bot.training import data_checks
from bot.training.labelling import (AlreadyPresent, EntityMark, InvalidExample, UnknownIntent, UnsafeExample,
                                    append_example, entity_choices, label_choices)

PROJECT = Path(__file__).resolve().parents[2]
COPIED = ("data", "domain.yml", "config.yml", "tests/data/nlu_holdout.yml", "tests/data/nlu_dev.yml")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in COPIED:
        source, target = PROJECT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    return root


def data_files(project: Path) -> dict[str, str]:
    return {path.relative_to(project).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(project.rglob("*.yml"))}


def examples(path: Path) -> list[tuple[str, str, list]]:
    """(intent or faq/sub-intent, text, [(start, end, entity, value)]) as Rasa reads the file."""
    data = RasaYAMLReader().read(path)
    return [(message.get("intent_response_key") or message.get("intent"), message.get("text"),
             [(e["start"], e["end"], e["entity"], e["value"]) for e in message.get("entities") or []])
            for message in data.training_examples]


# --- what a trainer may choose -----------------------------------------------------------------------


def test_label_choices_are_the_trained_intents_and_faq_sub_intents_sorted(project: Path) -> None:
    choices = label_choices(project)
    assert choices == sorted(choices)
    assert {"greet", "inform", "change_account", "resume_bot", "faq/fees", "faq/required_documents"} <= set(choices)
    # Sent by channels and buttons, never typed: no examples to add to. The bare retrieval intent
    # is replaced by its sub-intents.
    assert not {"faq", "message_too_long", "document_uploaded", "clarified_as_answer", "clarified_as_question",
                "nlu_fallback"} & set(choices)
    domain_intents = set(yaml.safe_load((project / "domain.yml").read_text())["intents"])
    assert {choice.split("/")[0] for choice in choices} <= domain_intents


def test_entity_choices_are_the_domains_entities_a_message_can_hold(project: Path) -> None:
    assert entity_choices(project) == sorted({"card_number", "bank", "name", "id_number", "license_number",
                                              "phone", "merchant_id", "request_id", "otp_code"})


# --- appending -----------------------------------------------------------------------------------------


def test_an_example_is_appended_at_the_end_of_its_intents_block_and_nothing_else_moves(project: Path) -> None:
    change = project / "data/nlu/change.yml"
    before, others = change.read_text(), {k: v for k, v in data_files(project).items() if k != "data/nlu/change.yml"}

    appended = append_example(project, "  我想把收款卡  换成\n建设银行的 ", "change_account",
                              [EntityMark("建设银行", "bank")])

    assert appended.path == Path("data/nlu/change.yml")
    line = "      - 我想把收款卡 换成 [建设银行](bank)的"
    after = change.read_text()
    assert after.replace(line + "\n", "", 1) == before  # one line added, comments and order kept
    block = after.split("  - intent: change_account\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines()[-1] == line  # the last line of the intent's block
    assert {k: v for k, v in data_files(project).items() if k != "data/nlu/change.yml"} == others
    # The diff: relative paths, the added line, context around it.
    assert appended.diff.startswith("--- a/data/nlu/change.yml\n+++ b/data/nlu/change.yml\n@@ ")
    assert [row for row in appended.diff.splitlines() if row.startswith(("+", "-"))][2:] == ["+" + line]
    # YAML still, and Rasa reads the example with its entity where it is.
    assert yaml.safe_load(after)["nlu"][0]["intent"] == "change_account"
    read = [example for example in examples(change) if example[1] == "我想把收款卡 换成 建设银行的"]
    assert read == [("change_account", "我想把收款卡 换成 建设银行的", [(10, 14, "bank", "建设银行")])]


def test_faq_sub_intents_and_the_last_block_of_a_file(project: Path) -> None:
    faq = append_example(project, "换卡收不收钱呀老板", "faq/fees")
    resume = append_example(project, "人工一直不来我还是自己办吧", "resume_bot")
    assert (faq.path, resume.path) == (Path("data/nlu/faq.yml"), Path("data/nlu/repair.yml"))
    assert ("faq/fees", "换卡收不收钱呀老板", []) in examples(project / "data/nlu/faq.yml")
    repair = (project / "data/nlu/repair.yml").read_text()
    assert repair.endswith("      - 人工一直不来我还是自己办吧\n")
    assert examples(project / "data/nlu/repair.yml")[-1] == ("resume_bot", "人工一直不来我还是自己办吧", [])


def test_several_entities_and_a_masked_number(project: Path) -> None:
    appended = append_example(project, "户名张伟，卡号****0124，工商银行", "inform",
                              [EntityMark("张伟", "name"), EntityMark("工商银行", "bank"),
                               EntityMark("****0124", "card_number")])
    assert appended.line == "户名[张伟](name)，卡号[****0124](card_number)，[工商银行](bank)"
    [read] = [example for example in examples(project / "data/nlu/change.yml") if example[1].startswith("户名张伟，")]
    assert read[2] == [(2, 4, "name", "张伟"), (7, 15, "card_number", "****0124"), (16, 20, "bank", "工商银行")]


def test_text_rasa_reads_differently_is_written_so_it_reads_the_same(project: Path) -> None:
    """What could break a line: line breaks of every kind (Rasa splits the block with
    `splitlines`), a leading `- `, YAML's own characters (`#`, `: `, quotes, `|`)."""
    texts = {"换卡\r\n要多久\u2028呢\x85啊\x1c吗": "换卡 要多久 呢 啊 吗",
             "- 我要换卡": "- 我要换卡",
             "# 换卡: 要 \"多久\" | 'ok' {x} [y] ](z)": "# 换卡: 要 \"多久\" | 'ok' {x} [y] ](z)"}
    for typed, kept in texts.items():
        append_example(project, typed, "change_account")
        assert ("change_account", kept, []) in examples(project / "data/nlu/change.yml")
    yaml.safe_load((project / "data/nlu/change.yml").read_text())


# --- refused, nothing written ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, intent, existing_intent, where", [
    ("你好", "greet", "greet", "data/nlu/basics.yml"),
    ("  我要换结算卡 ", "faq/fees", "change_account", "data/nlu/change.yml"),  # under another intent too
    # As make validate's duplicate check compares: case, width, spaces and punctuation aside.
    ("我要换结算卡！", "change_account", "change_account", "data/nlu/change.yml"),
    ("ＨＥＬＬＯ 客服", "greet", "greet", "data/nlu/basics.yml"),
    ("hello，在不在", "greet", "greet", "tests/data/nlu_holdout.yml"),  # the held-out set is never trained on
    ("收款银行卡想换一下", "change_account", "change_account", "tests/data/nlu_dev.yml"),  # nor the dev set
])
def test_an_example_already_there_is_refused(project: Path, text: str, intent: str, existing_intent: str,
                                             where: str) -> None:
    before = data_files(project)
    with pytest.raises(AlreadyPresent) as refused:
        append_example(project, text, intent)
    assert (refused.value.intent, refused.value.path) == (existing_intent, Path(where))
    assert data_files(project) == before


def test_an_annotated_example_is_the_same_example_as_its_text(project: Path) -> None:
    append_example(project, "我的新卡是建设银行的", "inform", [EntityMark("建设银行", "bank")])
    before = data_files(project)
    for text in ("我的新卡是建设银行的", " 我的新卡是建设银行的\n"):
        with pytest.raises(AlreadyPresent) as refused:
            append_example(project, text, "change_account")
        assert refused.value.intent == "inform"
    with pytest.raises(AlreadyPresent):
        append_example(project, "我的新卡是建设银行的", "inform", [EntityMark("建设银行", "bank")])
    assert data_files(project) == before


@pytest.mark.parametrize("intent", ["faq", "message_too_long", "document_uploaded", "clarified_as_answer",
                                    "nlu_fallback", "faq/nonexistent", "Greet", ""])
def test_an_intent_trainers_do_not_label_is_refused(project: Path, intent: str) -> None:
    before = data_files(project)
    with pytest.raises(UnknownIntent):
        append_example(project, "一句新的话", intent)
    assert data_files(project) == before


@pytest.mark.parametrize("text", ["卡号6222021000000000124", "卡号 6222 0210 0000 0000 124",
                                  "身份证310101198503171233", "手机13800000001", "卡号六二二二零二一零零零零零零零零零一二四",
                                  "验证码是493817", "493817"])  # one-time codes too, as the inbox masks them
def test_a_full_number_or_a_code_is_refused(project: Path, text: str) -> None:
    before = data_files(project)
    with pytest.raises(UnsafeExample):
        append_example(project, text, "inform")
    assert data_files(project) == before


@pytest.mark.parametrize("text, entities, reason", [
    ("", [], InvalidExample.EMPTY),
    (" \n\t ", [], InvalidExample.EMPTY),
    ("换" * 501, [], InvalidExample.TOO_LONG),
    ("换卡\x00吗", [], InvalidExample.UNPRINTABLE),
    ("换卡\x07吗", [], InvalidExample.UNPRINTABLE),
    ("请按[确认](bank)办理", [], InvalidExample.MARKUP),  # Rasa would read an entity in it
    ("请按[确认]{\"entity\": \"bank\"}办理", [], InvalidExample.MARKUP),
    ("请按[确认][{\"entity\": \"bank\"}]办理", [], InvalidExample.MARKUP),
    ("卡是[工商]银行", [EntityMark("工商]银行", "bank")], InvalidExample.MARKUP),
    ("我的卡是工商银行", [EntityMark("建设银行", "bank")], InvalidExample.ENTITY_NOT_IN_TEXT),
    ("我的卡是工商银行", [EntityMark("工商银行", "bank"), EntityMark("工商银行", "bank")],
     InvalidExample.ENTITY_NOT_IN_TEXT),  # one occurrence marked twice
    ("我的卡是工商银行", [EntityMark("工商银行", "route")], InvalidExample.UNKNOWN_ENTITY),
    ("我的卡是工商银行", [EntityMark("工商银行", "")], InvalidExample.UNKNOWN_ENTITY),
    ("我的卡是工商银行", [EntityMark(" ", "bank")], InvalidExample.EMPTY),
])
def test_an_example_that_cannot_be_written_as_meant_is_refused(project: Path, text: str, entities: list,
                                                               reason: str) -> None:
    before = data_files(project)
    with pytest.raises(InvalidExample) as refused:
        append_example(project, text, "inform", entities)
    assert refused.value.reason == reason
    assert data_files(project) == before


def test_the_same_value_twice_marks_both_occurrences(project: Path) -> None:
    appended = append_example(project, "工商银行换成工商银行新卡", "inform",
                              [EntityMark("工商银行", "bank"), EntityMark("工商银行", "bank")])
    assert appended.line == "[工商银行](bank)换成[工商银行](bank)新卡"


def test_two_trainers_labelling_at_once_write_both_and_nothing_twice(project: Path) -> None:
    texts = [f"第{n}个新问法换卡" for n in range(6)] * 2  # each text twice
    outcomes: list[str] = []

    def label(text: str) -> None:
        try:
            append_example(project, text, "change_account")
            outcomes.append("written")
        except AlreadyPresent:
            outcomes.append("refused")

    threads = [threading.Thread(target=label, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 6 + ["written"] * 6
    written = [text for intent, text, _ in examples(project / "data/nlu/change.yml") if text.startswith("第")]
    assert sorted(written) == sorted(set(texts))


# --- Rasa's own validation ----------------------------------------------------------------------------------


def _validate(project: Path) -> tuple[int, list[str]]:
    """`rasa data validate --fail-on-warnings` on the copy: exit code and its warnings."""
    environment = {**os.environ, "PYTHONPATH": str(PROJECT)}  # config.yml names the project's components
    done = subprocess.run([str(Path(sys.executable).with_name("rasa")), "data", "validate", "--fail-on-warnings",
                           "--domain", "domain.yml", "--data", "data", "--config", "config.yml"],
                          cwd=project, env=environment, capture_output=True, text=True, timeout=300)
    warnings = sorted(set(re.findall(r"UserWarning: (.*)", done.stdout + done.stderr)))
    return done.returncode, warnings


def test_rasa_data_validate_still_passes_after_an_annotated_example(project: Path) -> None:
    code, warnings_before = _validate(project)
    assert code == 0
    append_example(project, "新卡是招商银行的，户名王芳", "inform", [EntityMark("招商银行", "bank"), EntityMark("王芳", "name")])
    append_example(project, "验证码******收不到吗", "resend_code", [EntityMark("******", "otp_code")])
    code, warnings_after = _validate(project)
    assert code == 0
    assert warnings_after == warnings_before  # no new warning about the entities or the examples
    # make validate's own duplicate check reads the annotated examples too, and finds nothing.
    assert data_checks.check_duplicates(data_checks.Project(project)) == []
