"""`python -m console [--host H] [--port N] [--threads T]`: the agent console on waitress.

`bot serve` (`make run`) starts it beside the Rasa and action servers, on `BOT_BIND_HOST` and
`CONSOLE_PORT` (default 5080). Waitress serves each request in a thread of a fixed pool, and every
open page's live stream (server-sent events: the queue, a conversation) keeps one thread for as
long as it is open: `CONSOLE_THREADS` (default 64) must exceed the streams agents keep open
(about two per signed-in agent) plus the page requests at the same moment.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

from waitress import serve

from bot import settings
from bot.masking import install_redaction
from console import streams
from console.app import create_app

DEFAULT_THREADS = 64


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("BOT_BIND_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=settings.console_port())
    parser.add_argument("--threads", type=int, default=int(os.environ.get("CONSOLE_THREADS", DEFAULT_THREADS)))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_redaction()  # numbers masked in whatever Flask, waitress and the console log
    app = create_app()
    # channel_timeout: an idle connection is closed after 2 minutes; the streams send a heartbeat
    # more often. ident: no server name and version in the headers. WAITRESS_OPTIONS: a closed
    # page's stream ends at once and gives its thread back (console/streams.py).
    serve(app, host=args.host, port=args.port, threads=args.threads, ident=None, channel_timeout=120,
          **streams.WAITRESS_OPTIONS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
