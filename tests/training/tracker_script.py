"""Conversations written into a tracker store as the assistant writes them: Rasa's event dicts
(`Event.as_dict()`, as read back from a real conversation of the assistant), encrypted in the
`events` table (bot.training.tracker_events). For the trainer inbox's tests."""
from __future__ import annotations

import json
import uuid
from typing import Any

from bot.db.engine import make_engine
from bot.training import tracker_events

MODEL_METADATA = {"model_id": "4c5af870ae01410599a55859b82d18b8", "assistant_id": "settlement-assistant"}
FAQ_ANSWER = {"text": "结算卡变更申请一般在1个工作日内审核完成，最长不超过5个工作日。"}


def parse_data(text: str, intent: str, confidence: float, faq: str | None = None,
               faq_confidence: float = 0.99, runner_up: str = "affirm") -> dict[str, Any]:
    """What the NLU pipeline returned (FallbackClassifier puts nlu_fallback first at its threshold)."""
    if intent == "nlu_fallback":
        ranking = [{"name": "nlu_fallback", "confidence": 0.3}, {"name": runner_up, "confidence": confidence},
                   {"name": "deny", "confidence": confidence / 2}]
        top = {"name": "nlu_fallback", "confidence": 0.3}
    else:
        rest = (1.0 - confidence) / 2
        ranking = [{"name": intent, "confidence": confidence}, {"name": runner_up, "confidence": rest},
                   {"name": "deny", "confidence": rest / 2}]
        top = {"name": intent, "confidence": confidence}
    if faq is not None:
        top["full_retrieval_intent_name"] = faq
    selected = faq or "faq/fees"
    return {
        "intent": top,
        "entities": [],
        "text": text,
        "message_id": uuid.uuid4().hex,
        "metadata": {},
        "text_tokens": [[0, len(text)]],
        "intent_ranking": ranking,
        # The response selector answers for every message; only a FAQ question reads it.
        "response_selector": {
            "all_retrieval_intents": ["faq"],
            "faq": {"response": {"responses": [FAQ_ANSWER], "confidence": faq_confidence if faq else 0.18,
                                 "intent_response_key": selected, "utter_action": f"utter_{selected}"},
                    "ranking": []},
        },
    }


class Conversation:
    """One conversation's events, a turn at a time; `store` writes them all."""

    def __init__(self, sender: str, start: float = 1_800_000_000.0) -> None:
        self.sender = sender
        self.clock = start
        self.rows: list[tuple[str, str, float, dict[str, Any]]] = []
        self.new_session()

    def _add(self, kind: str, **data: Any) -> None:
        self.clock += 0.01
        event = {"event": kind, "timestamp": self.clock, "metadata": dict(MODEL_METADATA), **data}
        self.rows.append((self.sender, kind, self.clock, event))

    def new_session(self) -> "Conversation":
        self._add("slot", name="session_started_metadata", value={"client_address": "127.0.0.1"})
        self._add("action", name="action_session_start", policy=None, confidence=1.0)
        self._add("session_started")
        self._add("slot", name="brand_name", value="结算助手")
        self._add("action", name="action_listen", policy=None, confidence=None)
        return self

    def user(self, text: str, intent: str, confidence: float = 0.99, faq: str | None = None,
             faq_confidence: float = 0.99, runner_up: str = "affirm") -> "Conversation":
        self.clock += 5.0
        self._add("user", text=text, parse_data=parse_data(text, intent, confidence, faq, faq_confidence, runner_up),
                  input_channel="rest", message_id=uuid.uuid4().hex,
                  metadata={"client_address": "127.0.0.1", **MODEL_METADATA})
        self._add("user_featurization", use_text_for_featurization=False)
        return self

    def action(self, name: str, policy: str = "RulePolicy") -> "Conversation":
        self._add("action", name=name, policy=policy, confidence=1.0)
        return self

    def bot(self, response: str, text: str = "好的。") -> "Conversation":
        self._add("bot", text=text, data={"elements": None, "quick_replies": None, "buttons": None,
                                          "attachment": None, "image": None, "custom": None},
                  metadata={"utter_action": response})
        return self

    def slot(self, name: str, value: Any) -> "Conversation":
        self._add("slot", name=name, value=value)
        return self

    def loop(self, name: str | None) -> "Conversation":
        self._add("active_loop", name=name)
        return self

    def listen(self) -> "Conversation":
        return self.action("action_listen")

    def answered(self, response: str, text: str = "好的。", action: str | None = None) -> "Conversation":
        """The usual turn's end: one action (the response itself, or `action`) says `response`."""
        return self.action(action or response).bot(response, text).listen()


def store(url: str, *conversations: Conversation) -> None:
    engine = make_engine(url)
    tracker_events._metadata.create_all(engine)
    with engine.begin() as connection:
        for conversation in conversations:
            for sender, kind, timestamp, data in conversation.rows:
                connection.execute(tracker_events.events_table.insert().values(
                    sender_id=sender, type_name=kind, timestamp=timestamp, data=json.dumps(data, ensure_ascii=False)))
    engine.dispose()
