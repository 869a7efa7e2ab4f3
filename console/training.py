"""The trainers' pages: the inbox of real messages to learn from, labelling them into data/nlu/, and
the NLU report (issue 13, items 1 to 3).

A thin adapter over bot/training: `inbox` (what merchants wrote that the bot got wrong, redacted and
grouped; a trainer's decisions), `labelling` (append an example to the training data, refused when
it is already there, held out, unsafe or not an intent trainers label) and `model_state` (is the
model older than the data). Every route admits trainers only. Forms post and redirect (303): after
a label, the inbox shows the diff of the file written, read back from the audit trail, so a reload
shows it again and writes nothing. A label that cannot be written shows the page again with the
trainer's edits kept and the reason in Chinese; nothing is written.

A group's latest conversation downloads as a redacted test story (`bot trainer story --key`, for
tests/stories/): run as a child process with the console's environment (the same tracker store and
data key), because exporting reads the conversation with Rasa's story writer and the console never
imports Rasa (seconds of start-up and much memory, in every console process, for an occasional
click). A decided group exports too: after a label is when the trainer wants the regression test.

Where the project is (data/nlu/ written, the report read, the fingerprint computed): the app's
`PROJECT_DIR`, by default `TRAINER_PROJECT_DIR` or the checkout the console runs from; the report
folder `NLU_REPORT_DIR`, by default PROJECT_DIR/var/reports/nlu (`make nlu-report` writes it).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request,
                   send_from_directory, url_for)
from sqlalchemy import select

from bot import settings
from bot.agents import accounts
from bot.db.models import AuditEvent, StaffRole, audit
from bot.masking import redact
from bot.training import inbox, labelling, model_state
from bot.training.labelling import AlreadyPresent, EntityMark, InvalidExample, UnknownIntent, UnsafeExample
from console.auth import current_staff, requires

blueprint = Blueprint("training", __name__)

PROJECT_DIR_ENV = "TRAINER_PROJECT_DIR"
REPORT_FOLDER = Path("var/reports/nlu")
# What of the report folder is served: the page and what it links (Rasa's JSON files stay out).
REPORT_FILES = (".html", ".css", ".png", ".svg")
ENTITY_ROWS = 3
ADDED = "training.example_added"
STORY_EXPORTED = "training.story_exported"
STORY_TIMEOUT_SECONDS = 120  # Rasa's start-up is most of it (about 15 s here)

# The intent contract (spec/CONVERSATION.md §2) in the trainers' words; another intent shows its name.
INTENT_LABELS = {
    "greet": "打招呼", "goodbye": "告别", "thank": "感谢", "affirm": "肯定/确认", "deny": "否定",
    "bot_challenge": "问是不是机器人", "change_account": "要换结算卡", "check_status": "查申请进度",
    "request_human": "要转人工", "complain": "投诉/不满", "cancel": "取消办理", "correct_info": "改正已填信息",
    "inform": "提供信息（卡号、银行、姓名、原因…）", "enable_2fa": "开通双重认证", "resend_code": "重发验证码",
    "out_of_scope": "与业务无关", "repeat_question": "请再说一遍", "skip_for_later": "这项稍后再填",
    "resume_bot": "不等人工，继续自助", "nlu_fallback": "未识别",
    "faq/required_documents": "常见问题：需要什么材料", "faq/processing_time": "常见问题：审核多久",
    "faq/fees": "常见问题：收费/押金", "faq/one_machine_one_account": "常见问题：一机一户",
    "faq/offline_change": "常见问题：网点办理", "faq/settlement_time": "常见问题：到账时间",
    "faq/same_name_rule": "常见问题：能否用他人的卡", "faq/card_not_recognized": "常见问题：卡号无法识别",
    "faq/security": "常见问题：安全与隐私", "faq/credit_card": "常见问题：信用卡结算",
}
ENTITY_LABELS = {
    "card_number": "卡号", "bank": "银行", "name": "户名/姓名", "id_number": "身份证号",
    "license_number": "营业执照号", "phone": "手机号", "merchant_id": "商户编号", "request_id": "申请编号",
    "otp_code": "验证码",
}

# What the trainer reads.
SAVED = "已保存为训练样本：写入 {path}，意图 {intent}。重新训练后生效。"
DISMISSED = "已忽略这组消息，它不会再出现在待学习列表中。"
GONE = "这组消息已不在待学习列表中（可能已被其他训练师处理）。"
NO_INTENT = "请选择意图。"
UNKNOWN_INTENT = "“{intent}”不是可以标注的意图，请从列表中选择。"
UNSAFE = ("这句话含有完整的卡号、身份证号、手机号或验证码，不能写进训练数据。"
          "请改成脱敏后的写法（例如 ****0124、******）再保存。")
ALREADY_TRAINED = "这句话已经是训练样本（{path}，意图 {intent}），没有重复写入。{hint}"
OTHER_INTENT_HINT = "如果那里的意图不对，请在该文件中直接修改。"
HELD_OUT = ("这句话在测试集 {path} 中（意图 {intent}）。测试集的句子只用来衡量模型，不能写进训练数据；"
            "请换一种说法，或忽略这条消息。")
INVALID = {
    InvalidExample.EMPTY: "句子不能为空。",
    InvalidExample.TOO_LONG: "句子太长：训练样本最多 {max} 个字。".format(max=settings.MAX_MESSAGE_CHARS),
    InvalidExample.UNPRINTABLE: "句子里有看不见的控制字符，请删掉后再保存。",
    InvalidExample.MARKUP: "句子里的方括号会被 Rasa 当成实体标注（[文字](类型)），请删掉方括号或改用【】。",
    InvalidExample.ENTITY_NOT_IN_TEXT: "标注的实体文字必须原样出现在句子里（同一处不能标注两次）。",
    InvalidExample.UNKNOWN_ENTITY: "请从列表中选择实体类型。",
}
ROW_WITHOUT_TYPE = "第 {row} 行实体：请为“{value}”选择类型。"
ROW_WITHOUT_VALUE = "第 {row} 行实体：选择了“{label}”，请填写它在句子中的文字。"
NO_STORY_GROUP = "找不到这组消息，无法导出测试故事。"
STORY_GONE = "这组消息所在的对话已不在对话记录中，无法导出测试故事。"
STORY_TIMED_OUT = "导出测试故事超时（超过 {seconds} 秒），没有生成文件，请稍后再试。"
STORY_FAILED = "导出测试故事失败，没有生成文件。请稍后再试；一直失败请联系技术同事（消息组编号 {key}）。"


@blueprint.record_once
def _defaults(state: Any) -> None:
    """The project the pages work on, unless the app's configuration names one (tests do)."""
    state.app.config.setdefault("PROJECT_DIR", Path(os.environ.get(PROJECT_DIR_ENV) or settings.PROJECT_ROOT))
    state.app.config.setdefault("NLU_REPORT_DIR", None)


def project_dir() -> Path:
    return Path(current_app.config["PROJECT_DIR"])


def report_dir() -> Path:
    return Path(current_app.config["NLU_REPORT_DIR"] or project_dir() / REPORT_FOLDER)


def _actor() -> str:
    staff = current_staff()
    assert staff is not None  # @requires ran first
    return accounts.actor(staff)


def intent_label(intent: str | None) -> str:
    return INTENT_LABELS.get(intent or "", "")


# --- the inbox -------------------------------------------------------------------------------------


@dataclass
class Draft:
    """What a trainer typed into one entry's form, shown again when it could not be saved."""

    key: str
    text: str
    intent: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # (value, entity) per row, as typed
    error: str = ""


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) of a unified diff, numbers masked: the context lines are other examples."""
    lines = []
    for line in diff.splitlines():
        kind = ("file" if line.startswith(("+++", "---")) else "hunk" if line.startswith("@@")
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "context")
        lines.append((kind, redact(line)))
    return lines


def _added(event_id: str | None) -> dict[str, Any] | None:
    """The example a label wrote (its audit event): file, intent, diff."""
    if not event_id or not event_id.isdigit():
        return None
    event = g.db.execute(select(AuditEvent).where(AuditEvent.id == int(event_id),
                                                  AuditEvent.action == ADDED)).scalar_one_or_none()
    if event is None:
        return None
    detail = event.detail or {}
    return {"path": detail.get("path", ""), "intent": detail.get("intent", ""), "key": detail.get("key", ""),
            "diff": _diff_lines(detail.get("diff", ""))}


MODEL_STATE_TEXT = {
    model_state.ModelState.STALE: ("模型比训练数据旧：上次训练之后，训练数据、领域文件或配置有改动（包括这里保存的样本）。"
                                   "请在项目目录运行 make model 重新训练，再运行 make test 检查，都通过后再提交。"),
    model_state.ModelState.MISSING: "还没有训练好的模型：请在项目目录运行 make model，再运行 make test。",
    model_state.ModelState.CURRENT: "模型与当前训练数据一致。",
}


def _inbox_page(draft: Draft | None = None, status: int = 200) -> Any:
    project = project_dir()
    state = model_state.model_state(project)
    return render_template(
        "training/inbox.html", staff=current_staff(), entries=inbox.read_inbox(g.db), draft=draft,
        added=_added(request.args.get("added")), model_state=state.value, model_state_text=MODEL_STATE_TEXT[state],
        intents=[(intent, intent_label(intent)) for intent in labelling.label_choices(project)],
        entities=[(entity, ENTITY_LABELS.get(entity, entity)) for entity in labelling.entity_choices(project)],
        reason_labels=inbox.REASON_LABELS, intent_label=intent_label, entity_rows=ENTITY_ROWS,
        report_exists=(report_dir() / "index.html").is_file()), status


@blueprint.get("/trainer")
@requires(StaffRole.TRAINER)
def inbox_page():  # type: ignore[no-untyped-def]
    return _inbox_page()


def _undecided(key: str) -> inbox.InboxEntry | None:
    entry = inbox.find_entry(g.db, key)
    return entry if entry is not None and entry.decision is None else None


class HalfFilledRow(ValueError):
    """An entity row with a value and no type, or a type and no value."""


def _marks(rows: list[tuple[str, str]]) -> list[EntityMark]:
    """The entity rows filled in (empty rows ignored)."""
    marks = []
    for number, (value, entity) in enumerate(rows, start=1):
        if not value.strip() and not entity:
            continue
        if not entity:
            raise HalfFilledRow(ROW_WITHOUT_TYPE.format(row=number, value=value.strip()))
        if not value.strip():
            raise HalfFilledRow(ROW_WITHOUT_VALUE.format(row=number, label=ENTITY_LABELS.get(entity, entity)))
        marks.append(EntityMark(value, entity))
    return marks


def _refusal(refused: Exception, intent: str) -> tuple[str, int]:
    """The Chinese message and HTTP status for a label that cannot be written."""
    if isinstance(refused, HalfFilledRow):
        return str(refused), 400
    if isinstance(refused, AlreadyPresent):
        path = refused.path.as_posix()
        if path.startswith("data/"):
            hint = OTHER_INTENT_HINT if refused.intent != intent else ""
            return ALREADY_TRAINED.format(path=path, intent=refused.intent, hint=hint), 409
        return HELD_OUT.format(path=path, intent=refused.intent), 409
    if isinstance(refused, UnknownIntent):
        return (UNKNOWN_INTENT.format(intent=intent) if intent else NO_INTENT), 400
    if isinstance(refused, UnsafeExample):
        return UNSAFE, 400
    assert isinstance(refused, InvalidExample)
    return INVALID[refused.reason], 400


REFUSALS = (HalfFilledRow, AlreadyPresent, UnknownIntent, UnsafeExample, InvalidExample)


@blueprint.post("/trainer/messages/<key>/label")
@requires(StaffRole.TRAINER)
def label(key: str):  # type: ignore[no-untyped-def]
    if _undecided(key) is None:
        flash(GONE, "error")
        return redirect(url_for(".inbox_page"), code=303)
    form = request.form
    intent = form.get("intent", "").strip()
    draft = Draft(key, form.get("text", ""), intent,
                  [(form.get(f"entity_value_{row}", ""), form.get(f"entity_type_{row}", "").strip())
                   for row in range(ENTITY_ROWS)])
    try:
        appended = labelling.append_example(project_dir(), draft.text, intent, _marks(draft.rows))
    except REFUSALS as refused:
        draft.error, status = _refusal(refused, intent)
        # Shown again as typed, but a full number or a code typed into the form never on the page.
        draft.text = inbox.redact_for_training(draft.text)
        draft.rows = [(inbox.redact_for_training(value), entity) for value, entity in draft.rows]
        # Why, not what: the text may be what the refusal is about (a full number).
        audit(g.db, _actor(), "training.example_refused", key=key, intent=intent, refused=type(refused).__name__,
              reason=getattr(refused, "reason", None))
        g.db.commit()
        return _inbox_page(draft, status)
    # The entry leaves the inbox (record_label audits and commits), then the file written is
    # recorded with its diff: what the page shows next, and who added which line.
    inbox.record_label(g.db, key, intent, _actor())
    event = audit(g.db, _actor(), ADDED, key=key, intent=intent, path=appended.path.as_posix(), line=appended.line,
                  diff=appended.diff)
    g.db.commit()
    flash(SAVED.format(path=appended.path.as_posix(), intent=intent), "info")
    return redirect(url_for(".inbox_page", added=event.id, _anchor="added"), code=303)


@blueprint.post("/trainer/messages/<key>/dismiss")
@requires(StaffRole.TRAINER)
def dismiss(key: str):  # type: ignore[no-untyped-def]
    if _undecided(key) is None:
        flash(GONE, "error")
    else:
        inbox.dismiss(g.db, key, _actor())  # audits and commits
        flash(DISMISSED, "info")
    return redirect(url_for(".inbox_page"), code=303)


# --- a group's conversation as a test story ----------------------------------------------------------


class StoryExportFailed(Exception):
    """`bot trainer story --key` gave no story; the message is what the trainer reads."""


def _story_yaml(key: str) -> str:
    """The test story of the group's latest conversation, from `bot trainer story --key` run as a
    child process (the console never imports Rasa) with the console's environment."""
    timeout = current_app.config.get("TRAINER_STORY_TIMEOUT", STORY_TIMEOUT_SECONDS)
    command = [sys.executable, "-m", "bot", "trainer", "story", "--key", inbox.checked_key(key)]
    try:
        result = subprocess.run(command, cwd=settings.PROJECT_ROOT, capture_output=True, timeout=timeout,
                                env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False)
    except subprocess.TimeoutExpired as exc:
        current_app.logger.warning("bot trainer story --key %s: no story after %s s", key, timeout)
        raise StoryExportFailed(STORY_TIMED_OUT.format(seconds=timeout)) from exc
    if result.returncode == 0:
        return result.stdout.decode("utf-8")
    said = result.stderr.decode("utf-8", "replace").strip().splitlines()
    current_app.logger.warning("bot trainer story --key %s: exit code %s: %s", key, result.returncode,
                               redact(said[-1]) if said else "(nothing on stderr)")
    # 1: the tracker store no longer holds the conversation (or it has no merchant message).
    raise StoryExportFailed(STORY_GONE if result.returncode == 1 else STORY_FAILED.format(key=key))


def story_filename(entry: inbox.InboxEntry) -> str:
    """test_<intent>_<key>.yml: the intent the trainer labelled the group with, else the one the
    merchant's rephrasing was understood as, else `inbox` (`rasa test` reads test_*.yml only)."""
    intent = entry.labelled_intent or entry.suggested_intent or "inbox"
    return f"test_{re.sub(r'[^a-z0-9_]', '_', intent)}_{entry.key}.yml"


@blueprint.get("/trainer/messages/<key>/story")
@requires(StaffRole.TRAINER)
def story(key: str):  # type: ignore[no-untyped-def]
    entry = inbox.find_entry(g.db, key)  # decided ones too
    if entry is None:
        flash(NO_STORY_GROUP, "error")
        return redirect(url_for(".inbox_page"), code=303)
    g.db.rollback()  # no transaction held open while the export runs
    try:
        text = _story_yaml(entry.key)
    except StoryExportFailed as failed:
        flash(str(failed), "error")
        return redirect(url_for(".inbox_page", _anchor=f"entry-{entry.key}"), code=303)
    audit(g.db, _actor(), STORY_EXPORTED, key=entry.key)
    g.db.commit()
    response = Response(text, content_type="application/yaml; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{story_filename(entry)}"'
    return response


# --- the NLU report -------------------------------------------------------------------------------


@blueprint.get("/trainer/report/")
@requires(StaffRole.TRAINER)
def report():  # type: ignore[no-untyped-def]
    if not (report_dir() / "index.html").is_file():
        return render_template("training/no_report.html", staff=current_staff()), 404
    return _report_file("index.html")


@blueprint.get("/trainer/report/<path:filename>")
@requires(StaffRole.TRAINER)
def report_file(filename: str):  # type: ignore[no-untyped-def]
    if "/" in filename or "\\" in filename or not filename.endswith(REPORT_FILES):
        abort(404)  # only the page and what it links, in that folder
    return _report_file(filename)


def _report_file(filename: str) -> Any:
    response = send_from_directory(report_dir(), filename, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
