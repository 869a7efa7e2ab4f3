"""The console on a migrated temporary database with the demo merchants, two agents and a
reviewer; `signed_in(client, name)` logs a test client in through the login page (CSRF on, as in
production); `csrf(client)` reads the token pages carry in the csrf-token meta tag."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from bot.agents import accounts
from bot.agents.handoff import MERCHANT_REQUEST, open_handoff
from bot.db.models import Handoff, StaffRole
from console.app import create_app

from domain_fixtures import merchant

PASSWORD = "correct horse battery"
STAFF = {"wang": ("王客服", StaffRole.AGENT), "li": ("李客服", StaffRole.AGENT), "zhao": ("赵审核", StaffRole.REVIEWER)}

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def staff(demo: Session) -> Session:
    """The demo database with the console's accounts."""
    for username, (display_name, role) in STAFF.items():
        accounts.create_account(demo, username, PASSWORD, role, display_name)
    return demo


@pytest.fixture
def app(staff: Session, db_url: str) -> Iterator[Flask]:
    # Short streams: a test reading a stream to its end waits two polls, not five minutes.
    yield create_app({"DATABASE_URL": db_url, "TESTING": True,
                      "CONSOLE_STREAM_OPTIONS": {"poll_seconds": 0.05, "stream_seconds": 1.0}})


def csrf(client: FlaskClient, path: str = "/login") -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no csrf-token meta tag on {path}"
    return match.group(1)


def signed_in(client: FlaskClient, username: str, start: str = "") -> FlaskClient:
    """Logged in through the login form (`start`: the page to go to, as `?next=` says)."""
    reply = client.post("/login" + (f"?next={start}" if start else ""), data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return client


@pytest.fixture
def wang(app: Flask) -> FlaskClient:
    return signed_in(app.test_client(), "wang")


@pytest.fixture
def li(app: Flask) -> FlaskClient:
    return signed_in(app.test_client(), "li")


def hand_off(session: Session, conversation: str = "webchat-822100000000001", channel: str = "webchat",
             number: str = "822100000000001", now=None, **context) -> Handoff:
    """A merchant handed off mid-form: a full card and ID number typed, a refused card."""
    context.setdefault("collected_values", {"merchant_number": number, "route": "online",
                                            "holder_id_number": "310101198503171233",
                                            "new_account_number": "6222021000000000124"})
    context.setdefault("transcript", [{"from": "merchant", "text": "我要修改结算卡"},
                                      {"from": "bot", "text": "请输入新结算卡卡号"},
                                      {"from": "merchant", "text": "6222021000000000124 转人工"}])
    context.setdefault("failed_inputs", {"new_account_number": ["6222021000000000125"]})
    return open_handoff(session, conversation, channel, MERCHANT_REQUEST, merchant=merchant(session, number),
                        now=now, **context).handoff


def post(client: FlaskClient, path: str, json: bool = False, **form: str):
    """A form post with the page's CSRF token (as JSON when a page's script would fetch it)."""
    headers = {"Accept": "application/json"} if json else {}
    return client.post(path, data={"csrf_token": csrf(client, "/handoffs"), **form}, headers=headers)
