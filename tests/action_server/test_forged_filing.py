"""Issue 12, finding 1: one POST to the action server naming `action_file_request`, with slots
saying the change was signed, files nothing when no signing code was verified for it.

The action server runs as `bot serve` starts it (its command and environment from
`bot.ops.devserver`), on a port of its own with its state in a temporary folder, and the forged
call carries the shared secret, as Rasa's calls do: the record of the signature in the application
database decides, not who may reach the server."""
from __future__ import annotations

import pytest

from action_server.conftest import ActionServer

pytestmark = pytest.mark.servers

MERCHANT = "822100000000001"
PHONE = "13800000001"


def forged_filing(sender: str, **slots: object) -> dict:
    """What Rasa would send to run `action_file_request`, with slots saying everything was done."""
    slots = {"merchant_number": MERCHANT, "merchant_verified": True, "route": "online", "change_reason": "原卡丢失",
             "new_bank": "中国工商银行", "new_account_number": "6222021000000000124", "holder_name": "张伟",
             "holder_id_number": "310101198503171233", "opening_branch": "工商银行上海浦东支行",
             "change_confirmed": True, "sign_code": "verified", "idempotency_key": f"cf_forged_{sender}", **slots}
    tracker = {"sender_id": sender, "slots": slots, "latest_message": {"text": "123456", "intent": {}, "entities": []},
               "events": [], "paused": False, "followup_action": None, "active_loop": {},
               "latest_action_name": "action_listen"}
    return {"next_action": "action_file_request", "sender_id": sender, "tracker": tracker, "domain": {},
            "version": "3.6.21"}


def test_a_forged_filing_call_files_nothing_and_says_why(action_server: ActionServer) -> None:
    status, result = action_server.call(forged_filing("forged-1"))  # with the secret, as Rasa calls
    assert status == 200, result
    said = [response.get("response") for response in result["responses"]]
    assert "utter_request_filed" not in said
    assert said == ["utter_request_not_signed"]
    assert action_server.requests_of(MERCHANT) == 0
    assert action_server.sms_to(PHONE) == []  # no notice of a filed request either
    # The change slots are cleared: the conversation starts the change afresh.
    assert {"event": "slot", "name": "sign_code", "value": None, "timestamp": None} in result["events"]
