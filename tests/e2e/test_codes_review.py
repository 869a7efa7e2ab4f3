"""The identification step over REST with the real servers after the security review (issue 12,
finding 4): a merchant number nobody registered gets the very replies a registered one gets (no
masked phone, a code typed is wrong with the same attempts left, the sixth lock), and no SMS."""
from __future__ import annotations

import pytest

from e2e.test_change_conversation import Merchant

pytestmark = pytest.mark.servers


def test_an_unregistered_number_is_answered_like_a_registered_one(assistant):
    from simulation import provision  # a merchant of its own: the demo merchants' codes are other tests'

    number, phone = provision.Provider(assistant.var_dir, start=93700).new()
    registered = Merchant(assistant, number, phone)
    unregistered = Merchant(assistant, "822177777777777", phone)
    transcripts = []
    for chat in (registered, unregistered):
        replies = [chat.say("我要换结算卡"), chat.say(chat.number)]
        replies += [chat.say("000000") for _ in range(5)]
        transcripts.append(replies)
    assert transcripts[0] == transcripts[1]
    sent, *guesses = transcripts[0][1:]
    assert "如果该商户编号已登记，验证码已发送至其预留手机号" in sent and "****" not in sent
    assert [("还可以再试" in reply, "锁定" in reply) for reply in guesses] == [(True, False)] * 4 + [(False, True)]
    to_the_phone = registered.new_sms()
    assert len(to_the_phone) == 1  # the registered number's code; none for the other
