"""Rasa graph component: the rule-based value extractor (`bot.extraction`) as an entity extractor.

Emits `card_number`, `bank`, `name`, `id_number`, `license_number`, `phone`, `merchant_id`,
`request_id` and `otp_code` entities with normalised values and offsets into the message text.
Needs no download and no training data; `rasa train` just stores it in the model.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.extraction.values import ValueExtractor


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class ValueEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Adds the values found by `bot.extraction.ValueExtractor` to each message's entities."""

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.extractor = ValueExtractor()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ValueEntityExtractor":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            found = [
                {
                    ENTITY_ATTRIBUTE_TYPE: value.entity,
                    ENTITY_ATTRIBUTE_START: value.start,
                    ENTITY_ATTRIBUTE_END: value.end,
                    ENTITY_ATTRIBUTE_VALUE: value.value,
                    ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
                    EXTRACTOR: self.__class__.__name__,
                }
                for value in self.extractor.extract(message.get(TEXT))
            ]
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
