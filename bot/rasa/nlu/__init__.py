"""Custom Rasa NLU graph components (registered through Rasa's recipe API).

Importing the package also makes Rasa load the pipeline's TensorFlow models for prediction only
(model_loading.py): every model of this project names these components, so Rasa imports them
before it loads any component.
"""
from bot.rasa.nlu import model_loading

model_loading.install()
