"""Everything that plugs into Rasa, Sanic or socket.io: the input channels (`channels/`), the NLU
components (`nlu/`), the handoff policy and the encrypted tracker store.

The rest of `bot/` is framework-free: CI fails when a module outside this package (and `actions/`)
imports rasa, rasa_sdk, sanic, socketio or aiohttp (scripts/check_layers.sh).

Rasa imports this package at start (the channels of credentials.yml, the tracker store of
endpoints.yml, the NLU components of the model): the place where the Rasa server, and `rasa train`
or `rasa test`, start masking numbers in whatever they log or warn (Rasa warns with the whole text
of a `/intent{...}` message it cannot parse).
"""
from bot.masking import install_redaction

install_redaction()
