"""The trainer inbox (bot.training.inbox): which real messages it lists and why, redacted and
grouped, and the trainers' decisions kept in the application database."""
from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent, TrainingInboxDecision
from bot.training import inbox
from bot.training.inbox import group_key, normalise, read_inbox, redact_for_training

from .tracker_script import Conversation, store

CARD = "6222021000000000124"  # documented test card (ICBC)
ID_NUMBER = "310101198503171233"  # demo merchant 822100000000001's holder
PHONE = "13800000001"
CODE = "493817"
SECRETS = [CARD, ID_NUMBER, PHONE, CODE]


@pytest.fixture
def tracker_url(var_dir: Path) -> str:
    # Where the assistant keeps it by default (endpoints.yml), in the test's var/.
    return f"sqlite:///{var_dir / 'rasa_tracker.db'}"


def only(entries, text):
    found = [entry for entry in entries if entry.text == text]
    assert len(found) == 1, [entry.text for entry in entries]
    return found[0]


def texts(entries):
    return sorted(entry.text for entry in entries)


def assert_no_secret(entries) -> None:
    dumped = json.dumps([entry.as_json() for entry in entries], ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in dumped


# --- which messages, and why -----------------------------------------------------------------------


def test_a_message_that_fell_back(tracker_url: str) -> None:
    chat = (Conversation("m1").user("你好", "greet").answered("utter_greet")
            .user("签购单", "nlu_fallback", 0.182, runner_up="deny").answered("utter_default", "抱歉，我没理解，能换个说法吗？",
                                                                       action="action_fallback"))
    store(tracker_url, chat)
    [entry] = read_inbox(None, tracker_url)
    assert (entry.text, entry.reasons, entry.predicted_intent, entry.count) == ("签购单", ("fallback",), "nlu_fallback", 1)
    assert entry.confidence == 0.182  # of the intent it was not sure enough of
    assert entry.ranking[0] == ("deny", 0.182) and entry.conversations == ("m1",)
    assert entry.last_seen.endswith("+08:00") and entry.reason_labels == ("未识别（兜底）",)
    assert entry.key == group_key(normalise("签购单"))


def test_a_confident_intent_the_dialogue_could_not_act_on_fell_back_too(tracker_url: str) -> None:
    store(tracker_url, Conversation("m1").user("那就这样", "affirm", 0.97)
          .answered("utter_default", action="action_default_fallback"))
    assert [entry.reasons for entry in read_inbox(None, tracker_url)] == [("fallback",)]


def test_low_confidence_below_the_threshold(tracker_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store(tracker_url, Conversation("m1")
          .user("钱怎么少了", "check_status", 0.45).answered("action_check_status", action="action_check_status")
          .user("审核要几天", "faq", 0.999, faq="faq/processing_time", faq_confidence=0.97).answered("utter_faq")
          .user("押金能退吗", "faq", 0.99, faq="faq/fees", faq_confidence=0.5).answered("utter_faq"))
    entries = read_inbox(None, tracker_url)
    assert len(entries) == 2
    unsure, faq_unsure = only(entries, "钱怎么少了"), only(entries, "押金能退吗")
    assert (faq_unsure.text, faq_unsure.predicted_intent, faq_unsure.confidence) == ("押金能退吗", "faq/fees", 0.5)
    assert (unsure.text, unsure.reasons, unsure.confidence, unsure.predicted_intent) == (
        "钱怎么少了", ("low_confidence",), 0.45, "check_status")

    assert inbox.low_confidence_threshold() == inbox.DEFAULT_LOW_CONFIDENCE == 0.6
    monkeypatch.setenv("TRAINER_LOW_CONFIDENCE", "0.98")
    assert inbox.low_confidence_threshold() == 0.98
    assert texts(read_inbox(None, tracker_url)) == ["审核要几天", "押金能退吗", "钱怎么少了"]
    assert texts(read_inbox(None, tracker_url, threshold=0.3)) == []  # the argument wins
    for wrong in ("abc", "1.5", "-0.1"):
        monkeypatch.setenv("TRAINER_LOW_CONFIDENCE", wrong)
        with pytest.raises(ValueError, match="TRAINER_LOW_CONFIDENCE"):
            read_inbox(None, tracker_url)


def test_the_message_before_a_correction(tracker_url: str) -> None:
    store(tracker_url,
          Conversation("said").user("能用我老婆的卡收款吗", "faq", 0.99, faq="faq/same_name_rule").answered("utter_faq")
          .user("不是这个意思", "deny", 0.83).answered("utter_deny_no_context"),
          Conversation("denied").user("我想换个卡", "out_of_scope", 0.9).answered("utter_out_of_scope")
          .user("不对", "deny", 0.97).answered("utter_deny_no_context"),
          Conversation("corrected").user("改一下手机号", "change_account", 0.9).action("action_start_change")
          .action("identify_form").loop("identify_form").bot("utter_ask_merchant_number", "请告诉我您的商户编号。").listen()
          .user("我说的是手机号不是结算卡", "correct_info", 0.95).answered("action_correct_field"))
    entries = read_inbox(None, tracker_url)
    assert texts(entries) == ["我想换个卡", "改一下手机号", "能用我老婆的卡收款吗"]
    assert {entry.reasons for entry in entries} == {("corrected",)}
    assert only(entries, "能用我老婆的卡收款吗").reason_labels == ("商户随后纠正",)


def test_a_no_that_answers_a_question_or_corrects_a_value_is_no_correction(tracker_url: str) -> None:
    store(tracker_url,
          # "还有其他需要吗？" - "不用了": an answer.
          Conversation("asked").user("谢谢", "thank").answered("utter_thank", "不客气，还有其他需要吗？")
          .user("不用了", "deny", 0.95).answered("utter_deny_no_context"),
          # In a form: the merchant corrects their own value.
          Conversation("form").user("我要换结算卡", "change_account").action("action_start_change")
          .action("identify_form").loop("identify_form").bot("utter_ask_merchant_number").listen()
          .user("822100000000001", "inform").action("identify_form").bot("utter_ask_identify_code").listen()
          .user("不对", "deny", 0.97).action("identify_form").bot("utter_invalid_otp_format").listen()
          .user("卡号输错了", "correct_info", 0.97).answered("action_correct_field"))
    assert read_inbox(None, tracker_url) == []


def test_a_rephrasing_after_a_fallback_suggests_the_intent(tracker_url: str) -> None:
    store(tracker_url, Conversation("m1")
          .user("签购单", "nlu_fallback", 0.18).answered("utter_default", "能换个说法吗？", action="action_fallback")
          .user("签购单上的商户编号在哪看", "faq", 0.97, faq="faq/required_documents").answered("utter_faq"))
    [entry] = read_inbox(None, tracker_url)
    assert (entry.text, entry.reasons, entry.suggested_intent) == ("签购单", ("corrected", "fallback"), "faq/required_documents")


def test_the_message_before_the_merchant_asked_for_a_person(tracker_url: str) -> None:
    store(tracker_url, Conversation("m1")
          .user("钱怎么还没到账", "check_status", 0.9).answered("action_check_status", action="action_check_status")
          .user("转人工", "request_human", 0.999).action("action_handoff").bot("utter_handoff")
          .slot("handoff", {"id": 1, "resume": None}).listen()
          # Written to the agent: the bot only acknowledges, nothing for the trainer.
          .user("你们怎么回事", "complain", 0.3).answered("utter_handoff_waiting", action="action_handoff_waiting"))
    [entry] = read_inbox(None, tracker_url)
    assert (entry.text, entry.reasons, entry.reason_labels) == ("钱怎么还没到账", ("before_handoff",), ("随后转人工",))


def test_the_second_fallback_in_a_row_hands_off(tracker_url: str) -> None:
    store(tracker_url, Conversation("m1")
          .user("签购单", "nlu_fallback", 0.18).answered("utter_default", action="action_fallback")
          .user("钱", "nlu_fallback", 0.25).action("action_fallback").bot("utter_fallback_handoff")
          .slot("handoff", {"id": 7, "resume": None}).listen())
    entries = read_inbox(None, tracker_url)
    assert only(entries, "钱").reasons == ("before_handoff", "fallback")
    assert "before_handoff" not in only(entries, "签购单").reasons


def test_handoffs_for_business_reasons_say_nothing_about_understanding(tracker_url: str) -> None:
    store(tracker_url, Conversation("m1")
          .user("我的申请审核到哪了", "check_status", 0.99).action("action_check_status").bot("utter_request_overdue")
          .slot("handoff", {"id": 2, "resume": None}).listen())
    assert read_inbox(None, tracker_url) == []


def test_a_correction_in_the_next_session_is_none(tracker_url: str) -> None:
    store(tracker_url, Conversation("m1").user("押金", "faq", 0.99, faq="faq/fees").answered("utter_faq")
          .new_session().user("不是这个意思", "deny", 0.9).answered("utter_deny_no_context"))
    assert read_inbox(None, tracker_url) == []


def test_payloads_and_empty_messages_are_not_for_trainers(tracker_url: str) -> None:
    store(tracker_url, Conversation("m1")
          .user("/request_human", "request_human", 0.2).answered("utter_handoff", action="action_handoff")
          .user('/document_uploaded{"document_id": "a1b2"}', "document_uploaded", 0.1).answered("utter_document_received")
          .user("不等了，继续自助办理", "resume_bot", 0.4).answered("utter_resumed_nothing", action="action_resume_bot")
          .user("   ", "nlu_fallback", 0.1).answered("utter_default", action="action_fallback")
          .user("/message_too_long", "message_too_long", 1.0).answered("utter_message_too_long"))
    assert read_inbox(None, tracker_url) == []


def test_no_tracker_store_yet_is_an_empty_inbox(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert read_inbox(None, url) == []
    assert not (tmp_path / "none.db").exists()


# --- redaction -------------------------------------------------------------------------------------


def test_card_id_phone_and_code_are_redacted(tracker_url: str) -> None:
    store(tracker_url, Conversation(f"rest-{PHONE}")
          .user(f"卡号{CARD}可以吗", "inform", 0.4).answered("utter_default", action="action_fallback")
          .user(f"身份证 {ID_NUMBER}", "inform", 0.5).answered("utter_ok")
          .user(f"手机{PHONE}收不到验证码{CODE}", "resend_code", 0.5).answered("action_resend_code", action="action_resend_code")
          .user("六二二二 零二一零 ０００００ ００００ １２４", "inform", 0.5).answered("utter_ok"))
    entries = read_inbox(None, tracker_url)
    assert texts(entries) == ["****0124", "卡号****0124可以吗", "手机****0001收不到验证码******",
                              "身份证 ****1233"]
    assert entries[0].conversations == ("rest-****0001",)
    assert_no_secret(entries)


@pytest.mark.parametrize("typed, shown", [
    (f"验证码{CODE}", "验证码******"),
    ("动态口令是 4938 17", "动态口令是 ******"),
    ("验证码：8812", "验证码：****"),
    ("四九三八一七", "******"),
    ("幺幺幺二二二", "******"),
    ("493817", "******"),
    (f"收到了{CODE}对吗", "收到了******对吗"),
])
def test_one_time_codes_are_masked_whole(typed: str, shown: str) -> None:
    assert redact_for_training(typed) == shown


@pytest.mark.parametrize("text", [
    "2026年押金5000元退吗", "尾号0124的卡", "2026-11-25提交的", "10:30以后", "100000元以上", "押金300",
    "营业执照92310115MA1K3B4C59", "iPhone15能用吗", "一五一十地说", "三五天能到吗", "T+1到账", "热线400-000-0000",
    "商户编号822100000000001", "",
])
def test_ordinary_words_dates_and_amounts_stay(text: str) -> None:
    redacted = redact_for_training(text)
    assert "******" not in redacted
    if text != "商户编号822100000000001":  # a merchant number is a long number: masked as anywhere
        assert redacted == text


def test_doctests() -> None:
    assert doctest.testmod(inbox).failed == 0


# --- grouping --------------------------------------------------------------------------------------


def test_near_duplicates_are_one_group_with_a_count(tracker_url: str) -> None:
    conversations = [Conversation(f"m{n}", start=1_800_000_000.0 + 100 * n) for n in range(6)]
    conversations[0].user("审核要几天？", "faq", 0.5, faq="faq/processing_time")
    conversations[1].user("审核要几天啊", "faq", 0.5, faq="faq/processing_time")
    conversations[2].user("审核 要 几天", "faq", 0.5, faq="faq/processing_time")
    conversations[3].user("审核要几天吗", "faq", 0.4, faq="faq/processing_time")  # similar (Jaccard 0.8)
    conversations[4].user(f"卡号{CARD}不对", "inform", 0.5)
    conversations[5].user("卡号6228485000000000781不对！", "inform", 0.5)
    for conversation in conversations:
        conversation.answered("utter_faq")
    store(tracker_url, *conversations)
    entries = read_inbox(None, tracker_url)
    assert len(entries) == 2
    cards, review = entries  # newest first
    assert (review.count, review.text, review.confidence) == (4, "审核要几天吗", 0.4)
    assert review.key == group_key("审核要几天")  # the oldest message names the group
    assert review.examples == ("审核要几天吗", "审核 要 几天", "审核要几天啊", "审核要几天？")
    assert review.conversations == ("m3", "m2", "m1", "m0")
    assert (cards.count, cards.key) == (2, group_key("卡号#不对"))
    assert cards.examples == ("卡号****0781不对！", "卡号****0124不对")

    # The key stays when more of the same come.
    store(tracker_url, Conversation("m9", start=1_900_000_000.0).user("审核要几天呢", "faq", 0.5, faq="faq/processing_time"))
    again = {entry.key: entry.count for entry in read_inbox(None, tracker_url)}
    assert again == {review.key: 5, cards.key: 2}


@pytest.mark.parametrize("a, b", [("审核要几天", "审核要几天？！"), ("ＰＯＳ机坏了", "pos机坏了吧"), ("啊，我要换卡", "我要换卡"),
                                  ("卡号****0124", "卡号 ****0781")])
def test_normalised_alike(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize("a, b", [("哈尔滨银行", "尔滨银行"), ("换卡", "换卡吗"), ("3天", "5天")])
def test_normalised_apart(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


# --- decisions -------------------------------------------------------------------------------------


def _audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_dismiss_is_idempotent_audited_and_kept(tracker_url: str, session: Session, engine) -> None:
    store(tracker_url, Conversation("m1").user("签购单", "nlu_fallback", 0.18).answered("utter_default", action="action_fallback")
          .user("押金", "faq", 0.4, faq="faq/fees").answered("utter_faq"))
    key = only(read_inbox(session, tracker_url), "签购单").key
    inbox.dismiss(session, key, actor="trainer:wang")
    inbox.dismiss(session, key, actor="trainer:li")
    assert len(_audits(session, "training.inbox_dismissed")) == 1
    assert texts(read_inbox(session, tracker_url)) == ["押金"]

    # Kept: another session (the console's next request, the CLI) sees it; the message coming again stays out.
    store(tracker_url, Conversation("m2", start=1_900_000_000.0).user("签购单？", "nlu_fallback", 0.2)
          .answered("utter_default", action="action_fallback"))
    from bot.db.engine import session_factory

    with session_factory(engine)() as other:
        assert texts(read_inbox(other, tracker_url)) == ["押金"]
        [decided] = [entry for entry in read_inbox(other, tracker_url, include_decided=True) if entry.key == key]
        assert (decided.decision, decided.count) == ("dismissed", 2)
        row = other.get(TrainingInboxDecision, key)
        assert (row.decision.value, row.actor, row.intent) == ("dismissed", "trainer:wang", None)
    assert inbox.find_entry(session, key, tracker_url).decision == "dismissed"


def test_a_label_takes_the_group_out_idempotently(tracker_url: str, session: Session) -> None:
    store(tracker_url, Conversation("m1").user("押金", "faq", 0.4, faq="faq/fees").answered("utter_faq"))
    [entry] = read_inbox(session, tracker_url)
    inbox.record_label(session, entry.key, "faq/fees", actor="trainer:wang")
    inbox.record_label(session, entry.key, "faq/fees", actor="trainer:wang")
    assert read_inbox(session, tracker_url) == []
    [decided] = read_inbox(session, tracker_url, include_decided=True)
    assert (decided.decision, decided.labelled_intent) == ("labelled", "faq/fees")
    assert [event.detail for event in _audits(session, "training.inbox_labelled")] == [
        {"key": entry.key, "intent": "faq/fees", "previous_intent": None}]

    inbox.dismiss(session, entry.key, actor="trainer:li")  # labelled stays labelled
    inbox.record_label(session, entry.key, "faq/fees", actor="trainer:li")
    assert session.get(TrainingInboxDecision, entry.key).decision.value == "labelled"
    assert len(_audits(session, "training.inbox_labelled")) == 1 and _audits(session, "training.inbox_dismissed") == []


def test_a_dismissed_group_can_still_be_labelled(tracker_url: str, session: Session) -> None:
    store(tracker_url, Conversation("m1").user("押金", "faq", 0.4, faq="faq/fees").answered("utter_faq"))
    [entry] = read_inbox(session, tracker_url)
    inbox.dismiss(session, entry.key, actor="trainer:wang")
    inbox.record_label(session, entry.key, "faq/fees", actor="trainer:li")
    row = session.get(TrainingInboxDecision, entry.key)
    assert (row.decision.value, row.intent, row.actor) == ("labelled", "faq/fees", "trainer:li")


@pytest.mark.parametrize("key", ["", "xyz", "0123456789ABCDEF", "0123456789abcde", CARD])
def test_a_bad_key_is_refused(session: Session, key: str) -> None:
    with pytest.raises(ValueError) as refused:
        inbox.dismiss(session, key, actor="trainer:wang")
    assert CARD not in str(refused.value)
    with pytest.raises(ValueError):
        inbox.record_label(session, key, "greet", actor="trainer:wang")


@pytest.mark.parametrize("intent", ["", "Greet", "faq/", "nlu_fallback", "greet; drop", "a" * 101])
def test_a_bad_intent_is_refused(session: Session, intent: str) -> None:
    with pytest.raises(ValueError):
        inbox.record_label(session, "0123456789abcdef", intent, actor="trainer:wang")
    assert session.get(TrainingInboxDecision, "0123456789abcdef") is None


def test_an_application_database_without_the_decisions_table(tracker_url: str, var_dir: Path) -> None:
    from bot.db.engine import make_engine, session_factory
    from bot.db.migrate import upgrade

    url = f"sqlite:///{var_dir / 'old.db'}"
    upgrade(url, "0007")
    engine = make_engine(url)
    store(tracker_url, Conversation("m1").user("押金", "faq", 0.4, faq="faq/fees").answered("utter_faq"))
    with session_factory(engine)() as old:
        assert texts(read_inbox(old, tracker_url)) == ["押金"]
    engine.dispose()
