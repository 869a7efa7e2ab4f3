"""The action server's event loop never waits for an SMS provider or the database: while one
conversation's code is still being sent, another conversation's turn completes."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.flow import ActionCheckStatus, ActionResendCode
from bot.ops.demo import seed
from slow_sms import GatedSmsGateway


@pytest.fixture
def slow_sms(engine, session, monkeypatch: pytest.MonkeyPatch):
    seed(session)
    session.commit()
    monkeypatch.setenv("SMS_GATEWAY", "slow_sms:GatedSmsGateway")
    GatedSmsGateway.reset()
    yield GatedSmsGateway
    GatedSmsGateway.release.set()


def _tracker(sender: str, slots: dict, loop: str | None) -> Tracker:
    return Tracker(sender, slots, {"text": "", "intent": {"name": "inform"}}, [], False, None,
                   {"name": loop} if loop else {}, "action_listen")


def test_a_turn_completes_while_another_conversations_code_is_still_being_sent(slow_sms) -> None:
    waiting_for_code = _tracker("conversation-a", {"merchant_number": "822100000000001"}, "identify_form")
    asking_status = _tracker("conversation-b", {"merchant_number": "822100000000004", "merchant_verified": True}, None)

    async def both() -> tuple[list, list, bool]:
        sending = asyncio.create_task(ActionResendCode().run(CollectingDispatcher(), waiting_for_code, {}))
        assert await asyncio.to_thread(slow_sms.entered.wait, 10), "the code was never sent"
        status = CollectingDispatcher()
        await asyncio.wait_for(ActionCheckStatus().run(status, asking_status, {}), timeout=10)
        still_sending = not sending.done()
        slow_sms.release.set()
        await sending
        return [message.get("response") for message in status.messages], slow_sms.sent, still_sending

    answered, sent, still_sending = asyncio.run(both())
    assert still_sending, "the status turn only ran after the SMS"
    assert "utter_status" in answered
    assert [phone for phone, _ in sent] == ["13800000001"]


def test_a_code_the_provider_refused_gets_a_clear_answer_and_counts_nothing(engine, session, monkeypatch) -> None:
    seed(session)
    session.commit()
    monkeypatch.setenv("SMS_GATEWAY", "slow_sms:FailingSmsGateway")
    tracker = _tracker("conversation-c", {"merchant_number": "822100000000001"}, "identify_form")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionResendCode().run(dispatcher, tracker, {}))
    assert [message.get("response") for message in dispatcher.messages] == ["utter_code_not_delivered"]

    monkeypatch.setenv("SMS_GATEWAY", "slow_sms:GatedSmsGateway")  # the provider is back: no wait imposed
    GatedSmsGateway.reset()
    GatedSmsGateway.release.set()
    again = CollectingDispatcher()
    asyncio.run(ActionResendCode().run(again, tracker, {}))
    assert [message.get("response") for message in again.messages] == ["utter_code_sent"]
