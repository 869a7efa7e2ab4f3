"""First component of the NLU pipeline: no message longer than MAX_MESSAGE_CHARS reaches the rest.

The channels already answer an over-long message with a Chinese explanation before it gets here;
this guard covers every other caller (the HTTP API's /model/parse, tests, future channels), because
one 100,000-character message is enough to exhaust the server's memory in the featurizers.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.settings import MAX_MESSAGE_CHARS

TRUNCATED_FLAG = "truncated_from_length"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False
)
class MessageLengthGuard(GraphComponent):
    """Truncates the text of over-long messages and records the original length."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_chars": MAX_MESSAGE_CHARS}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.max_chars = int(config["max_chars"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MessageLengthGuard":
        return cls(config)

    def _bound(self, message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str) and len(text) > self.max_chars:
            message.set(TEXT, text[: self.max_chars])
            message.set(TRUNCATED_FLAG, len(text), add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._bound(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._bound(example)
        return training_data
