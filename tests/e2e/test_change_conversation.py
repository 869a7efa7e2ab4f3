"""Whole change-account conversations over REST with the demo merchants, reading the codes from
the SMS outbox and checking what was filed (spec/CONVERSATION.md §3-§5)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import pytest

from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.servers

CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


class Merchant:
    """One merchant's chat: says things, reads its codes from the outbox."""

    def __init__(self, assistant, number: str, phone: str) -> None:
        self.assistant = assistant
        self.number = number
        self.phone = phone
        self.sender = f"e2e-{uuid.uuid4().hex[:10]}"
        self.seen_sms = len(self._sms())

    def say(self, message: str) -> str:
        replies = self.assistant.say(self.sender, message)
        return "\n".join(reply.get("text", "") for reply in replies)

    def _sms(self) -> list:
        outbox = self.assistant.var_dir / "sms_outbox.jsonl"
        if not outbox.exists():
            return []
        return [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines() if line.strip()]

    def new_sms(self) -> list:
        messages = self._sms()
        fresh, self.seen_sms = messages[self.seen_sms:], len(messages)
        return [message for message in fresh if message["to"] == self.phone]

    def last_code(self) -> str:
        texts = [message["text"] for message in self.new_sms()]
        codes = [CODE.findall(text) for text in texts]
        assert codes and len(codes[-1]) == 1, f"no single code in {texts}"
        return codes[-1][0]

    def identify(self, opening: str = "我要换结算卡") -> str:
        assert "商户编号" in self.say(opening)
        assert "验证码" in self.say(self.number)
        return self.say(self.last_code())


def requests_of(assistant, merchant: str) -> list:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "requests", "list", "--merchant", merchant, "--json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        env={"BOT_VAR_DIR": str(assistant.var_dir), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(result.stdout)


def fill_details(chat: Merchant, card: str = "6222021000000000124", bank: str = "中国工商银行",
                 holder: str = "张伟", holder_id: str = "310101198503171233") -> str:
    """The card first: its BIN names the bank, so the bank is never asked for a known card."""
    assert "原因" in chat.say("线上办理")
    assert "身份证" in chat.say("原卡丢失")
    assert "卡号" in chat.say(holder_id)
    named = chat.say(card)
    assert f"{bank} 借记卡，尾号{card[-4:]}" in named and "户名" in named
    assert "支行" in chat.say(holder)
    return chat.say("工商银行上海浦东支行")


def test_happy_path_files_one_request(assistant):
    chat = Merchant(assistant, "822100000000001", "13800000001")
    reply = chat.identify()
    assert "身份验证成功" in reply and "线上办理" in reply
    confirmation = fill_details(chat)
    assert "6222 02** **** ***0 124" in confirmation
    assert "6222021000000000124" not in confirmation and "310101198503171233" not in confirmation
    signing = chat.say("确认")
    assert "尾号0124" in signing
    sign_sms = [m for m in chat.new_sms()]
    assert sign_sms and "0124" in sign_sms[-1]["text"] and "6222021000000000124" not in sign_sms[-1]["text"]
    code = CODE.findall(sign_sms[-1]["text"])[0]
    filed = chat.say(code)
    assert "还有其他可以帮您的吗" in filed
    reference = re.search(r"CR\d{8}-[0-9A-Z]{4}", filed).group()
    requests = requests_of(assistant, "822100000000001")
    assert [request["reference"] for request in requests] == [reference]
    assert requests[0]["card_last4"] == "0124" and requests[0]["account_name"] == "张伟"
    assert requests[0]["status"] in ("awaiting_documents", "under_review")
    notices = chat.new_sms()
    assert notices and reference in notices[-1]["text"]
    # Saying the code again does not file a second request.
    chat.say(code)
    assert len(requests_of(assistant, "822100000000001")) == 1


def test_credit_card_refused_then_fixed(assistant):
    chat = Merchant(assistant, "822100000000006", "13800000006")
    chat.identify()
    assert "原因" in chat.say('/inform{"route": "online"}')  # the 线上办理 button's payload
    chat.say("更换开户银行")
    chat.say("420106198709093215")
    refused = chat.say("6225751000000004")
    assert "信用卡" in refused
    assert "户名" in chat.say("6225883000000005")
    assert "支行" in chat.say("刘洋")
    assert "6225 88** **** 0005" in chat.say("招商银行深圳南山支行")


def test_correction_at_confirmation(assistant):
    chat = Merchant(assistant, "822100000000007", "13800000007")
    chat.identify()
    confirmation = fill_details(chat, card="6227002000000000340", bank="中国建设银行", holder="孙丽",
                                holder_id="330102199501206548")
    assert "6227 00** **** ***0 340" in confirmation and "6227002000000000340" not in confirmation
    assert "卡号" in chat.say("卡号输错了")
    again = chat.say("6227 0020 0000 0000 340")
    # The card names its bank again, and the form goes straight back to the summary.
    assert "已识别：中国建设银行 借记卡，尾号0340" in again
    assert "请核对" in again and "6227 00** **** ***0 340" in again


def test_wrong_identification_codes_lock_the_conversation(assistant):
    chat = Merchant(assistant, "822100000000008", "13800000008")
    chat.say("我要换结算卡")
    chat.say("822100000000008")
    real = chat.last_code()
    wrong = "000000" if real != "000000" else "111111"
    replies = [chat.say(wrong) for _ in range(5)]
    assert "还可以再试" in replies[0]
    assert "锁定" in replies[-1]
    assert "锁定" in chat.say(real)  # even the right code is refused while locked (in this conversation:
    # whoever typed the number cannot lock the merchant out, tests/codes/test_lockout.py)


def test_overdue_request_status_is_escalated(assistant):
    chat = Merchant(assistant, "822100000000004", "13800000004")
    reply = chat.identify("我的申请审核到哪了")
    assert "抱歉" in reply and "升级" in reply
    assert "还有其他可以帮您的吗" in reply  # a status answer ends with an offer of more help
    requests = requests_of(assistant, "822100000000004")
    assert requests[0]["status"] == "escalated"


def test_request_human_then_back_to_the_bot_at_the_same_question(assistant):
    """A handoff is a state: every later message is acknowledged, nothing is asked, and
    "不等了，继续自助办理" comes back to the question where the form stopped, values kept."""
    from simulation import provision  # a merchant of its own: the demo's 822100000000009 enrols an authenticator

    chat = Merchant(assistant, *provision.Provider(assistant.var_dir, start=91000).new())
    chat.identify()
    chat.say("线上办理")
    assert "身份证" in chat.say("原卡丢失")
    assert "人工" in chat.say("转人工")
    waiting = chat.say("你好")
    assert "人工客服" in waiting and "继续自助办理" in waiting and "身份证" not in waiting
    assert "继续自助办理" in chat.say("还要多久")
    back = chat.say("不等了，继续自助办理")
    assert "身份证" in back  # the question where the form stopped
    assert "卡号" in chat.say("310101198503171233")


def test_agent_hands_the_merchant_back_to_the_bot(assistant):
    from bot.db.engine import make_engine, session_factory, session_scope
    from bot.agents.handback import hand_back_to_bot
    from bot.agents.handoff import open_handoff_for

    chat = Merchant(assistant, "822100000000003", "13800000003")
    assert "人工" in chat.say("我要投诉，太慢了")
    assert "继续自助办理" in chat.say("在吗")
    engine = make_engine(f"sqlite:///{assistant.var_dir / 'bot.db'}")
    with session_scope(session_factory(engine)) as session:
        handoff = open_handoff_for(session, chat.sender)
        assert handoff.reason == "complaint"
        hand_back_to_bot(session, handoff.id, "agent:小王", base_url=assistant.base_url)
    engine.dispose()
    assert "结算助手" in chat.say("你好")


def test_two_fallbacks_in_a_row_hand_off(assistant):
    # The intent itself (Rasa's payload syntax): which texts the classifier is unsure of changes
    # with every training; the dialogue's answer to being unsure twice must not.
    chat = Merchant(assistant, "822100000000005", "13800000005")
    first = chat.say("/nlu_fallback")
    assert "没有理解" in first
    second = chat.say("/nlu_fallback")
    assert "人工" in second


def test_different_name_is_filed_for_review_and_handed_off(assistant):
    chat = Merchant(assistant, "822100000000002", "13800000002")
    chat.identify()
    chat.say("线上办理")
    chat.say("更换开户银行")
    assert "统一社会信用代码" in chat.say("440103199008224568")  # a sole trader: licence next
    assert "卡号" in chat.say("92310115MA1K3B4C59")
    chat.say("6222021000000000124")
    assert "非同名" in chat.say("王芳")
    chat.say("工商银行上海浦东支行")
    chat.say("确认")
    code = CODE.findall(chat.new_sms()[-1]["text"])[0]
    filed = chat.say(code)
    assert "已受理" in filed and "人工" in filed
    requests = requests_of(assistant, "822100000000002")
    assert requests[0]["needs_manual_review"] is True
