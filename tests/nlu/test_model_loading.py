"""The trained model loaded for prediction only (bot/rasa/nlu/model_loading.py) predicts exactly
what Rasa's own load does, on the real model and the held-out set."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Tuple

import pytest
from e2e.conftest import MODEL
from rasa.core.agent import Agent
from rasa.shared.nlu.training_data.loading import load_data
from rasa.utils.tensorflow.models import RasaModel

from bot.rasa.nlu import model_loading
from bot.settings import PROJECT_ROOT

HOLDOUT = PROJECT_ROOT / "tests" / "data" / "nlu_holdout.yml"


def _model() -> str:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make test`, which trains it first")
    return str(MODEL)


def _predictions(agent: Agent, texts: List[str]) -> List[Tuple[Any, ...]]:
    """Per text: the intent ranking and the FAQ answer's ranking, names and confidences."""
    loop = asyncio.new_event_loop()
    try:
        parsed = [loop.run_until_complete(agent.parse_message(text)) for text in texts]
    finally:
        loop.close()
    return [(tuple((intent["name"], intent["confidence"]) for intent in result["intent_ranking"]),
             tuple((answer["intent_response_key"], answer["confidence"])
                   for answer in result.get("response_selector", {}).get("faq", {}).get("ranking", [])))
            for result in parsed]


def _tensorflow_models(agent: Agent) -> Dict[str, RasaModel]:
    """The loaded components' TensorFlow models by graph node (DIET, the response selector)."""
    nodes = agent.processor.graph_runner._instantiated_nodes  # no public way to reach a component
    return {name: node._component.model for name, node in nodes.items()
            if isinstance(getattr(node._component, "model", None), RasaModel)}


@pytest.fixture
def rasa_s_own_load() -> Any:
    model_loading.uninstall()
    yield
    model_loading.install()


def test_loading_for_prediction_predicts_what_rasa_s_own_load_does(rasa_s_own_load: None) -> None:
    texts = [example.get("text") for example in load_data(str(HOLDOUT)).intent_examples]
    as_rasa_loads = Agent.load(_model())
    expected = _predictions(as_rasa_loads, texts)
    assert all(model.optimizer is not None for model in _tensorflow_models(as_rasa_loads).values())
    del as_rasa_loads

    model_loading.install()
    for_prediction = Agent.load(_model())

    models = _tensorflow_models(for_prediction)
    assert len(models) == 2  # DIET and the response selector
    assert all(model.optimizer is None for model in models.values())  # no training step: no Adam slots
    assert _predictions(for_prediction, texts) == expected


def test_a_weight_the_checkpoint_lacks_loads_the_model_rasa_s_way(monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Should a model gain a weight its checkpoint does not have (a Rasa upgrade), that weight
    would keep its random start: the model is loaded Rasa's way instead."""
    import tensorflow as tf

    run_inference = RasaModel.run_inference

    def with_a_new_weight(model: RasaModel, *args: Any, **kwargs: Any) -> Any:
        if not hasattr(model, "new_weight"):
            model.new_weight = tf.Variable(1.0)
        return run_inference(model, *args, **kwargs)

    monkeypatch.setattr(RasaModel, "run_inference", with_a_new_weight)
    agent = Agent.load(_model())
    assert all(model.optimizer is not None for model in _tensorflow_models(agent).values())  # Rasa's load
    warnings = [record.getMessage() for record in caplog.records if record.name == model_loading.__name__]
    assert len(warnings) == 2 and all("loading it Rasa's way" in warning for warning in warnings)
