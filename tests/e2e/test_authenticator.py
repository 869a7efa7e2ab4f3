"""enable_2fa over REST with the real servers: an enrolment code by SMS (its text says an
authenticator is being added), add the secret to an authenticator (pyotp plays the app), confirm
with its first code; in its first 24 hours it may not sign a change: its code is refused with the
reason and the SMS code signs."""
from __future__ import annotations

import re
import time

import pyotp
import pytest

from e2e.test_change_conversation import CODE, Merchant, fill_details, requests_of

pytestmark = pytest.mark.servers

SECRET = re.compile(r"密钥：([A-Z2-7 ]+)（")


def next_totp(secret: str, after: str | None = None) -> str:
    """The app's current code, or the next one when `after` was just used (each works once)."""
    totp = pyotp.TOTP(secret)
    code = totp.now()
    while code == after:
        time.sleep(1)
        code = totp.now()
    return code


def test_enrol_an_authenticator_which_may_not_sign_in_its_first_day(assistant):
    chat = Merchant(assistant, "822100000000009", "13800000009")
    assert "商户编号" in chat.say("怎么开双重认证")
    assert "验证码" in chat.say(chat.number)
    [enrolment_sms] = chat.new_sms()
    assert "开启动态口令" in enrolment_sms["text"]  # the code says what it is for
    reply = chat.say(CODE.search(enrolment_sms["text"]).group())
    assert "身份验证成功" in reply
    secret = SECRET.search(reply).group(1).replace(" ", "")
    assert "动态口令" in reply

    assert "验证码" in chat.say("123")  # not a code at all: asked again, nothing counted
    first = next_totp(secret)
    assert "动态口令已开启" in chat.say(first)
    assert "动态口令" in chat.new_sms()[-1]["text"]  # the notice to the registered phone

    reply = chat.say("我要换结算卡")
    assert "线上办理" in reply
    confirmation = fill_details(chat, card="6222021000000000124", bank="工商银行", holder="吴芳",
                                holder_id="210102199103032469")
    assert "确认" in confirmation
    signing = chat.say("确认")
    assert "短信验证码" in signing and "动态口令" not in signing  # a new authenticator does not sign yet
    refused = chat.say(next_totp(secret, after=first))
    assert "满24小时" in refused and "短信验证码" in refused
    assert requests_of(assistant, chat.number) == []
    filed = chat.say(chat.last_code())  # the signing SMS still signs
    reference = re.search(r"CR\d{8}-[0-9A-Z]{4}", filed).group()
    assert [request["reference"] for request in requests_of(assistant, chat.number)] == [reference]
