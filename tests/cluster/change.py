"""A load-test merchant's whole change conversation on the cluster, each turn sent where the test
says (a replica directly, or nginx).

The merchants are `bot demo seed-load-test`'s (822100000000NNN, phone 13900000NNN, operator 张伟,
micro, every pre-check passed); each can file only once, so every test takes indices of its own.
Codes are read from the SMS outbox in the cluster's var dir (both action servers write there), as
the merchant reads them on the registered phone."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from typing import List, Sequence

import sqlalchemy as sa
from e2e.conftest import Assistant

from bot.masking import redact
from bot.ops.demo import LOAD_TEST_ID_NUMBER, LOAD_TEST_NAME, LOAD_TEST_NEW_CARD, DemoMerchant, load_test_merchant
from bot.settings import PROJECT_ROOT

from .conftest import Cluster

CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
REFERENCE = re.compile(r"CR\d{8}-[0-9A-Z]{4}")
MERCHANT_NUMBER, SMS_CODE = "<merchant number>", "<newest code>"  # placeholders in HAPPY_PATH

# What the merchant says and a phrase the reply must hold (tests/e2e/test_change_conversation.py's
# happy path): the identification code, the change form, the signing code that files the request.
HAPPY_PATH = [
    ("我要换结算卡", "商户编号"),
    (MERCHANT_NUMBER, "验证码"),
    (SMS_CODE, "身份验证成功"),  # the identification code
    ("线上办理", "原因"),
    ("原卡丢失", "身份证"),
    (LOAD_TEST_ID_NUMBER, "卡号"),
    (LOAD_TEST_NEW_CARD, "户名"),  # the card's BIN names the bank: no bank question
    (LOAD_TEST_NAME, "支行"),
    ("工商银行上海浦东支行", "请核对"),
    ("确认", f"尾号{LOAD_TEST_NEW_CARD[-4:]}"),  # the signing code goes out
    (SMS_CODE, "CR"),  # the signing code: filed, the reply names the reference
]
SIGNING_CODE_TURN = len(HAPPY_PATH) - 1


def seed_merchants(cluster: Cluster, start: int, count: int) -> List[DemoMerchant]:
    """Load-test merchants `start` .. `start + count - 1` in the cluster's database."""
    environment = {**os.environ, "BOT_VAR_DIR": str(cluster.var_dir), "DATABASE_URL": cluster.database_url,
                   "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    environment.pop("BOT_DATA_KEY", None)  # the cluster's key file in its var dir
    subprocess.run([sys.executable, "-m", "bot", "demo", "seed-load-test", "--start", str(start),
                    "--count", str(count)], env=environment, cwd=PROJECT_ROOT, check=True, capture_output=True)
    return [load_test_merchant(index) for index in range(start, start + count)]


def shown(message: str) -> str:
    """The message as a failure may show it: no card, ID or phone number, no code in full."""
    return redact(CODE.sub("******", message))


def text_of(replies: List[dict]) -> str:
    return "\n".join(reply.get("text", "") for reply in replies)


def user_texts(events: List[dict]) -> List[str]:
    return [event["text"] for event in events if event["event"] == "user"]


def filed_references(cluster: Cluster, merchant: DemoMerchant) -> List[str]:
    """The references of the merchant's change requests, as the application database holds them."""
    engine = sa.create_engine(cluster.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(
                "SELECT r.reference FROM change_requests r JOIN merchants m ON m.id = r.merchant_id "
                "WHERE m.merchant_number = :number ORDER BY r.id"), {"number": merchant.number}).scalars())
    finally:
        engine.dispose()


class ChangeChat:
    """One merchant's conversation; `say` sends a message to the member of the cluster it is given."""

    def __init__(self, cluster: Cluster, merchant: DemoMerchant) -> None:
        self.cluster = cluster
        self.merchant = merchant
        self.sender = f"cluster-{uuid.uuid4().hex[:10]}"
        self.said: List[str] = []  # every message answered by the dialogue, in order

    def message(self, turn: int) -> str:
        """What the merchant says at HAPPY_PATH[turn], placeholders filled in."""
        said = HAPPY_PATH[turn][0]
        if said == MERCHANT_NUMBER:
            return self.merchant.number
        if said == SMS_CODE:
            return self.newest_code()
        return said

    def say(self, where: Assistant, message: str, expect: str = "") -> str:
        """The reply (text) of `where` to the message; fails on silence, the apology or a reply
        without `expect`."""
        reply = text_of(where.say(self.sender, message))
        assert expect in reply, f"{shown(message)!r} got {reply!r}, not {expect!r}"
        self.said.append(message)
        return reply

    def turn(self, turn: int, where: Assistant) -> str:
        return self.say(where, self.message(turn), HAPPY_PATH[turn][1])

    def turns(self, turns: Sequence[int], members: Sequence[Assistant]) -> List[str]:
        """HAPPY_PATH's turns `turns`, each to the next of `members` in turn."""
        return [self.turn(turn, members[index % len(members)]) for index, turn in enumerate(turns)]

    def newest_code(self) -> str:
        outbox = self.cluster.var_dir / "sms_outbox.jsonl"
        codes = [code for line in outbox.read_text(encoding="utf-8").splitlines() if line.strip()
                 for message in [json.loads(line)] if message.get("to") == self.merchant.phone
                 for code in CODE.findall(message.get("text", ""))]
        assert codes, f"no code was sent to the merchant's phone ({self.merchant.phone[-4:]})"
        return codes[-1]

    def tracker(self, where: Assistant) -> dict:
        return where.rasa_api(f"/conversations/{self.sender}/tracker")
