"""Custom Rasa NLU graph components (registered through Rasa's recipe API)."""
