"""The action server as `bot serve` runs it: rasa_sdk's app serving `actions/`, answering only Rasa.

`python -m bot.rasa.action_server --actions actions --host 127.0.0.1 --port 5055` takes the
arguments of `rasa run actions` (plus `--host`) and adds what rasa_sdk 3.6 lacks (who may call,
bot/ops/action_access.py): with `ACTION_SERVER_SECRET` set, a request without the header
`X-Action-Server-Secret` holding it gets 401 and runs nothing; only `GET /health` stays open, for
readiness checks. It refuses to start, with one line, on an address other machines can reach
without a secret. No CORS: no web page has any business calling it.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from rasa_sdk import utils
from rasa_sdk.cli.arguments import add_endpoint_arguments
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.ops import action_access

logger = logging.getLogger("bot.rasa.action_server")  # also when run with -m

OPEN_PATHS = frozenset({"/health"})


def create_app(actions: str, secret: Optional[str]) -> Sanic:
    """rasa_sdk's app for the `actions` package; with `secret`, every call but /health must show it."""
    # Imported here, once the configuration passed: its CORS extension warns on import, and a
    # refusal to start should be one line.
    from rasa_sdk.endpoint import create_app as create_sdk_app

    app = create_sdk_app(actions, cors_origins=None)
    if secret is not None:
        app.register_middleware(_secret_check(secret), "request")
    return app


def _secret_check(secret: str):
    async def check(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS:
            return None
        if action_access.secret_matches(request.headers.get(action_access.SECRET_HEADER), secret):
            return None
        logger.warning("refused %s %s from %s: no valid %s header", request.method, request.path, request.ip,
                       action_access.SECRET_HEADER)
        return response.json({"error": "unauthorized"}, status=401)

    return check


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """The arguments of `rasa run actions` (rasa_sdk.endpoint.create_argument_parser), and `--host`."""
    parser = argparse.ArgumentParser(prog="python -m bot.rasa.action_server", description=__doc__.splitlines()[0])
    add_endpoint_arguments(parser)
    utils.add_logging_level_option_arguments(parser)
    utils.add_logging_file_arguments(parser)
    parser.add_argument("--host", default=None,
                        help=f"address to listen on (default: {action_access.HOST_ENV}, else 127.0.0.1)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    host = args.host or action_access.bind_host()
    secret = action_access.configured_secret()
    refused = action_access.problem(host, secret)
    if refused is not None:
        print(f"action server: {refused}", file=sys.stderr)
        return 2
    # What `rasa run actions` sets up before serving (rasa_sdk.__main__.main_from_args).
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel,
                                 args.logging_config_file)
    utils.update_sanic_log_level()
    app = create_app(args.actions or "actions", secret)
    from rasa_sdk.endpoint import create_ssl_context
    from rasa_sdk.plugin import plugin_manager

    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    logger.info("action server on %s:%s, %s", host, args.port,
                f"calls need the {action_access.SECRET_HEADER} header" if secret else "open to this machine")
    app.run(host, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers())
    return 0


if __name__ == "__main__":
    sys.exit(main())
