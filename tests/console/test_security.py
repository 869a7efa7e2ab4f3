"""The console's security rules, checked over every route the app has (`app.url_map`), so a page
added later is covered without touching this file:

- every page and API refuses a request without a session (pages: to the login page; APIs and
  POSTs: 401), and every view but the login page is guarded by `@requires`;
- each role reaches only its own pages: an agent cannot approve, a reviewer cannot answer merchants;
- a POST without the CSRF token (or with a forged one, or another session's) is refused;
- a session cookie copied before logout is worthless after it;
- 10 wrong passwords lock the account: the 11th try, with the right password, fails;
- cookies are HttpOnly and SameSite=Strict, and Secure outside development;
- no full card or ID number in any page, stream or API answer, nor in the logs of a session that
  claims, replies, takes notes, reviews and views document photos.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from bot.agents import accounts, live
from bot.change_requests import documents
from bot.change_requests.filing import ChangeDetails, Document, file_change_request, new_idempotency_key
from bot.db.models import AuditEvent, ChangeRequest, Handoff, HandoffStatus, RequestStatus, StaffRole
from console.app import create_app

from console.conftest import CSRF, PASSWORD, csrf, hand_off, signed_in
from domain_fixtures import DEMO_SECRETS, Outbox, merchant, signed

# The routes anyone may reach: the login form, logging out (ends whatever session the cookie
# names, or none), the home page (a redirect to the start page, which is guarded), static files.
PUBLIC = {"auth.login", "auth.logout", "home", "static"}

NEW_CARD, NEW_ID = "6222021000000000124", "310101198503171233"
FULL_NUMBERS = DEMO_SECRETS + [NEW_CARD, NEW_ID, "6222021000000000125"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
LOGIN = "/login"


@dataclass
class World:
    """Something behind every kind of URL: a handoff, a filed request with a photo."""

    handoff_id: int
    reference: str
    public_id: str

    def values(self, rule: Rule) -> dict:
        known = {"handoff_id": self.handoff_id, "reference": self.reference, "public_id": self.public_id}
        return {name: known.get(name, 1) for name in rule.arguments}


@pytest.fixture
def world(staff: Session) -> World:
    accounts.create_account(staff, "sun", PASSWORD, StaffRole.TRAINER, "孙训练")
    handoff = hand_off(staff)  # full numbers typed by the merchant, in its values and transcript
    live.record_merchant_message(staff, handoff.conversation_id, f"新卡{NEW_CARD}，身份证{NEW_ID}")
    details = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行", account_number=NEW_CARD,
                            account_name="张伟", holder_id_number=NEW_ID, opening_branch="上海分行营业部",
                            documents=frozenset({Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT}))
    signed(staff, "822100000000001", "webchat-822100000000001", details)
    request = file_change_request(staff, merchant(staff, "822100000000001"), details, new_idempotency_key(),
                                  "webchat", "webchat-822100000000001").request
    upload = documents.store_upload(staff, conversation_id="webchat-822100000000001", channel="webchat", data=PNG,
                                    kind="card_front")
    documents.attach_conversation_documents(staff, "webchat-822100000000001", request)
    staff.commit()
    return World(handoff.id, request.reference, upload.public_id)


def routes(app: Flask) -> Iterator[tuple[Rule, str]]:
    """(rule, method) of every route, HEAD and OPTIONS aside."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def url(app: Flask, rule: Rule, world: World) -> str:
    return app.url_map.bind("localhost").build(rule.endpoint, world.values(rule))


def guarded(app: Flask) -> list[tuple[Rule, str]]:
    return [(rule, method) for rule, method in routes(app) if rule.endpoint not in PUBLIC]


def admits(app: Flask, rule: Rule) -> frozenset:
    return app.view_functions[rule.endpoint].admits


def call(client: FlaskClient, method: str, path: str, token: str | None = None, **kwargs):
    if method == "GET":
        return client.get(path, **kwargs)
    data = {"csrf_token": token, "text": "您好", "reason": "other"} if token else {"text": "您好"}
    return client.open(path, method=method, data=data, **kwargs)


def audit_rows(session: Session) -> int:
    session.expire_all()
    return session.execute(select(func.count(AuditEvent.id))).scalar_one()


def state(session: Session, world: World) -> tuple:
    session.expire_all()
    handoff = session.get(Handoff, world.handoff_id)
    request = session.execute(select(ChangeRequest).where(ChangeRequest.reference == world.reference)).scalar_one()
    return handoff.status, handoff.agent, request.status


def assert_no_full_number(text: str, where: str) -> None:
    leaked = [number for number in FULL_NUMBERS if number in text]
    assert not leaked, f"{where} shows {leaked}"
    assert not re.search(r"\d(?:[ -]?\d){14,}", text), f"{where} shows a long run of digits"


# --- every route is guarded ------------------------------------------------------------------------


def test_every_view_but_the_public_ones_is_guarded_by_requires(app: Flask) -> None:
    unguarded = sorted(endpoint for endpoint, view in app.view_functions.items()
                       if endpoint not in PUBLIC and not hasattr(view, "admits"))
    assert unguarded == [], "add @requires(...) to these views (or, if really public, to PUBLIC here)"
    assert {"handoffs.queue", "reviews.approve"} <= set(app.view_functions)  # the pages this file is about


def test_without_a_session_pages_send_to_the_login_and_apis_and_posts_answer_401(app: Flask, world: World) -> None:
    anonymous = app.test_client()
    token = csrf(anonymous)  # a valid token of a session-less visitor: the session check must refuse alone
    checked = 0
    for rule, method in guarded(app):
        path = url(app, rule, world)
        reply = call(anonymous, method, path, token)
        if method == "GET" and not path.startswith("/api/"):
            assert reply.status_code == 302 and reply.location.startswith(LOGIN), (method, path, reply.status_code)
        else:
            assert reply.status_code == 401, (method, path, reply.status_code)
        if method != "GET":
            assert call(anonymous, method, path).status_code in (400, 401), (method, path)  # no token either
        checked += 1
    assert checked >= 10
    # The home page leads to the login page too.
    assert anonymous.get("/", follow_redirects=True).request.path == LOGIN


def test_nothing_changed_for_requests_without_a_session(app: Flask, staff: Session, world: World) -> None:
    before, audited = state(staff, world), audit_rows(staff)
    anonymous = app.test_client()
    token = csrf(anonymous)
    for rule, method in guarded(app):
        if method != "GET":
            call(anonymous, method, url(app, rule, world), token)
    assert state(staff, world) == before and audit_rows(staff) == audited


# --- roles -----------------------------------------------------------------------------------------


ROLE_USERS = {StaffRole.AGENT: "wang", StaffRole.REVIEWER: "zhao", StaffRole.TRAINER: "sun"}


def test_each_role_reaches_only_its_own_routes(app: Flask, world: World) -> None:
    refused = 0
    for role, username in ROLE_USERS.items():
        client = signed_in(app.test_client(), username)
        token = csrf(client)  # the login page's token: a session's token is the same on every page
        for rule, method in guarded(app):
            if not admits(app, rule) or role in admits(app, rule):
                continue
            reply = call(client, method, url(app, rule, world), token)
            assert reply.status_code == 403, (role, method, rule.rule, reply.status_code)
            refused += 1
    assert refused >= 10


def test_an_agent_cannot_approve_or_reject(app: Flask, staff: Session, world: World, outbox: Outbox) -> None:
    agent = signed_in(app.test_client(), "wang")
    token = csrf(agent, "/handoffs")
    before, sms = audit_rows(staff), len(outbox.messages())
    for decision, form in (("approve", {}), ("reject", {"reason": "other"}), ("complete", {})):
        reply = agent.post(f"/reviews/{world.reference}/{decision}", data={"csrf_token": token, **form})
        assert reply.status_code == 403, decision
    assert state(staff, world)[2] is RequestStatus.UNDER_REVIEW
    assert audit_rows(staff) == before and len(outbox.messages()) == sms  # nothing decided, nobody told
    # ...nor see the request or its photos (never decrypted for an agent).
    assert agent.get(f"/reviews/{world.reference}").status_code == 403
    assert agent.get(f"/reviews/{world.reference}/documents/{world.public_id}").status_code == 403


def test_a_reviewer_cannot_answer_merchants(app: Flask, staff: Session, world: World) -> None:
    reviewer = signed_in(app.test_client(), "zhao")
    token = csrf(reviewer, "/reviews")
    before = state(staff, world)
    for action in ("claim", "reply", "note", "handback", "resolve"):
        assert reviewer.post(f"/handoffs/{world.handoff_id}/{action}",
                             data={"csrf_token": token, "text": "您好"}).status_code == 403, action
    assert state(staff, world) == before


# --- CSRF ------------------------------------------------------------------------------------------


def test_every_post_without_a_valid_csrf_token_is_refused(app: Flask, staff: Session, world: World) -> None:
    clients = {role: signed_in(app.test_client(), username) for role, username in ROLE_USERS.items()}
    another_sessions_token = csrf(signed_in(app.test_client(), "li"), "/handoffs")
    before, audited = state(staff, world), audit_rows(staff)
    posts = [(rule, method) for rule, method in routes(app) if method != "GET"]
    assert {rule.endpoint for rule, _ in posts} >= {"auth.login", "auth.logout", "handoffs.claim", "reviews.approve"}
    for rule, method in posts:
        roles = admits(app, rule) if rule.endpoint not in PUBLIC else frozenset()
        client = clients[next(iter(roles))] if roles else clients[StaffRole.AGENT]
        path = url(app, rule, world)
        for token in (None, "forged", another_sessions_token):
            data = {"text": "您好", "reason": "other", "username": "wang", "password": PASSWORD}
            if token:
                data["csrf_token"] = token
            reply = client.open(path, method=method, data=data)
            assert reply.status_code == 400, (method, path, token, reply.status_code)
            assert client.open(path, method=method, data=data, headers={"X-CSRFToken": token or ""}).status_code == 400
    assert state(staff, world) == before and audit_rows(staff) == audited
    assert clients[StaffRole.AGENT].get("/handoffs").status_code == 200  # logout without a token did nothing


# --- sessions --------------------------------------------------------------------------------------


def test_a_cookie_copied_before_logout_is_worthless_after_it(app: Flask) -> None:
    agent = signed_in(app.test_client(), "wang")
    cookie = agent.get_cookie("console_session").value
    thief = app.test_client()
    thief.set_cookie("console_session", cookie)
    assert thief.get("/handoffs").status_code == 200  # the copy works while the session lives...
    assert agent.post("/logout", data={"csrf_token": csrf(agent, "/handoffs")}).status_code == 302
    thief.set_cookie("console_session", cookie)
    reply = thief.get("/handoffs")
    assert reply.status_code == 302 and reply.location.startswith(LOGIN)  # ...and not after the logout
    assert thief.get("/api/handoffs/stream").status_code == 401
    assert agent.get("/handoffs").status_code == 302


def test_ten_wrong_passwords_lock_the_account(app: Flask, staff: Session) -> None:
    client = app.test_client()
    token = csrf(client)
    for _ in range(accounts.MAX_FAILED_LOGINS):
        reply = client.post(LOGIN, data={"username": "wang", "password": "wrong password", "csrf_token": token})
        assert reply.status_code == 401
    right = client.post(LOGIN, data={"username": "wang", "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 401 and "锁定" in right.get_data(as_text=True)  # the 11th try, right password
    assert client.get("/handoffs").status_code == 302
    staff.expire_all()
    locked = {row["username"]: row["locked"] for row in accounts.list_accounts(staff)}
    assert locked["wang"] is True and locked["li"] is False  # one account's lock-out is not another's
    assert staff.execute(select(AuditEvent.id).where(AuditEvent.actor == "staff:wang",
                                                     AuditEvent.action == "staff.locked_out")).first()


# --- cookies ---------------------------------------------------------------------------------------


def _session_cookie(reply) -> str:
    [header] = [value for value in reply.headers.getlist("Set-Cookie") if value.startswith("console_session=")]
    return header


def test_cookies_are_httponly_and_samesite_in_development(app: Flask, monkeypatch) -> None:
    client = app.test_client()
    reply = client.post(LOGIN, data={"username": "wang", "password": PASSWORD, "csrf_token": csrf(client)})
    cookie = _session_cookie(reply)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # development over plain http on localhost


def test_outside_development_cookies_are_secure_and_a_secret_key_is_required(staff: Session, db_url: str,
                                                                               monkeypatch) -> None:
    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.delenv("CONSOLE_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="CONSOLE_SECRET_KEY"):
        create_app({"DATABASE_URL": db_url})
    monkeypatch.setenv("CONSOLE_SECRET_KEY", "k" * 48)
    client = create_app({"DATABASE_URL": db_url}).test_client()
    # Over https Flask-WTF also wants a same-origin Referer: browsers send it with the form.
    https = {"base_url": "https://console.example", "headers": {"Referer": "https://console.example/login"}}
    token = CSRF.search(client.get(LOGIN, **https).get_data(as_text=True)).group(1)
    reply = client.post(LOGIN, data={"username": "wang", "password": PASSWORD, "csrf_token": token}, **https)
    assert reply.status_code == 302, reply.status_code
    cookie = _session_cookie(reply)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


# --- no full numbers -------------------------------------------------------------------------------


def _every_readable_answer(app: Flask, world: World) -> Iterator[tuple[str, str]]:
    """(path, text) of every GET route, as a role it admits sees it; photos (decrypted for
    reviewers by design) aside."""
    clients = {role: signed_in(app.test_client(), username) for role, username in ROLE_USERS.items()}
    for rule, method in routes(app):
        if method != "GET" or rule.endpoint == "static":
            continue
        roles = admits(app, rule) if rule.endpoint not in PUBLIC else frozenset()
        for role in roles or ROLE_USERS:
            path = url(app, rule, world)
            reply = clients[role].get(path)
            if reply.mimetype.startswith("image/") or reply.mimetype == "application/pdf":
                continue
            yield f"{role.value} {path}", reply.get_data(as_text=True)


def test_no_full_card_or_id_number_in_any_page(app: Flask, world: World) -> None:
    pages = dict(_every_readable_answer(app, world))
    assert len(pages) >= 8
    assert NEW_CARD[-4:] in "".join(pages.values())  # the pages do show the (masked) values
    for where, text in pages.items():
        assert_no_full_number(text, where)


def test_no_full_card_or_id_number_in_the_logs(app: Flask, staff: Session, world: World, caplog,
                                               monkeypatch) -> None:
    # No Rasa here: the hand-back resolves the handoff, then logs that Rasa could not be told.
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    client.post(LOGIN, data={"username": "wang", "password": "wrong password", "csrf_token": csrf(client)})
    agent = signed_in(client, "wang")
    token = csrf(agent, "/handoffs")
    agent.get("/handoffs")
    assert agent.post(f"/handoffs/{world.handoff_id}/claim", data={"csrf_token": token}).status_code in (200, 303)
    agent.get(f"/handoffs/{world.handoff_id}")
    live.record_merchant_message(staff, "webchat-822100000000001", f"卡号是{NEW_CARD}")
    agent.get(f"/api/handoffs/{world.handoff_id}/stream")
    agent.post(f"/handoffs/{world.handoff_id}/reply", data={"csrf_token": token, "text": "您好，我是王客服"})
    agent.post(f"/handoffs/{world.handoff_id}/note", data={"csrf_token": token, "text": f"商户说卡号{NEW_CARD}"})
    agent.post(f"/handoffs/{world.handoff_id}/handback", data={"csrf_token": token})
    agent.post("/logout", data={"csrf_token": token})
    reviewer = signed_in(app.test_client(), "zhao")
    token = csrf(reviewer, "/reviews")
    reviewer.get(f"/reviews/{world.reference}")
    reviewer.get(f"/reviews/{world.reference}/documents/{world.public_id}")
    reviewer.post(f"/reviews/{world.reference}/approve", data={"csrf_token": token})
    staff.expire_all()
    assert staff.get(Handoff, world.handoff_id).status is HandoffStatus.RESOLVED  # the session did its work
    assert state(staff, world)[2] is RequestStatus.APPROVED
    assert caplog.records, "nothing logged at all: is the capture working?"
    logged = "\n".join(f"{record.name} {record.getMessage()} {record.args!r}" for record in caplog.records)
    assert_no_full_number(logged, "the logs")
    assert PASSWORD not in logged and "wrong password" not in logged
    assert agent.get_cookie("console_session") is None or agent.get_cookie("console_session").value not in logged
