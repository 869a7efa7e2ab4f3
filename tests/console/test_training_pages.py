"""The trainers' pages (console/training.py) through Flask's test client, on a temporary copy of the
project (PROJECT_DIR) and a tracker store written as the assistant writes it: the inbox lists what
the bot got wrong, redacted; a label appends the example to data/nlu/ of the copy and the page shows
the diff; a dismissed or labelled group leaves the inbox; duplicates, held-out sentences, full
numbers and intents trainers do not label are refused in Chinese, nothing written; trainers only;
the NLU report served from its folder, and only that."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agents import accounts
from bot.db.models import AuditEvent, StaffRole, TrainingInboxDecision
from bot.settings import PROJECT_ROOT
from training.project_copy import copy_project
from bot.training.inbox import group_key, normalise
from bot.training.story_redaction import masked_conversation_id
from console.app import create_app

from console.conftest import PASSWORD, csrf, signed_in
from training.tracker_script import Conversation, store

CARD, PHONE = "6222021000000000124", "13800000001"
FALLBACK_TEXT = f"卡号{CARD}绑不上咋整"
FALLBACK_SHOWN = "卡号****0124绑不上咋整"
LOW_TEXT = f"换卡要交钱不 {PHONE}"
LOW_SHOWN = "换卡要交钱不 ****0001"


def key_of(shown: str) -> str:
    return group_key(normalise(shown))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project's data, domain and model inputs, with a model trained from exactly them."""
    root = tmp_path / "project"
    return copy_project(root)


@pytest.fixture
def conversations(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fallback with a card number, a FAQ question below the threshold with a phone number, and
    a confident greeting (not in the inbox)."""
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    monkeypatch.delenv("TRAINER_LOW_CONFIDENCE", raising=False)
    store(f"sqlite:///{var_dir / 'rasa_tracker.db'}",
          Conversation("rest-m1").user("你好", "greet").answered("utter_greet")
          .user(FALLBACK_TEXT, "nlu_fallback", 0.2).answered("utter_default", action="action_fallback"),
          Conversation("rest-m2", start=1_800_000_100.0)
          .user(LOW_TEXT, "faq", 0.45, faq="faq/fees").answered("utter_faq/fees"))


@pytest.fixture
def app(staff: Session, db_url: str, project: Path, conversations: None) -> Flask:
    accounts.create_account(staff, "sun", PASSWORD, StaffRole.TRAINER, "孙训练")
    return create_app({"DATABASE_URL": db_url, "TESTING": True, "PROJECT_DIR": project})


@pytest.fixture
def sun(app: Flask) -> FlaskClient:
    return signed_in(app.test_client(), "sun")


def page(client: FlaskClient, path: str = "/trainer") -> str:
    reply = client.get(path)
    assert reply.status_code == 200, reply.status_code
    return reply.get_data(as_text=True)


def label(client: FlaskClient, key: str, text: str, intent: str, *rows: tuple[str, str], token: str | None = None):
    form = {"csrf_token": csrf(client, "/trainer") if token is None else token, "text": text, "intent": intent}
    for number, (value, entity) in enumerate(rows):
        form[f"entity_value_{number}"], form[f"entity_type_{number}"] = value, entity
    return client.post(f"/trainer/messages/{key}/label", data=form)


def data_files(project: Path) -> dict[str, str]:
    return {path.relative_to(project).as_posix(): path.read_text() for path in sorted((project / "data").rglob("*.yml"))}


def real_data() -> str:
    digest = hashlib.sha256()
    for path in sorted((PROJECT_ROOT / "data").rglob("*.yml")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def no_full_number(html: str) -> None:
    assert CARD not in html and PHONE not in html
    without_keys = re.sub(r"\b[0-9a-f]{16}\b", "", html)  # the groups' keys are hex digests
    assert not re.search(r"\d(?:[ -]?\d){10,}", without_keys)


def audited(session: Session, action: str) -> list[dict]:
    session.expire_all()
    return [event.detail for event in session.execute(
        select(AuditEvent).where(AuditEvent.action == action, AuditEvent.actor == "staff:sun")).scalars()]


# --- who may ---------------------------------------------------------------------------------------


def test_a_trainer_starts_on_the_inbox(app: Flask) -> None:
    client = app.test_client()
    reply = client.post("/login", data={"username": "sun", "password": PASSWORD, "csrf_token": csrf(client)})
    assert reply.status_code == 302 and reply.location.endswith("/trainer")
    assert "待学习消息" in page(client, "/trainer")
    assert client.get("/start").location.endswith("/trainer")


def test_agents_and_reviewers_get_403_and_anonymous_visitors_the_login(app: Flask, project: Path) -> None:
    key = key_of(FALLBACK_SHOWN)
    before = data_files(project)
    for username in ("wang", "zhao"):
        client = signed_in(app.test_client(), username)
        token = csrf(client)
        for path in ("/trainer", "/trainer/report/", "/trainer/report/report.css", f"/trainer/messages/{key}/story"):
            assert client.get(path).status_code == 403, (username, path)
        for action in ("label", "dismiss"):
            reply = client.post(f"/trainer/messages/{key}/{action}",
                                data={"csrf_token": token, "text": "换卡", "intent": "change_account"})
            assert reply.status_code == 403, (username, action)
    anonymous = app.test_client()
    for path in ("/trainer", f"/trainer/messages/{key}/story"):
        reply = anonymous.get(path)
        assert reply.status_code == 302 and reply.location.startswith("/login")
    assert anonymous.post(f"/trainer/messages/{key}/label",
                          data={"csrf_token": csrf(anonymous), "intent": "change_account"}).status_code == 401
    assert data_files(project) == before


def test_a_post_without_the_csrf_token_is_refused(sun: FlaskClient, project: Path) -> None:
    before = data_files(project)
    key = key_of(FALLBACK_SHOWN)
    for token in ("", "forged"):
        assert label(sun, key, FALLBACK_SHOWN, "faq/card_not_recognized", token=token).status_code == 400
        assert sun.post(f"/trainer/messages/{key}/dismiss", data={"csrf_token": token}).status_code == 400
    assert data_files(project) == before
    assert FALLBACK_SHOWN in page(sun)


# --- the inbox -------------------------------------------------------------------------------------


def test_the_inbox_shows_both_messages_redacted_with_what_the_model_made_of_them(sun: FlaskClient) -> None:
    html = page(sun)
    no_full_number(html)
    assert FALLBACK_SHOWN in html and LOW_SHOWN in html
    assert "你好" not in re.sub(r"您好，", "", html.split("<main>")[1])  # the confident greeting is not there
    assert "未识别（兜底）" in html and "置信度低" in html
    assert "faq/fees" in html and "0.45" in html
    assert html.index(LOW_SHOWN) < html.index(FALLBACK_SHOWN)  # newest first
    # The label form: the redacted text to edit, the intents trainers label, entity rows, two buttons.
    assert f">{FALLBACK_SHOWN}</textarea>" in html
    options = re.findall(r'<option value="([a-z_/0-9]+)"', html)
    assert {"faq/card_not_recognized", "change_account", "inform"} <= set(options)
    assert not {"faq", "message_too_long", "document_uploaded", "nlu_fallback"} & set(options)
    assert html.count('name="entity_value_1"') == 2 and 'name="entity_value_0"' in html
    assert html.count("保存为训练样本") == 2 and html.count(">忽略<") == 2
    assert "模型与当前训练数据一致" in html


def test_a_label_appends_the_example_to_the_copy_shows_the_diff_and_leaves_the_inbox(
        sun: FlaskClient, project: Path, staff: Session) -> None:
    real = real_data()
    key = key_of(FALLBACK_SHOWN)
    reply = label(sun, key, FALLBACK_SHOWN, "faq/card_not_recognized", ("****0124", "card_number"), ("", ""))
    assert reply.status_code == 303

    html = page(sun, reply.location)
    line = "      - 卡号[****0124](card_number)绑不上咋整"
    assert line + "\n" in (project / "data/nlu/faq.yml").read_text()
    assert real_data() == real  # the project's own data untouched
    # The diff, lines classed by kind; the entry gone, the other one still there.
    assert "已保存为训练样本：写入 data/nlu/faq.yml" in html
    assert '<span class="file">--- a/data/nlu/faq.yml</span>' in html
    assert f'<span class="add">+{line}</span>' in html
    assert re.search(r'<span class="hunk">@@ -\d+,\d+ \+\d+,\d+ @@</span>', html)
    assert f">{FALLBACK_SHOWN}</textarea>" not in html and f">{LOW_SHOWN}</textarea>" in html
    # The model is now older than the data.
    assert "模型比训练数据旧" in html and "make model" in html and "make test" in html
    no_full_number(html)
    # Recorded: the decision, who added which line.
    assert staff.get(TrainingInboxDecision, key).intent == "faq/card_not_recognized"
    [added] = audited(staff, "training.example_added")
    assert (added["path"], added["intent"], added["line"]) == ("data/nlu/faq.yml", "faq/card_not_recognized",
                                                                "卡号[****0124](card_number)绑不上咋整")
    # A reload shows the diff again and writes nothing more.
    assert page(sun, reply.location) and (project / "data/nlu/faq.yml").read_text().count(line) == 1


def test_an_edited_text_is_what_is_written(sun: FlaskClient, project: Path) -> None:
    reply = label(sun, key_of(LOW_SHOWN), "  换卡要交钱不\n老板 ", "faq/fees")
    assert reply.status_code == 303
    assert "      - 换卡要交钱不 老板\n" in (project / "data/nlu/faq.yml").read_text()


def test_dismissing_takes_the_group_out_of_the_inbox(sun: FlaskClient, project: Path, staff: Session) -> None:
    before = data_files(project)
    key = key_of(LOW_SHOWN)
    reply = sun.post(f"/trainer/messages/{key}/dismiss", data={"csrf_token": csrf(sun, "/trainer")})
    assert reply.status_code == 303
    html = page(sun, reply.location)
    assert "已忽略" in html and f">{LOW_SHOWN}</textarea>" not in html and f">{FALLBACK_SHOWN}</textarea>" in html
    assert data_files(project) == before
    assert staff.get(TrainingInboxDecision, key).decision.value == "dismissed"
    # The group decided, its form answers that it is gone.
    again = label(sun, key, LOW_SHOWN, "faq/fees")
    assert again.status_code == 303 and "已不在待学习列表中" in page(sun, again.location)
    assert data_files(project) == before


# --- refused, nothing written ------------------------------------------------------------------------


@pytest.mark.parametrize("text, intent, rows, status, message", [
    ("我要换结算卡", "change_account", [], 409, "已经是训练样本（data/nlu/change.yml，意图 change_account）"),
    ("我要换结算卡！", "faq/fees", [], 409, "如果那里的意图不对"),
    ("hello，在不在", "greet", [], 409, "在测试集 tests/data/nlu_holdout.yml 中"),
    (FALLBACK_TEXT, "faq/card_not_recognized", [], 400, "不能写进训练数据"),
    ("验证码493817绑不上", "faq/card_not_recognized", [], 400, "不能写进训练数据"),
    (FALLBACK_SHOWN, "message_too_long", [], 400, "“message_too_long”不是可以标注的意图"),
    (FALLBACK_SHOWN, "", [], 400, "请选择意图。"),
    (FALLBACK_SHOWN, "faq/card_not_recognized", [("****0124", "")], 400, "第 1 行实体：请为“****0124”选择类型"),
    (FALLBACK_SHOWN, "faq/card_not_recognized", [("", ""), ("", "bank")], 400, "第 2 行实体：选择了“银行”"),
    (FALLBACK_SHOWN, "faq/card_not_recognized", [("工商银行", "bank")], 400, "必须原样出现在句子里"),
    ("请按[确认](bank)办", "inform", [], 400, "方括号"),
    ("", "inform", [], 400, "句子不能为空"),
])
def test_what_cannot_be_written_is_refused_in_chinese_and_nothing_is_written(
        sun: FlaskClient, project: Path, staff: Session, text: str, intent: str, rows: list, status: int,
        message: str) -> None:
    before = data_files(project)
    key = key_of(FALLBACK_SHOWN)
    reply = label(sun, key, text, intent, *rows)
    assert reply.status_code == status
    html = reply.get_data(as_text=True)
    assert message in html
    assert data_files(project) == before
    no_full_number(html)  # a full number typed is not shown back
    assert f'id="entry-{key}"' in html  # the entry stays, the form shows what was typed (masked)
    assert staff.get(TrainingInboxDecision, key) is None
    assert [event["refused"] for event in audited(staff, "training.example_refused")]


def test_a_label_for_an_unknown_group_writes_nothing(sun: FlaskClient, project: Path) -> None:
    before = data_files(project)
    reply = label(sun, "0123456789abcdef", "一句新话", "change_account")
    assert reply.status_code == 303 and "已不在待学习列表中" in page(sun, reply.location)
    assert label(sun, "not-a-key", "一句新话", "change_account").status_code == 303
    assert data_files(project) == before


# --- the model and its report ------------------------------------------------------------------------


def test_without_a_model_the_page_says_to_train_one(sun: FlaskClient, project: Path) -> None:
    (project / "models/current.tar.gz").unlink()
    html = page(sun)
    assert "还没有训练好的模型" in html and "make model" in html


def test_without_a_report_the_page_says_how_to_make_one(sun: FlaskClient) -> None:
    reply = sun.get("/trainer/report/")
    assert reply.status_code == 404
    assert "还没有模型报告" in reply.get_data(as_text=True) and "make nlu-report" in reply.get_data(as_text=True)


def test_the_report_and_its_files_are_served_from_its_folder_only(sun: FlaskClient, project: Path) -> None:
    folder = project / "var/reports/nlu"
    folder.mkdir(parents=True)
    (folder / "index.html").write_text('<link rel="stylesheet" href="report.css"><img src="confusion.png">模型报告')
    (folder / "report.css").write_text("body { color: #111; }")
    (folder / "confusion.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    (folder / "intent_errors.json").write_text("[]")
    (folder / "sub").mkdir()
    (folder / "sub/x.png").write_bytes(b"\x89PNG")
    (project / "var/reports/secret.png").write_bytes(b"\x89PNG")

    index = sun.get("/trainer/report/")
    assert index.status_code == 200 and index.mimetype == "text/html" and "模型报告" in index.get_data(as_text=True)
    assert index.headers["Cache-Control"] == "no-store"
    assert sun.get("/trainer/report/report.css").mimetype == "text/css"
    assert sun.get("/trainer/report/confusion.png").mimetype == "image/png"
    assert sun.get("/trainer/report").status_code == 308  # to the folder, so relative links resolve
    for outside in ("intent_errors.json", "sub/x.png", "../secret.png", "..%2Fsecret.png", "missing.png"):
        assert sun.get(f"/trainer/report/{outside}").status_code == 404, outside
    assert "查看模型报告" in page(sun)


# --- a group's conversation as a test story -----------------------------------------------------------

LATEST_SENDER = "rest-13800000002"  # a REST sender id that is a phone number: the inbox shows rest-****0002


def story_download(client: FlaskClient, key: str):
    reply = client.get(f"/trainer/messages/{key}/story")
    assert reply.status_code == 200, reply.status_code
    assert reply.content_type == "application/yaml; charset=utf-8"
    return reply


def test_a_trainer_downloads_the_test_story_of_the_groups_latest_conversation(
        sun: FlaskClient, var_dir: Path, staff: Session) -> None:
    """The download runs `bot trainer story --key` (Rasa's story writer) as a child process."""
    store(f"sqlite:///{var_dir / 'rasa_tracker.db'}",
          Conversation(LATEST_SENDER, start=1_800_000_200.0).user("在吗", "greet", 0.9).answered("utter_greet")
          .user(FALLBACK_TEXT, "nlu_fallback", 0.2).answered("utter_default", action="action_fallback"))
    key = key_of(FALLBACK_SHOWN)
    html = page(sun)
    assert f'href="/trainer/messages/{key}/story">导出测试故事</a>' in html
    assert html.count("导出测试故事") == 2 and "放进 tests/stories/" in html and "make test" in html
    assert "13800000002" not in html

    reply = story_download(sun, key)
    assert reply.headers["Content-Disposition"] == f'attachment; filename="test_inbox_{key}.yml"'
    text = reply.get_data(as_text=True)
    [story] = yaml.safe_load(text)["stories"]
    assert story["story"] == masked_conversation_id(LATEST_SENDER)  # the latest conversation, not rest-m1
    assert [step["user"] for step in story["steps"] if "user" in step][0] == "在吗"
    # Real numbers replaced by documented test values, the real sender named by a digest only.
    for real in (CARD, "13800000002", LATEST_SENDER):
        assert real not in text
    assert [event["key"] for event in audited(staff, "training.story_exported")] == [key]


def test_after_a_label_the_story_is_named_after_the_intent(sun: FlaskClient) -> None:
    key = key_of(FALLBACK_SHOWN)
    reply = label(sun, key, FALLBACK_SHOWN, "faq/card_not_recognized")
    html = page(sun, reply.location)
    assert f'<a href="/trainer/messages/{key}/story">导出测试故事</a>' in html.split('id="added"')[1]
    reply = story_download(sun, key)  # labelled, out of the inbox, and still exported
    assert reply.headers["Content-Disposition"] == f'attachment; filename="test_faq_card_not_recognized_{key}.yml"'
    assert "stories:" in reply.get_data(as_text=True)


def test_an_unknown_group_or_a_slow_export_is_said_in_chinese(app: Flask, sun: FlaskClient, staff: Session) -> None:
    for key in ("0123456789abcdef", "not-a-key"):
        reply = sun.get(f"/trainer/messages/{key}/story")
        assert reply.status_code == 303 and "找不到这组消息，无法导出测试故事" in page(sun, reply.location)
    app.config["TRAINER_STORY_TIMEOUT"] = 0.01
    reply = sun.get(f"/trainer/messages/{key_of(FALLBACK_SHOWN)}/story")
    assert reply.status_code == 303
    assert "导出测试故事超时（超过 0.01 秒），没有生成文件" in page(sun, reply.location)
    assert audited(staff, "training.story_exported") == []
