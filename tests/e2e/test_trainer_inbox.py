"""The trainer inbox on a real conversation with the real assistant: a message that falls back, one
the classifier is unsure of and a card number typed before asking for a person are listed by
`bot trainer inbox --json`, redacted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.servers

CARD = "6222021000000000124"  # documented test card
# Messages the model is likely to fall back on / be unsure of; the test takes the first that does
# (asked through /model/parse), so retraining on new examples does not break it.
FALLBACK_CANDIDATES = ["签购单", "我想", "然后呢", "什么", "卡", "钱", "了"]
UNSURE_CANDIDATES = ["阿斯顿发个好", "费率多少", "是不是", "这个", "的", "天气", "流量卡", "qwerty"]
# Intents that answer without starting a form or a handoff, so the conversation stays where it is.
HARMLESS_INTENTS = {"resend_code", "faq", "out_of_scope", "affirm", "greet", "thank", "bot_challenge",
                    "repeat_question", "inform", "goodbye", "skip_for_later"}
THRESHOLD = 0.99  # high, so a real message the model classified counts as unsure


def _sender() -> str:
    # No digits: conversation ids are shown with long numbers masked.
    return "inbox-" + uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))


def _first(assistant, candidates: list[str], accept) -> tuple[str, dict]:
    for text in candidates:
        status, parsed = assistant.post("/model/parse", {"text": text})
        assert status == 200
        if accept(parsed):
            return text, parsed
    pytest.fail(f"the model is sure of every candidate: {candidates}")


def _inbox(assistant, *args: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "TRACKER_DATABASE_URL", "TRAINER_LOW_CONFIDENCE", "BOT_DATA_KEY")}
    env.update(BOT_VAR_DIR=str(assistant.var_dir), PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "trainer", "inbox", "--json", *args], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stderr
    assert CARD not in result.stdout
    return json.loads(result.stdout)


def test_a_fallback_an_unsure_message_and_a_card_before_a_handoff_are_listed_redacted(assistant):
    fallback, _ = _first(assistant, FALLBACK_CANDIDATES, lambda parsed: parsed["intent"]["name"] == "nlu_fallback")
    unsure, parsed = _first(assistant, UNSURE_CANDIDATES, lambda parsed: (
        parsed["intent"]["name"] in HARMLESS_INTENTS and parsed["intent"]["confidence"] < THRESHOLD))
    sender = _sender()
    assistant.say(sender, "你好")
    assistant.say(sender, fallback)
    assistant.say(sender, unsure)
    assistant.say(sender, f"卡号{CARD}")
    assistant.say(sender, "转人工")

    rows = [row for row in _inbox(assistant, "--threshold", str(THRESHOLD)) if sender in row["conversations"]]
    by_text = {row["text"]: row for row in rows}
    assert "fallback" in by_text[fallback]["reasons"] and by_text[fallback]["predicted_intent"] == "nlu_fallback"
    assert "low_confidence" in by_text[unsure]["reasons"]
    assert by_text[unsure]["confidence"] <= parsed["intent"]["confidence"] + 1e-3  # FAQ: the lower of two
    assert "before_handoff" in by_text["卡号****0124"]["reasons"]
    assert "转人工" not in by_text
