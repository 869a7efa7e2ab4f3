"""The agent console: the web app where support agents take handed-off conversations and reviewers
decide filed changes (and, later, trainers label messages). Flask with server-side templates, in
Chinese; a thin adapter over `bot/agents` and `bot/change_requests`, like `actions/` is over Rasa.

`create_app()` builds it; `bot serve` runs it with waitress beside the Rasa and action servers.
"""
from console.app import create_app  # noqa: F401
