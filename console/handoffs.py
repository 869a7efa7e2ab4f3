"""The agents' pages: the handoff queue and a live conversation (issue 11, items 2 and 3).

A thin adapter over bot/agents: `live` (queue, claim, reply, note, what the page shows) and
`handback` (give the merchant back to the bot, or close the conversation). Every route admits
agents only. Forms post and redirect, so the pages work without JavaScript; the page's script
(static/handoffs.js) adds the live parts: server-sent events for the queue and for new messages,
replies sent with fetch, canned replies filling the reply box.

Who may do what: any agent sees the queue and any conversation and may write internal notes;
only the agent who claimed a conversation replies to the merchant, hands it back or closes it
(anyone else gets `live.NotYours`, said in Chinese and audited). Every action is audited:
`live` and `handback` audit their writes; this module adds what only the console sees (an agent
opening a conversation, a refused claim or write).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request,
                   session as cookie, url_for)
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import settings
from bot.agents import accounts, handback, live
from bot.agents.handoff import HandoffNotFound
from bot.db.models import Handoff, HandoffStatus, StaffAccount, StaffRole, audit
from console import canned_replies, labels, streams
from console.auth import current_staff, requires

blueprint = Blueprint("handoffs", __name__)
log = logging.getLogger(__name__)

# What the agent reads when an action is refused.
ALREADY_CLAIMED = "该会话已被{agent}接入，请选择队列中的其他会话。"
ALREADY_CLOSED = "该会话已结束，无需接入。"
NOT_YOURS = "只有接入该会话的客服（{agent}）可以回复、交还机器人或结束会话。"
NOT_CLAIMED = "请先接入该会话，再回复商户。"
FINISHED = "该会话已交还机器人或已结束，不能再回复。"
EMPTY = "内容不能为空。"
NOT_FOUND = "没有这个会话。"
HANDED_BACK = "已交还机器人：机器人会接着问商户表单中尚未回答的问题，已填写的信息保留。"
UNREACHABLE = "会话已标记为{done}，但暂时无法通知机器人，请稍后再点一次“{button}”。"
CLOSED = "会话已结束：商户下次发消息时，机器人会重新问候。"


def _staff() -> accounts.SignedIn:
    staff = current_staff()
    assert staff is not None  # @requires ran first
    return staff


def _actor() -> str:
    return accounts.actor(_staff())


def _display_names(session: Session, usernames: set[str]) -> dict[str, str]:
    """Agents' display names by username (the queue and messages show people, not logins)."""
    usernames = {name for name in usernames if name}
    if not usernames:
        return {}
    rows = session.execute(select(StaffAccount.username, StaffAccount.display_name)
                           .where(StaffAccount.username.in_(usernames))).all()
    return {username: display for username, display in rows}


def _handoff(handoff_id: int) -> Handoff:
    handoff = g.db.get(Handoff, handoff_id)
    if handoff is None:
        abort(404, NOT_FOUND)
    return handoff


def _wants_json() -> bool:
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "application/json"


def _answer(message: str, target: str, status: int = 200, **extra: Any) -> Any:
    """A form post: flash and redirect (303, so a reload does not post again). A fetch: JSON."""
    if _wants_json():
        return jsonify(ok=status < 400, message=message, **extra), status
    flash(message, "error" if status >= 400 else "info")
    return redirect(target, code=303)


def _refused(handoff: Handoff, what: str, message: str, status: int = 409) -> Any:
    audit(g.db, _actor(), "handoff.refused", merchant=handoff.merchant, handoff_id=handoff.id, attempted=what,
          status=HandoffStatus(handoff.status).value, claimed_by=handoff.agent)
    g.db.commit()
    return _answer(message, url_for(".conversation", handoff_id=handoff.id), status)


def _not_yours(handoff: Handoff, what: str) -> Any:
    if handoff.agent is None or HandoffStatus(handoff.status) is HandoffStatus.WAITING:
        return _refused(handoff, what, NOT_CLAIMED)
    if HandoffStatus(handoff.status) is HandoffStatus.RESOLVED:
        return _refused(handoff, what, FINISHED)
    agent = _display_names(g.db, {handoff.agent}).get(handoff.agent, handoff.agent)
    return _refused(handoff, what, NOT_YOURS.format(agent=agent), 403)


# --- the queue ---------------------------------------------------------------------------------

def queue_rows(session: Session) -> dict[str, Any]:
    """The queue as the page and the stream show it: oldest first, masked, labelled in Chinese."""
    entries = live.queue(session)
    names = _display_names(session, {entry.agent for entry in entries if entry.agent})
    return {
        "overdue_after_seconds": settings.handoff_overdue_minutes() * 60,
        "entries": [{
            "id": entry.id,
            "reason": labels.reason(entry.reason),
            "channel": labels.channel(entry.channel),
            "status": entry.status,
            "status_label": HandoffStatus(entry.status).label,
            "merchant": " ".join(part for part in (entry.merchant_masked, entry.merchant_name) if part) or "未识别",
            "agent": names.get(entry.agent, entry.agent) if entry.agent else None,
            "waiting_since": entry.waiting_since,
            "waiting_seconds": entry.waiting_seconds,
            "overdue": entry.overdue,
        } for entry in entries],
    }


@blueprint.get("/handoffs")
@requires(StaffRole.AGENT)
def queue():  # type: ignore[no-untyped-def]
    return render_template("handoffs/queue.html", staff=_staff(), queue=queue_rows(g.db),
                           waited=waited)


def waited(seconds: int) -> str:
    """How long a merchant has waited, as the queue says it.

    >>> waited(42), waited(312), waited(3 * 3600 + 120)
    ('42秒', '5分12秒', '3小时2分')
    """
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}小时{minutes}分"
    return f"{minutes}分{seconds}秒" if minutes else f"{seconds}秒"


def _stream(poll: streams.Poll) -> Any:
    """An event stream for this request: its own database sessions, the session cookie checked
    again at each heartbeat, waitress's disconnect check when there is one."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    token = cookie.get("token")
    options = app.config.get("CONSOLE_STREAM_OPTIONS", {})
    return streams.response(streams.stream(
        app.extensions["sessions"], poll, lambda session: accounts.session_account(session, token) is not None,
        streams.client_gone_check(request.environ), **options))


@blueprint.get("/api/handoffs/stream")
@requires(StaffRole.AGENT)
def queue_stream():  # type: ignore[no-untyped-def]
    """The queue whenever it changes (a new handoff, a claim, one turning overdue); the waiting
    times themselves the page counts on."""
    last: list[Any] = [None]

    def poll(session: Session) -> list[streams.Event]:
        rows = queue_rows(session)
        shape = [{k: v for k, v in entry.items() if k != "waiting_seconds"} for entry in rows["entries"]]
        if shape == last[0]:
            return []
        last[0] = shape
        return [streams.Event("queue", rows)]

    return _stream(poll)


@blueprint.post("/handoffs/<int:handoff_id>/claim")
@requires(StaffRole.AGENT)
def claim(handoff_id: int):  # type: ignore[no-untyped-def]
    staff = _staff()
    try:
        live.claim(g.db, handoff_id, staff.username)
    except HandoffNotFound:
        abort(404, NOT_FOUND)
    except live.AlreadyClaimed:
        handoff = _handoff(handoff_id)
        if HandoffStatus(handoff.status) is HandoffStatus.RESOLVED:
            message = ALREADY_CLOSED
        else:
            message = ALREADY_CLAIMED.format(agent=_display_names(g.db, {handoff.agent}).get(handoff.agent, handoff.agent))
        audit(g.db, accounts.actor(staff), "handoff.claim_refused", merchant=handoff.merchant, handoff_id=handoff_id,
              claimed_by=handoff.agent, status=HandoffStatus(handoff.status).value)
        g.db.commit()
        return _answer(message, url_for(".queue"), 409)
    target = url_for(".conversation", handoff_id=handoff_id)
    if _wants_json():
        return jsonify(ok=True, url=target)
    return redirect(target, code=303)


# --- one conversation ---------------------------------------------------------------------------

def _view(handoff_id: int) -> dict[str, Any]:
    try:
        view = live.conversation_view(g.db, handoff_id)
    except HandoffNotFound:
        abort(404, NOT_FOUND)
    names = _display_names(g.db, {view["agent"]} if view["agent"] else set())
    view["agent_name"] = names.get(view["agent"], view["agent"]) if view["agent"] else None
    view["reason_label"] = labels.reason(view["reason"])
    view["channel_label"] = labels.channel(view["channel"])
    view["status_label"] = HandoffStatus(view["status"]).label
    view["values"] = [(labels.value_name(slot), labels.shown_value(slot, value))
                      for slot, value in view["collected_values"].items()]
    view["failures"] = [(labels.value_name(slot), labels.shown_value(slot, values))
                        for slot, values in view["failed_inputs"].items()]
    return view


@blueprint.get("/handoffs/<int:handoff_id>")
@requires(StaffRole.AGENT)
def conversation(handoff_id: int):  # type: ignore[no-untyped-def]
    staff = _staff()
    view = _view(handoff_id)
    audit(g.db, accounts.actor(staff), "handoff.viewed", merchant=_handoff(handoff_id).merchant, handoff_id=handoff_id)
    g.db.commit()
    try:
        replies = canned_replies.load()
    except canned_replies.InvalidCannedReplies as error:  # a trainer's typo must not cost the agent the page
        log.error("canned replies not shown: %s", error)
        replies = []
    mine = view["status"] == HandoffStatus.ACTIVE.value and view["agent"] == staff.username
    last_id = view["messages"][-1]["id"] if view["messages"] else 0
    return render_template("handoffs/conversation.html", staff=staff, view=view, mine=mine, canned=replies,
                           last_id=last_id, max_chars=live.MAX_MESSAGE_CHARS)


def _after() -> int:
    """Where the page's stream starts: ?after=, or the browser's Last-Event-ID when it reconnects."""
    values = [request.args.get("after", ""), request.headers.get("Last-Event-ID", "")]
    return max([int(value) for value in values if value.strip().isdigit()] or [0])


@blueprint.get("/api/handoffs/<int:handoff_id>/stream")
@requires(StaffRole.AGENT)
def conversation_stream(handoff_id: int):  # type: ignore[no-untyped-def]
    """New messages (the merchant's, replies, notes) as `message` events; the ticket's state as a
    `status` event when it changes (claimed, handed back, closed)."""
    _handoff(handoff_id)
    after = [_after()]
    state: list[Any] = [None]

    def poll(session: Session) -> list[streams.Event]:
        events = []
        for message in live.messages_after(session, handoff_id, after[0]):
            events.append(streams.Event("message", message, id=message["id"]))
            after[0] = message["id"]
        handoff = session.get(Handoff, handoff_id)
        now = (HandoffStatus(handoff.status).value, handoff.agent) if handoff else None
        if now != state[0] and handoff is not None:
            state[0] = now
            names = _display_names(session, {handoff.agent} if handoff.agent else set())
            events.append(streams.Event("status", {
                "status": now[0], "status_label": HandoffStatus(now[0]).label,
                "agent": names.get(handoff.agent, handoff.agent) if handoff.agent else None}))
        return events

    return _stream(poll)


def _text() -> str:
    return (request.form.get("text") or "").strip()


@blueprint.post("/handoffs/<int:handoff_id>/reply")
@requires(StaffRole.AGENT)
def reply(handoff_id: int):  # type: ignore[no-untyped-def]
    staff, handoff = _staff(), _handoff(handoff_id)
    here = url_for(".conversation", handoff_id=handoff_id)
    if not _text():
        return _answer(EMPTY, here, 400)
    try:
        message = live.reply(g.db, handoff_id, staff.username, staff.display_name, _text())
    except live.NotYours:
        return _not_yours(handoff, "reply")
    return _answer("已发送给商户。", here, id=message.id)


@blueprint.post("/handoffs/<int:handoff_id>/note")
@requires(StaffRole.AGENT)
def note(handoff_id: int):  # type: ignore[no-untyped-def]
    staff = _staff()
    _handoff(handoff_id)
    here = url_for(".conversation", handoff_id=handoff_id)
    if not _text():
        return _answer(EMPTY, here, 400)
    message = live.note(g.db, handoff_id, staff.username, staff.display_name, _text())
    return _answer("备注已保存（商户看不到）。", here, id=message.id)


def _finish(handoff_id: int, what: str, action: Callable[[Session, int, str], Any], done: str,
            unreachable: str) -> Any:
    """Hand back or close: only the claiming agent; again after a failure is fine (both are
    idempotent), so a resolved conversation of the same agent is accepted."""
    staff, handoff = _staff(), _handoff(handoff_id)
    status = HandoffStatus(handoff.status)
    if handoff.agent != staff.username or status is HandoffStatus.WAITING:
        return _not_yours(handoff, what)
    try:
        action(g.db, handoff_id, staff.username)
    except live.NotYours:
        return _not_yours(handoff, what)
    except handback.RasaUnreachable as error:  # resolved already; clicking again finishes the job
        log.warning("%s of handoff %s: %s", what, handoff_id, error)
        return _answer(unreachable, url_for(".conversation", handoff_id=handoff_id), 502)
    return _answer(done, url_for(".queue"), url=url_for(".queue"))


# The handback functions are looked up at each call (not bound at import): the console's tests
# replace them (tests/agents/test_handback.py checks them against a stand-in for Rasa).
@blueprint.post("/handoffs/<int:handoff_id>/handback")
@requires(StaffRole.AGENT)
def hand_back(handoff_id: int):  # type: ignore[no-untyped-def]
    return _finish(handoff_id, "handback", lambda db, i, who: handback.hand_back_to_bot(db, i, who), HANDED_BACK,
                   UNREACHABLE.format(done="交还", button="交还机器人"))


@blueprint.post("/handoffs/<int:handoff_id>/resolve")
@requires(StaffRole.AGENT)
def resolve(handoff_id: int):  # type: ignore[no-untyped-def]
    return _finish(handoff_id, "resolve", lambda db, i, who: handback.close_conversation(db, i, who), CLOSED,
                   UNREACHABLE.format(done="结束", button="结束会话"))
