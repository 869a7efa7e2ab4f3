"""Thin Rasa SDK adapters: read slots, call `bot`, utter responses from the domain."""
from bot.masking import install_redaction

# The action server (`rasa run actions --actions actions`) starts here: numbers masked in whatever
# it logs, rasa_sdk's and Sanic's tracebacks included.
install_redaction()
