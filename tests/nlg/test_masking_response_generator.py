"""What the merchant reads never holds a full card, ID or phone number (bot/rasa/nlg.py), even
where a response says back the merchant's own words."""
from __future__ import annotations

import asyncio
from typing import Any, Dict

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.rasa.nlg import MaskingResponseGenerator
from bot.settings import PROJECT_ROOT

REASON = "其他原因：店里装修，新卡6222.0210.0000.0000.124"
QUESTION = "卡号六二二二零二一零零零零零零零零零一二四可以吗"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.from_path(PROJECT_ROOT / "domain.yml")


def generate(generator: TemplatedNaturalLanguageGenerator, domain: Domain, response: str, **variables: Any) -> Dict:
    tracker = DialogueStateTracker.from_events("nlg-test", [], slots=domain.slots)
    return asyncio.run(generator.generate(response, tracker, "rest", **variables))


def summary(generator: TemplatedNaturalLanguageGenerator, domain: Domain) -> Dict:
    return generate(generator, domain, "utter_confirm_change", reason=REASON, bank="中国工商银行",
                    account_masked="6222 02** **** ***0 124", holder_name="刘洋", id_masked="****3215",
                    branch="北京分行 电话13800000006")


def test_rasa_alone_says_the_numbers_back(domain: Domain) -> None:
    """Why the generator exists: the template generator fills in the merchant's words as they are."""
    text = summary(TemplatedNaturalLanguageGenerator(domain.responses), domain)["text"]
    assert "6222.0210.0000.0000.124" in text and "13800000006" in text


def test_the_summary_masks_numbers_in_the_merchants_words(domain: Domain) -> None:
    text = summary(MaskingResponseGenerator(domain=domain), domain)["text"]
    assert "变更原因：其他原因：店里装修，新卡****0124\n" in text
    assert "开户支行：北京分行 电话****0006\n" in text
    assert "卡号：6222 02** **** ***0 124" in text  # already masked values are left as they are


def test_button_titles_are_masked_and_payloads_kept(domain: Domain) -> None:
    response = generate(MaskingResponseGenerator(domain=domain), domain, "utter_clarify_question",
                        answer="6222 0210 0000 0000 124", question=QUESTION)
    assert response["text"] == "我想确认一下：您是在回答“****0124”，还是想问“卡号****0124可以吗”？"
    assert [(b["title"], b["payload"]) for b in response["buttons"]] == [
        ("是回答：****0124", "/clarified_as_answer"), ("我是想问这个问题", "/clarified_as_question")]


def test_images_and_other_texts_are_left_alone(domain: Domain) -> None:
    generator = MaskingResponseGenerator(endpoint_config=EndpointConfig(type="bot.rasa.nlg.MaskingResponseGenerator"),
                                         domain=domain)
    qr = "data:image/svg+xml;utf8,<svg><path d='M 4 4 h 1 v 1 H 4 z M 1234 5678 9012 3456'/></svg>"
    assert generate(generator, domain, "utter_enrol_qr", qr=qr)["image"] == qr
    assert generate(generator, domain, "utter_code_sent", phone_masked="138****0001")["text"] == \
        generate(TemplatedNaturalLanguageGenerator(domain.responses), domain, "utter_code_sent",
                 phone_masked="138****0001")["text"]


def test_endpoints_yml_names_the_generator(domain: Domain) -> None:
    import yaml
    from rasa.core.nlg import NaturalLanguageGenerator

    config = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))["nlg"]
    generator = NaturalLanguageGenerator.create(EndpointConfig.from_dict(config), domain)
    assert isinstance(generator, MaskingResponseGenerator)
