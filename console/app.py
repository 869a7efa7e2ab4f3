"""The console's Flask app: configuration, sessions, CSRF, the database per request, and the pages.

Security defaults (issue 11): session cookie HttpOnly and SameSite=Strict, Secure outside
development (`BOT_ENV` other than `development`); CSRF token on every form and POST (Flask-WTF);
every page and API behind a signed-in session with the right role (`console.auth.requires`); no
page caches (`Cache-Control: no-store`); a strict Content-Security-Policy (scripts from our own
static folder only).
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, g, redirect, url_for
from flask_wtf.csrf import CSRFProtect

from bot import settings
from bot.db.engine import session_factory, make_engine

SECRET_KEY_ENV = "CONSOLE_SECRET_KEY"
DEFAULT_PORT = settings.CONSOLE_DEFAULT_PORT
is_development = settings.is_development  # one rule for the console, the demo accounts and `bot serve`


def _secret_key() -> str:
    """CONSOLE_SECRET_KEY, or in development a key kept under var/ (created the first time)."""
    configured = os.environ.get(SECRET_KEY_ENV, "").strip()
    if configured:
        return configured
    if not is_development():
        raise RuntimeError(f"{SECRET_KEY_ENV} must be set outside development")
    path = Path(settings.var_dir()) / "console_secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(),
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=not is_development(),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=64 * 1024,
        DATABASE_URL=settings.database_url(),
    )
    app.config.update(config or {})
    CSRFProtect(app)
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["sessions"] = session_factory(engine)

    @app.before_request
    def open_database() -> None:
        g.db = app.extensions["sessions"]()

    @app.teardown_request
    def close_database(error: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            if error is not None:
                db.rollback()
            db.close()

    @app.after_request
    def security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'")
        return response

    from console import auth

    app.register_blueprint(auth.blueprint)
    from console import reviews

    app.register_blueprint(reviews.blueprint)
    from console import handoffs

    app.register_blueprint(handoffs.blueprint)
    from console import training

    app.register_blueprint(training.blueprint)

    @app.get("/")
    def home():  # type: ignore[no-untyped-def]
        return redirect(url_for("auth.start"))

    return app
