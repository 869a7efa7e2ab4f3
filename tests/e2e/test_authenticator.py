"""enable_2fa over REST with the real servers: identify with an SMS code, add the secret to an
authenticator (pyotp plays the app), confirm with its first code, then sign a change with it."""
from __future__ import annotations

import re
import time

import pyotp
import pytest

from e2e.test_change_conversation import Merchant, fill_details, requests_of

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


def test_enrol_an_authenticator_then_sign_a_change_with_it(assistant):
    chat = Merchant(assistant, "822100000000009", "13800000009")
    assert "商户编号" in chat.say("怎么开双重认证")
    assert "验证码" in chat.say(chat.number)
    reply = chat.say(chat.last_code())
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
    assert "动态口令" in chat.say("确认")  # the signing question offers the authenticator
    filed = chat.say(next_totp(secret, after=first))
    reference = re.search(r"CR\d{8}-[0-9A-Z]{4}", filed).group()
    assert [request["reference"] for request in requests_of(assistant, chat.number)] == [reference]
