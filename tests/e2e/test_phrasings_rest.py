"""Every phrasing of tests/phrasings/ over REST against the real assistant: a conversation walks to
the question (answering whatever the form asks, read from the tracker's requested_slot), sends the
phrasing, and the slot must hold the table's value (GET /conversations/<sender>/tracker).

To spare the SMS limits and time, one walk serves every phrasing of a question: the walked
conversation is copied (Rasa's PUT /conversations/<id>/tracker/events) into a new conversation per
phrasing. Questions whose answer spends a code or a merchant (merchant number, the two codes) walk
once per phrasing. Every walk has a merchant of its own (tests/simulation/provision.py: the SMS
limits), like the demo merchant the table names.
"""
from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import pytest

import phrasings
from phrasings import Phrasing

from simulation import provision

from .conftest import Assistant
from .test_change_conversation import Merchant

pytestmark = pytest.mark.servers

MAX_WALK_TURNS = 20


def tracker(assistant: Assistant, sender: str) -> Dict[str, Any]:
    with urllib.request.urlopen(f"{assistant.base_url}/conversations/{sender}/tracker?include_events=ALL",
                                timeout=30) as reply:
        return json.loads(reply.read())


def requested_slot(state: Dict[str, Any]) -> Optional[str]:
    return (state.get("slots") or {}).get("requested_slot")


def fork(assistant: Assistant, sender: str) -> str:
    """A new conversation whose history is a copy of `sender`'s (same slots, same question)."""
    copy = f"{sender}-{uuid.uuid4().hex[:6]}"
    events = tracker(assistant, sender)["events"]
    request = urllib.request.Request(f"{assistant.base_url}/conversations/{copy}/tracker/events",
                                     data=json.dumps(events).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 200
    return copy


# What a merchant answers to each question on the way to the one under test (canonical answers).
Profile = Dict[str, Callable[[Merchant], str]]
MICRO: Profile = {  # a load-test merchant: micro, operator 张伟 (bot/ops/demo.py)
    "merchant_number": lambda chat: chat.number,
    "identify_code": lambda chat: chat.last_code(),
    "route": lambda chat: "线上办理",
    "change_reason": lambda chat: "原卡丢失",
    "holder_id_number": lambda chat: "310101198503171233",
    "new_account_number": lambda chat: "6222021000000000124",
    "new_bank": lambda chat: "工商银行",
    "holder_name": lambda chat: "张伟",
    "opening_branch": lambda chat: "浦东支行",
    "change_confirmed": lambda chat: "确认",
}
SOLE_TRADER: Profile = {**MICRO,  # demo merchant 822100000000002, 李娜便利店
                        "holder_id_number": lambda chat: "440103199008224568",
                        "license_number": lambda chat: "92310115MA1K3B4C59",
                        "new_account_number": lambda chat: "6222021000000000124",
                        "holder_name": lambda chat: "李娜"}
COMPANY: Profile = {**MICRO,  # demo merchant 822100000000003, 上海示例科技有限公司
                    "holder_id_number": lambda chat: "110108197806057895",
                    "license_number": lambda chat: "91310110666007217T",
                    "new_account_number": lambda chat: "121900000000002",
                    "holder_name": lambda chat: "上海示例科技有限公司"}
PROFILES = {"822100000000001": MICRO, "822100000000002": SOLE_TRADER, "822100000000003": COMPANY}


_providers: Dict[Path, provision.Provider] = {}


def new_merchant(assistant: Assistant, template: str = "822100000000001") -> Merchant:
    """A chat with a merchant nobody used yet, like demo merchant `template` (tests/simulation/provision.py)."""
    if assistant.var_dir not in _providers:
        _providers[assistant.var_dir] = provision.Provider(assistant.var_dir, start=0)
    return Merchant(assistant, *_providers[assistant.var_dir].new(template))


def walk_to(chat: Merchant, slot: str, profile: Profile) -> None:
    """Answer whatever the forms ask until they ask for `slot`."""
    chat.say("我要换结算卡")
    for _ in range(MAX_WALK_TURNS):
        asked = requested_slot(tracker(chat.assistant, chat.sender))
        if asked == slot:
            return
        assert asked in profile, f"walking to {slot}: the form asks for {asked!r}"
        chat.say(profile[asked](chat))
    pytest.fail(f"{slot} was never asked")


def merchant_for(assistant: Assistant, question: str) -> tuple[Merchant, Profile]:
    """A merchant like the one the table's phrasings are for (its number and phone of its own)."""
    template = phrasings.load(question).merchant
    return new_merchant(assistant, template), PROFILES[template]


_walked: Dict[str, str] = {}


def at_question(assistant: Assistant, question: str) -> str:
    """A conversation waiting for the answer to `question` (walked once per question, then copied)."""
    if question not in _walked:
        chat, profile = merchant_for(assistant, question)
        walk_to(chat, question, profile)
        _walked[question] = chat.sender
    copy = fork(assistant, _walked[question])
    assert requested_slot(tracker(assistant, copy)) == question
    return copy


def expected_slot(question: str, phrasing: Phrasing) -> Any:
    table = phrasings.load(question)
    return table.slot_value if table.slot_value is not None else phrasing.value


def set_by_last_message(state: Dict[str, Any], slot: str) -> list:
    """Values `slot` was set to since the merchant's last message (the flow may reset a slot right
    after using it: the offline route closes the form)."""
    events = state.get("events") or []
    last_user = max((index for index, event in enumerate(events) if event.get("event") == "user"), default=-1)
    return [event.get("value") for event in events[last_user + 1:]
            if event.get("event") == "slot" and event.get("name") == slot]


def check_slot(assistant: Assistant, sender: str, question: str, phrasing: Phrasing, typed: str,
               reply: str = "") -> None:
    state = tracker(assistant, sender)
    slots = {**state["slots"]}
    values = set_by_last_message(state, question)
    if phrasing.value is not None and phrasing.value in values:
        slots[question] = phrasing.value  # filled, then used and cleared by the flow
    if phrasing.flag("unknown"):
        # no value to keep: the bot explains where to find it (or records it as left to the review)
        assert not slots.get(question) or "知道" not in str(slots[question]), slots.get(question)
        return
    if phrasing.value is False:
        assert slots.get(question) is not True, f"{typed!r} confirmed the change"
        return
    assert slots.get(question) == expected_slot(question, phrasing), (
        f"{typed!r}: {question} is {slots.get(question)!r}, asked next: {slots.get('requested_slot')!r}; "
        f"intent {(state.get('latest_message') or {}).get('intent')}; replies {reply!r}")


def cases(*questions: str) -> list:
    return [pytest.param(question, phrasing, id=f"{question}-{phrasing.text}")
            for question in questions for phrasing in phrasings.load(question).phrasings]


FORKED = ("route", "change_reason", "holder_id_number", "license_number", "new_account_number", "new_bank",
          "holder_name", "opening_branch", "change_confirmed")


@pytest.mark.parametrize("question, phrasing", cases(*FORKED))
def test_phrasing_answers_the_question(assistant, question, phrasing):
    sender = at_question(assistant, question)
    replies = assistant.say(sender, phrasing.text)  # fails on no reply
    reply = " / ".join(reply.get("text", "") for reply in replies)
    check_slot(assistant, sender, question, phrasing, phrasing.text, reply)


@pytest.mark.parametrize("question, phrasing", cases("merchant_number"))
def test_merchant_number_phrasing(assistant, question, phrasing):
    chat = new_merchant(assistant)
    number = chat.number
    chat.say("我要换结算卡")
    assert requested_slot(tracker(assistant, chat.sender)) == "merchant_number"
    typed = phrasings.retarget_merchant_number(phrasing.text, number)
    chat.say(typed)
    assert tracker(assistant, chat.sender)["slots"].get("merchant_number") == number, typed


@pytest.mark.parametrize("question, phrasing", cases("identify_code", "sign_code"))
def test_code_phrasing(assistant, question, phrasing):
    chat = new_merchant(assistant)
    walk_to(chat, question, MICRO)
    typed = phrasings.render(phrasing.text, chat.last_code())
    reply = chat.say(typed)
    slots = tracker(assistant, chat.sender)["slots"]
    if question == "identify_code":
        assert slots.get("merchant_verified") is True, f"{typed!r} did not identify: {reply!r}"
    else:  # the signing code files the request (the flow may clear the form's slots afterwards)
        assert re.search(r"CR\d{8}-[0-9A-Z]{4}", reply) or slots.get("sign_code") == "verified", (
            f"{typed!r} did not sign: {reply!r}")
