"""Signing in and out, and the rule every page follows: `@requires(role, ...)`.

The Flask session cookie (signed, HttpOnly, SameSite=Strict) carries only the random session
token; the database decides whether it is still valid (bot/agents/accounts.py), so logging out
ends it everywhere, and a copied cookie is worthless afterwards.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for

from bot.agents import accounts
from bot.db.models import StaffRole

blueprint = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

# Where each role starts after signing in.
START_PAGES = {StaffRole.AGENT: "handoffs.queue", StaffRole.REVIEWER: "reviews.queue",
               StaffRole.TRAINER: "training.inbox_page"}


def current_staff() -> accounts.SignedIn | None:
    if "staff" not in g:
        g.staff = accounts.session_account(g.db, session.get("token"))
    return g.staff


def requires(*roles: StaffRole) -> Callable[[F], F]:
    """Only signed-in staff of these roles: pages redirect to the login, APIs answer 401; the
    wrong role gets 403."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                if request.path.startswith("/api/") or request.method != "GET":
                    abort(401)
                return redirect(url_for("auth.login", next=request.path))
            if roles and staff.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        # What the security tests read: every route but the login page is guarded, and by whom.
        guarded.admits = frozenset(roles)  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


@blueprint.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error = None
    if request.method == "POST":
        try:
            signed_in = accounts.sign_in(g.db, request.form.get("username", ""), request.form.get("password", ""))
        except accounts.LoginRefused:
            error = "用户名或密码错误，或账号已被锁定。连续输错10次将锁定30分钟。"
        else:
            session.clear()
            session["token"] = signed_in.token
            session.permanent = True
            return redirect(_safe_next() or url_for(START_PAGES[signed_in.role]))
    return render_template("login.html", error=error), (401 if error else 200)


def _safe_next() -> str | None:
    target = request.args.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else None


@blueprint.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    accounts.end_session(g.db, session.get("token"))
    session.clear()
    return redirect(url_for("auth.login"))


@blueprint.get("/start")
@requires()
def start():  # type: ignore[no-untyped-def]
    staff = current_staff()
    endpoint = START_PAGES[staff.role]
    if endpoint == "auth.start":
        return render_template("start.html", staff=staff)
    return redirect(url_for(endpoint))
