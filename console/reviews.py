"""The reviewers' pages: the review queue, one request, its document photos and the decisions
(issue 11, item 4).

A thin adapter over `bot.change_requests.review`, which decides, audits, tells the merchant (SMS
and chat) and refuses a decision the status does not allow. Every route admits reviewers only
(agents and trainers get 403). Forms post and redirect (303), so a reload never decides twice;
what happened is said in a flash message on the request's page.

What a reviewer sees is masked (card and ID numbers as ****1234); the only full numbers are in the
document photos, decrypted for the reviewer on request, never cached, and every view audited.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, url_for

from bot.agents import accounts
from bot.change_requests import review
from bot.change_requests.review import Decision, NotAllowed, RequestNotFound
from bot.db.models import RequestStatus, StaffRole, audit
from console import labels
from console.auth import current_staff, requires

blueprint = Blueprint("reviews", __name__)

DONE = {
    Decision.APPROVE: "已审核通过，已短信通知商户。请在结算账户切换完成后点击“确认已切换”。",
    Decision.REJECT: "已驳回，已短信通知商户驳回原因和处理建议。",
    Decision.ASK_FOR_DOCUMENTS: "已要求商户补充材料，已短信通知商户。",
    Decision.COMPLETE: "已确认切换：新账户现为商户的结算账户，已短信通知商户。",
}
SMS_FAILED = "注意：短信发送失败（已记录），请联系商户。"
NOT_ALLOWED = "该申请当前状态为“{status}”，不能{what}。"
WHAT = {Decision.APPROVE: "审核通过", Decision.REJECT: "驳回", Decision.ASK_FOR_DOCUMENTS: "要求补充材料",
        Decision.COMPLETE: "确认切换"}
NO_REASON = "请选择驳回原因。"
NO_DOCUMENTS = "请至少选择一项需要补充的材料。"


def _staff() -> accounts.SignedIn:
    staff = current_staff()
    assert staff is not None  # @requires ran first
    return staff


@blueprint.get("/reviews")
@requires(StaffRole.REVIEWER)
def queue():  # type: ignore[no-untyped-def]
    return render_template("reviews/queue.html", staff=_staff(), rows=review.queue(g.db),
                           approved=review.awaiting_switch(g.db))


@blueprint.get("/reviews/<reference>")
@requires(StaffRole.REVIEWER)
def detail(reference: str):  # type: ignore[no-untyped-def]
    try:
        seen = review.detail(g.db, reference)
    except RequestNotFound:
        abort(404)
    audit(g.db, accounts.actor(_staff()), "change_request.viewed", change_request=review.find(g.db, reference),
          reference=seen.reference)
    g.db.commit()
    return render_template("reviews/detail.html", staff=_staff(), request=seen, Decision=Decision,
                           reasons=review.REJECTION_CHOICES, documents=review.DOCUMENT_CHOICES,
                           channel=labels.channel(seen.channel))


@blueprint.get("/reviews/<reference>/documents/<public_id>")
@requires(StaffRole.REVIEWER)
def document(reference: str, public_id: str):  # type: ignore[no-untyped-def]
    try:
        stored, data = review.open_document(g.db, reference, public_id, _staff().username)
    except RequestNotFound:
        abort(404)
    response = make_response(data)
    response.headers["Content-Type"] = stored.content_type  # from the content, never the client's word
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "no-store, private"
    return response


def _decide(reference: str, decision: Decision, act: Callable[[], review.DecisionResult]) -> Any:
    here = url_for(".detail", reference=reference)
    try:
        result = act()
    except RequestNotFound:
        abort(404)
    except NotAllowed as refused:
        audit(g.db, accounts.actor(_staff()), "change_request.decision_refused",
              change_request=review.find(g.db, reference), reference=reference, attempted=decision.value,
              status=refused.current.value)
        g.db.commit()
        flash(NOT_ALLOWED.format(status=RequestStatus(refused.current).label, what=WHAT[decision]), "error")
        return redirect(here, code=303)
    flash(DONE[decision], "info")
    if not result.sms_sent:
        flash(SMS_FAILED, "error")
    return redirect(here, code=303)


def _note() -> str | None:
    return request.form.get("note") or None


@blueprint.post("/reviews/<reference>/approve")
@requires(StaffRole.REVIEWER)
def approve(reference: str):  # type: ignore[no-untyped-def]
    return _decide(reference, Decision.APPROVE,
                   lambda: review.approve(g.db, reference, _staff().username, note=_note()))


@blueprint.post("/reviews/<reference>/reject")
@requires(StaffRole.REVIEWER)
def reject(reference: str):  # type: ignore[no-untyped-def]
    reason = review.rejection_reason(request.form.get("reason"))
    if reason is None:
        flash(NO_REASON, "error")
        return redirect(url_for(".detail", reference=reference), code=303)
    return _decide(reference, Decision.REJECT,
                   lambda: review.reject(g.db, reference, _staff().username, reason, note=_note()))


@blueprint.post("/reviews/<reference>/documents")
@requires(StaffRole.REVIEWER)
def ask_for_documents(reference: str):  # type: ignore[no-untyped-def]
    asked = [code for code in request.form.getlist("documents") if code in dict(review.DOCUMENT_CHOICES)]
    if not asked:
        flash(NO_DOCUMENTS, "error")
        return redirect(url_for(".detail", reference=reference), code=303)
    return _decide(reference, Decision.ASK_FOR_DOCUMENTS,
                   lambda: review.ask_for_documents(g.db, reference, _staff().username, asked, note=_note()))


@blueprint.post("/reviews/<reference>/complete")
@requires(StaffRole.REVIEWER)
def complete(reference: str):  # type: ignore[no-untyped-def]
    return _decide(reference, Decision.COMPLETE, lambda: review.complete(g.db, reference, _staff().username))
