"""Every handoff says when an agent will answer: a second message after the handoff one when it is
outside the service hours or nobody is signed in (bot/agents/service_hours.py), none otherwise."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import change_details
from actions.flow import ActionFallback, ActionFileRequest, ActionHandoff
from actions.forms import ValidateChangeForm, _Turn
from bot.agents import accounts, service_hours
from bot.db.engine import session_scope
from bot.db.models import StaffRole
from bot.ops.demo import seed
from bot.responses import DOMAIN_FILE
from bot.workdays import LOCAL_TZ
from domain_fixtures import signed

WEDNESDAY_10 = datetime(2026, 11, 25, 10, 0, tzinfo=LOCAL_TZ)
WEDNESDAY_21 = datetime(2026, 11, 25, 21, 30, tzinfo=LOCAL_TZ)
NOTICES = ("utter_handoff_after_hours", "utter_handoff_no_agent")


@pytest.fixture
def demo_db(engine, session, monkeypatch):
    seed(session)
    session.commit()
    monkeypatch.delenv("AGENT_SERVICE_HOURS", raising=False)
    return engine


def at(moment: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_hours, "utcnow", lambda: moment)


def agent_signed_in(moment: datetime) -> None:
    with session_scope() as session:
        accounts.create_account(session, "wang", "correct horse battery", StaffRole.AGENT, "王芳")
        accounts.sign_in(session, "wang", "correct horse battery", now=moment - timedelta(minutes=3))


def _tracker(slots: dict | None = None, intent: str = "request_human", events: list | None = None,
             loop: str | None = "change_form") -> Tracker:
    slots = {"merchant_number": "822100000000001", "merchant_verified": True, **(slots or {})}
    return Tracker("notice-test", slots, {"text": "转人工", "intent": {"name": intent}}, events or [], False, None,
                   {"name": loop} if loop else {}, "action_listen")


def _handoff(dispatcher: CollectingDispatcher) -> None:
    asyncio.run(ActionHandoff().run(dispatcher, _tracker(), {}))


def _fallback(dispatcher: CollectingDispatcher) -> None:
    fallback = {"event": "user", "text": "？？", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    asyncio.run(ActionFallback().run(dispatcher, _tracker(intent="nlu_fallback", events=[fallback, fallback]), {}))


def _different_name_filing(dispatcher: CollectingDispatcher) -> None:
    slots = {"sign_code": "verified", "idempotency_key": "key-notice", "change_reason": "原卡丢失",
             "new_bank": "中国工商银行", "new_account_number": "6222021000000000124", "holder_name": "李强",
             "holder_id_number": "330102199501206548", "opening_branch": "工商银行上海浦东支行"}
    tracker = _tracker(slots, intent="affirm", loop=None)
    with session_scope() as session:  # the code the merchant typed in the signing form
        signed(session, "822100000000001", tracker.sender_id, change_details(tracker))
    asyncio.run(ActionFileRequest().run(dispatcher, tracker, {}))


def _third_refusal(dispatcher: CollectingDispatcher) -> None:
    form, failures = ValidateChangeForm(), {"holder_id_number": ["****1230", "****1231"]}
    form._take("holder_id_number", "310101198503171234", dispatcher, _tracker({"failed_attempts": failures}, intent="inform"), _Turn())


PATHS = {  # each handoff and the message that announces it
    "request_human": (_handoff, "utter_handoff"),
    "second_fallback": (_fallback, "utter_fallback_handoff"),
    "different_name": (_different_name_filing, "utter_handoff"),
    "third_refusal": (_third_refusal, "utter_too_many_failures"),
}


def _responses(dispatcher: CollectingDispatcher) -> list:
    return [message.get("response") for message in dispatcher.messages]


@pytest.mark.parametrize("path", PATHS)
def test_after_hours_the_merchant_is_told_when_an_agent_answers(path, demo_db, monkeypatch):
    at(WEDNESDAY_21, monkeypatch)
    agent_signed_in(WEDNESDAY_21)  # outside the hours, a signed-in agent changes nothing
    run, announcement = PATHS[path]
    dispatcher = CollectingDispatcher()
    run(dispatcher)
    said = _responses(dispatcher)
    assert said[said.index(announcement) + 1] == "utter_handoff_after_hours", said
    notice = dispatcher.messages[said.index("utter_handoff_after_hours")]
    assert notice["opening"] == "明天（11月26日 周四）9:00" and notice["service_hours"] == "工作日 9:00-18:00"


@pytest.mark.parametrize("path", PATHS)
def test_inside_the_hours_with_nobody_signed_in(path, demo_db, monkeypatch):
    at(WEDNESDAY_10, monkeypatch)
    run, announcement = PATHS[path]
    dispatcher = CollectingDispatcher()
    run(dispatcher)
    said = _responses(dispatcher)
    assert said[said.index(announcement) + 1] == "utter_handoff_no_agent", said
    notice = dispatcher.messages[said.index("utter_handoff_no_agent")]
    assert notice["service_hours"] == "工作日 9:00-18:00" and "opening" not in notice


@pytest.mark.parametrize("path", PATHS)
def test_inside_the_hours_with_an_agent_signed_in_nothing_more_is_said(path, demo_db, monkeypatch):
    at(WEDNESDAY_10, monkeypatch)
    agent_signed_in(WEDNESDAY_10)
    run, announcement = PATHS[path]
    dispatcher = CollectingDispatcher()
    run(dispatcher)
    said = _responses(dispatcher)
    assert announcement in said and not set(NOTICES) & set(said), said


def test_the_notices_are_domain_responses_with_the_variables_the_domain_passes():
    responses = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"]
    after_hours = service_hours.HandoffNotice(service_hours.Availability.AFTER_HOURS,
                                              service_hours.ServiceHours.parse("09:00-18:00"),
                                              WEDNESDAY_21, "明天（11月26日 周四）9:00")
    no_agent = service_hours.HandoffNotice(service_hours.Availability.NO_AGENT_SIGNED_IN,
                                           service_hours.ServiceHours.parse("09:00-18:00"))
    for notice in (after_hours, no_agent):
        [variant] = responses[notice.response]
        assert variant["text"].format(**notice.variables)  # every placeholder has its variable
        assert set(notice.variables) == {name for name in ("service_hours", "opening") if "{" + name + "}" in variant["text"]}


def test_while_waiting_every_message_is_acknowledged_with_the_configured_hours(demo_db, monkeypatch):
    from actions.repair import ActionHandoffWaiting
    from bot.agents.handoff import MERCHANT_REQUEST, open_handoff

    monkeypatch.setenv("AGENT_SERVICE_HOURS", "08:30-20:00")
    with session_scope() as session:
        open_handoff(session, "notice-test", "rest", MERCHANT_REQUEST)
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionHandoffWaiting().run(dispatcher, _tracker(intent="greet", loop=None), {}))
    [message] = dispatcher.messages
    assert (message["response"], message["service_hours"]) == ("utter_handoff_waiting", "工作日 8:30-20:00")
    [variant] = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"]["utter_handoff_waiting"]
    assert "{service_hours}" in variant["text"]
