"""The project's own data checks (bot/training/data_checks.py, `make validate`): each passes on the
project's data and fails, with the message a trainer reads, on a copy doctored to break it.

The copies live in a temporary folder outside var/ and are removed after each test: they hold the
training data, whose documented test numbers the secrets scan (scripts/test.sh) must not find
left in var/pytest.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.training import data_checks
from bot.training.data_checks import Project

ROOT = data_checks.PROJECT_ROOT
COPIED = ("domain.yml", "data", "actions", "bot", "tests/data", "tests/phrasings")


@pytest.fixture
def project() -> Iterator[Path]:
    """A copy of what the checks read, to doctor."""
    with tempfile.TemporaryDirectory(prefix="data-checks-") as folder:
        root = Path(folder)
        for name in COPIED:
            source, target = ROOT / name, root / name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)
        yield root


def add_examples(root: Path, intent: str, examples: list[str], file: str = "doctored.yml") -> Path:
    path = root / "data" / "nlu" / file
    lines = ['version: "3.1"', "nlu:", f"  - intent: {intent}", "    examples: |"]
    path.write_text("\n".join(lines + [f"      - {example}" for example in examples]) + "\n", encoding="utf-8")
    return path


def edit_domain(root: Path, change) -> None:
    path = root / "domain.yml"
    domain = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(domain)
    path.write_text(yaml.safe_dump(domain, allow_unicode=True, sort_keys=False), encoding="utf-8")


def messages(check, root: Path) -> list[str]:
    return [str(problem) for problem in check(Project(root))]


@pytest.mark.parametrize("title,check", data_checks.CHECKS, ids=[check.__name__ for _, check in data_checks.CHECKS])
def test_each_check_passes_on_the_project_data(title, check):
    assert messages(check, ROOT) == []


def test_copy_passes_like_the_project(project):
    """The doctored copies below start from the project's state (the spec's numbers aside)."""
    for _, check in data_checks.CHECKS:
        if check is not data_checks.check_sensitive_numbers:
            assert messages(check, project) == messages(check, ROOT), check.__name__


def test_too_few_examples(project):
    add_examples(project, "faq/new_topic", ["新问题一", "新问题二", "新问题三"])
    edit_domain(project, lambda domain: domain["intents"].append("ask_weather"))

    found = messages(data_checks.check_example_counts, project)

    assert f"data/nlu/doctored.yml: FAQ 子意图 faq/new_topic 只有 3 条示例，至少需要 {data_checks.MIN_EXAMPLES} 条（再补 37 条）" in found
    assert f"domain.yml: 意图 ask_weather 在 data/nlu/ 里没有任何示例，至少需要 {data_checks.MIN_EXAMPLES} 条" in found
    assert len(found) == 2  # the synthetic intents (message_too_long ...) are not asked for examples


def test_same_example_under_two_intents(project):
    path = add_examples(project, "thank", ["你 好！"])  # greet has 你好

    found = messages(data_checks.check_duplicates, project)

    assert len(found) == 1
    assert found[0].startswith("data/nlu/basics.yml:")
    assert "“你好” 在 greet 下，同一句话也在 data/nlu/doctored.yml:5 的 thank 下" in found[0]
    assert path.read_text(encoding="utf-8").splitlines()[4].strip() == "- 你 好！"


def test_held_out_example_in_the_training_data(project):
    holdout = data_checks.read_examples(project / "tests/data/nlu_holdout.yml", project)
    held = next(example for example in holdout if example.intent == "check_status")
    add_examples(project, "check_status", [held.text])

    found = messages(data_checks.check_duplicates, project)

    assert found == [f"data/nlu/doctored.yml:5: “{held.text}”（check_status）是测试集 tests/data/nlu_holdout.yml 的句子"
                     "（check_status）：测试集的句子不能放进训练数据，请从 data/nlu/ 删除或换一种说法"]


def test_button_titles_may_be_in_training_and_held_out_sets(project):
    """线上办理 is a button of the route question and a sentence of the shared dev set."""
    dev = data_checks.read_dev_set(project / "tests/data/nlu_dev.yml", project)
    assert "线上办理" in [example.text for example in dev]
    assert "线上办理" in [example.text for example in Project(project).examples]
    assert messages(data_checks.check_duplicates, project) == []


def test_card_and_id_numbers_other_than_the_documented_ones(project):
    # Real-looking numbers documented nowhere (neither demo data nor DOMAIN_RULES.md): refused
    # until a spec beside the project documents them; the spec's own numbers are allowed.
    add_examples(project, "inform", ["卡号 6225 8830 0000 0013", "身份证１１０１０５１９４９１２３１００６２",
                                     "6222021000000000124", "6222021000000000125", "单号123456789012345678"])

    found = [line for line in messages(data_checks.check_sensitive_numbers, project) if "doctored.yml" in line]

    assert [line.split(": ")[0] for line in found] == ["data/nlu/doctored.yml:5", "data/nlu/doctored.yml:6"]
    assert "inform 的示例 “卡号 ****0013” 含有一个看起来真实的卡号（尾号 0013）" in found[0]
    assert "看起来真实的身份证号（尾号 0062）" in found[1]
    assert all("6225883000000013" not in line and "8830" not in line for line in found)  # masked

    spec = project / "spec" / "DOMAIN_RULES.md"
    spec.parent.mkdir()
    spec.write_text("Valid examples: CMB `6225883000000013`, ID `110105194912310062`.\n", encoding="utf-8")
    assert not any("doctored.yml" in line for line in messages(data_checks.check_sensitive_numbers, project))


def test_the_allow_list_holds_the_demo_data_and_the_spec():
    allowed = data_checks.documented_test_numbers(ROOT)
    assert allowed["6228485000000000781"] == "演示商户 822100000000001 的结算卡"
    assert "6222021000000000124" in allowed  # bot.ops.demo OVERDUE_NEW_CARD
    assert "310101198503171233" in allowed and "61010319880214567X" in allowed
    if (ROOT / "../shared/spec/DOMAIN_RULES.md").exists():
        assert "6225751000000004" in allowed and "11010519491231002X" in allowed


def test_unused_response(project):
    def doctor(domain):
        domain["responses"]["utter_never_said"] = [{"text": "没人说过"}]
        domain["responses"]["utter_said_by_a_rule"] = [{"text": "规则里说"}]
    edit_domain(project, doctor)
    (project / "data" / "stories" / "doctored.yml").write_text(
        'version: "3.1"\nrules:\n  - rule: doctored\n    steps:\n      - intent: greet\n'
        "      - action: utter_said_by_a_rule\n", encoding="utf-8")

    found = messages(data_checks.check_unused_responses, project)

    assert len(found) == len(messages(data_checks.check_unused_responses, ROOT)) + 1
    assert any(line.startswith("domain.yml:") and "回复 utter_never_said 没有任何地方用到" in line for line in found)


def test_responses_built_by_the_code_count_as_used(project):
    """f"utter_invalid_{reason}" uses utter_invalid_<a reason the code names>, no other."""
    used = data_checks.used_responses(Project(project))
    assert used["utter_invalid_id_legacy_15"].startswith("bot/validation/errors.py:")  # Reason.response
    assert "utter_clarify_cancel" in used and "utter_ask_route" in used and "utter_default" in used

    edit_domain(project, lambda domain: domain["responses"].update({"utter_invalid_no_such_reason": [{"text": "x"}]}))
    assert any("utter_invalid_no_such_reason" in line for line in messages(data_checks.check_unused_responses, project))


def test_faq_topic_without_answer_and_answer_without_examples(project):
    add_examples(project, "faq/lonely", [f"孤单的问题{number}" for number in range(45)])
    edit_domain(project, lambda domain: domain["responses"].update({"utter_faq/orphan": [{"text": "没有人问"}]}))

    found = messages(data_checks.check_faq_answers, project)

    assert "data/nlu/doctored.yml:5: FAQ 子意图 faq/lonely 有示例，但 domain.yml 里没有它的回答 utter_faq/lonely" in found
    assert any(line.startswith("domain.yml:") and "回答 utter_faq/orphan 没有对应的示例：请在 data/nlu/ 里加 intent: faq/orphan 的示例"
               in line for line in found)
    assert len(found) == 2
    # An answer without examples is check 5's, not also an unused response.
    assert not any("utter_faq/orphan" in line for line in messages(data_checks.check_unused_responses, project))


def test_form_question_without_phrasing_table(project):
    (project / "tests" / "phrasings" / "route.yml").unlink()
    edit_domain(project, lambda domain: domain["forms"]["change_form"]["required_slots"].append("favourite_colour"))

    found = messages(data_checks.check_phrasing_tables, project)

    assert "tests/phrasings/route.yml: 表单 change_form 会问 route，但没有它的说法表（商户会怎么回答这个问题）：请按其他说法表的格式新建" in found
    assert any(line.startswith("tests/phrasings/favourite_colour.yml: 表单 change_form 会问 favourite_colour") for line in found)
    assert len(found) == 2


def test_phrasing_table_nobody_asks_for(project):
    shutil.copy(project / "tests/phrasings/route.yml", project / "tests/phrasings/old_question.yml")

    found = messages(data_checks.check_phrasing_tables, project)

    assert found == ["tests/phrasings/old_question.yml: 没有表单或动作会问 old_question：这个说法表多余了，或槽位改了名字"]


def test_command_line(project, capsys):
    add_examples(project, "thank", ["你 好！"])

    assert data_checks.main(["--root", str(project)]) == 1

    out = capsys.readouterr().out
    assert "未通过  同一句话不在两个意图下，测试集的句子不在训练数据里（1 处）" in out
    assert "data/nlu/basics.yml:" in out and "项检查未通过：按上面的提示修改后再运行 make validate" in out


def test_bot_trainer_check_runs_the_checks(capsys):
    from bot.ops import cli

    failed = any(problems for _, problems in data_checks.run())
    assert cli.main(["trainer", "check"]) == (1 if failed else 0)
    assert "[validate] 训练数据自查" in capsys.readouterr().out


def test_the_copied_domain_rules_numbers_cover_the_spec():
    """CI's clone has no ../shared/: the copy in data_checks must hold every number the spec gives."""
    spec = ROOT.parent / "shared" / "spec" / "DOMAIN_RULES.md"
    if not spec.is_file():
        pytest.skip("no ../shared/spec/DOMAIN_RULES.md beside this checkout")
    documented = {number.upper() for number in data_checks._BACKTICKED_NUMBER.findall(spec.read_text(encoding="utf-8"))}
    assert documented <= set(data_checks.DOMAIN_RULES_NUMBERS)


def test_the_project_alone_passes_the_numbers_check(tmp_path):
    """A clone without ../shared/ beside it (CI's) passes the sensitive-numbers check too."""
    import shutil
    clone = tmp_path / "clone"
    for part in ("data", "domain.yml", "tests/data"):
        source = ROOT / part
        target = clone / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    assert messages(data_checks.check_sensitive_numbers, clone) == []
