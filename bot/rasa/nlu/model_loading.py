"""Loading the intent classifier and the response selector for prediction, without Rasa's
throwaway training step.

Rasa 3.6 builds a trained TensorFlow model back from its checkpoint by training it first
(`RasaModel.load`: compile with Adam, `fit` one epoch on one example, then `load_weights` over the
weights that step made). The step traces the whole training graph (every layer's gradients) and
gives every weight Adam's two slots, all kept for the life of the process, which never trains.
Measured on this project's model (DIET and the response selector, 2 cores): 12 s of CPU to load
them and 1,205 MB resident for the Rasa process; loaded here, 6 s and 765 MB, with the same
predictions (every intent, confidence and FAQ answer of the held-out set, to the last digit).

Here the checkpoint is read first and the model's layers are built by the one prediction Rasa
makes anyway to trace its prediction graph: TensorFlow gives a variable created after a checkpoint
was read its value from the checkpoint. The optimizer's slots in the checkpoint are left unread.
Then every variable the model has must have come from the checkpoint (`assert_existing_objects_matched`);
if one did not, the model is loaded again Rasa's way (and a warning says so).
`rasa train --finetune` (finetune_mode) and a load without a prediction example keep Rasa's way:
they train on.

Installed when the NLU components of the pipeline are imported (bot/rasa/nlu/__init__.py): Rasa
imports every component's module of a model before it loads any of them.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Text

from rasa.utils.tensorflow.model_data import RasaModelData
from rasa.utils.tensorflow.models import RasaModel

logger = logging.getLogger(__name__)

_rasa_load = RasaModel.load.__func__  # Rasa's own, for fine-tuning and as the fallback


def _load_for_prediction(cls: type, model_file_name: Text, model_data_example: RasaModelData,
                         predict_data_example: Optional[RasaModelData] = None, finetune_mode: bool = False,
                         *args: Any, **kwargs: Any) -> RasaModel:
    """RasaModel.load's signature and result, without the training step when only predicting."""
    if finetune_mode or predict_data_example is None:
        return _rasa_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                          *args, **kwargs)
    model = cls(*args, **kwargs)
    status = model.load_weights(model_file_name)
    status.expect_partial()  # the optimizer's slots: a server never trains
    model.run_inference(predict_data_example)  # builds the layers; their weights come from the checkpoint
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        logger.warning("%s: a weight is not in the checkpoint %s (%s); loading it Rasa's way",
                       cls.__name__, model_file_name, error)
        return _rasa_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                          *args, **kwargs)
    return model


def install() -> None:
    """RasaModel.load (DIET, the response selector, TED) loads for prediction without training."""
    RasaModel.load = classmethod(_load_for_prediction)


def uninstall() -> None:
    """Rasa's own load again (tests compare the two)."""
    RasaModel.load = classmethod(_rasa_load)
