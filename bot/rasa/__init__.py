"""Everything that plugs into Rasa, Sanic or socket.io: the input channels (`channels/`), the NLU
components (`nlu/`), the handoff policy and the encrypted tracker store.

The rest of `bot/` is framework-free: CI fails when a module outside this package (and `actions/`)
imports rasa, rasa_sdk, sanic, socketio or aiohttp (scripts/check_layers.sh).
"""
