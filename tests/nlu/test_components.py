"""The custom Rasa graph components, run the way Rasa runs them (process on Messages)."""
from __future__ import annotations

from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.rasa.nlu.length_guard import TRUNCATED_FLAG, MessageLengthGuard
from bot.rasa.nlu.value_extractor import ValueEntityExtractor


def test_value_extractor_adds_rasa_entities_with_offsets():
    text = "新卡 6216-6040-0000-0000-568，中行的，户名周强"
    message = Message(data={TEXT: text})
    ValueEntityExtractor({}).process([message])
    entities = {entity["entity"]: entity for entity in message.get(ENTITIES)}
    assert entities["card_number"]["value"] == "6216604000000000568"
    assert entities["bank"]["value"] == "中国银行"
    assert entities["name"]["value"] == "周强"
    for entity in entities.values():
        assert entity["extractor"] == "ValueEntityExtractor"
        assert text[entity["start"]:entity["end"]]


def test_value_extractor_keeps_entities_of_other_extractors():
    message = Message(data={TEXT: "工行", ENTITIES: [{"entity": "other", "start": 0, "end": 1, "value": "x"}]})
    ValueEntityExtractor({}).process([message])
    assert [entity["entity"] for entity in message.get(ENTITIES)] == ["other", "bank"]


def test_length_guard_truncates_and_records_the_original_length():
    guard = MessageLengthGuard({"max_chars": 500})
    message = Message(data={TEXT: "卡" * 100_000})
    guard.process([message])
    assert len(message.get(TEXT)) == 500
    assert message.get(TRUNCATED_FLAG) == 100_000


def test_length_guard_leaves_normal_messages_alone():
    message = Message(data={TEXT: "我要换结算卡"})
    MessageLengthGuard({"max_chars": 500}).process([message])
    assert message.get(TEXT) == "我要换结算卡" and message.get(TRUNCATED_FLAG) is None
