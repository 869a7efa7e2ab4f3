"""A reviewer's decisions reach the merchant, against the real assistant (Rasa, action server and
console, `bot serve`): two merchants file over REST, their photos arrive, a reviewer signs in to
the console over HTTP, approves one request and rejects the other with a reason; statuses, audit
rows and SMS are checked, and each merchant's 我的申请审核到哪了 gets the decision (the chat message
first, with the merchant's next message as REST delivers it, then the status answer)."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.engine import make_engine, session_factory, session_scope
from e2e.test_change_conversation import CODE, Merchant, fill_details, requests_of

pytestmark = pytest.mark.servers

REVIEWER, PASSWORD = "reviewer-e2e", "a long enough password"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
REFERENCE = re.compile(r"CR\d{8}-[0-9A-Z]{4}")


@contextmanager
def database(assistant) -> Iterator[Session]:
    """A session on the assistant's database, with its data key (the rows hold encrypted numbers)."""
    from simulation.provision import _assistant_environment

    with _assistant_environment(assistant.var_dir):
        engine = make_engine(f"sqlite:///{assistant.var_dir / 'bot.db'}")
        try:
            with session_scope(session_factory(engine)) as session:
                yield session
        finally:
            engine.dispose()


def file_with_photos(assistant, start: int) -> tuple[Merchant, str]:
    """A merchant of its own files over REST (REST takes no photos: awaiting documents), then the
    three photos arrive the way the web chat hands them to the domain."""
    from bot.change_requests import documents
    from bot.db.models import Merchant as MerchantRow
    from simulation import provision

    chat = Merchant(assistant, *provision.Provider(assistant.var_dir, start=start).new())
    chat.identify()
    fill_details(chat)
    chat.say("确认")
    filed = chat.say(CODE.findall(chat.new_sms()[-1]["text"])[0])
    reference = REFERENCE.search(filed).group()
    with database(assistant) as session:
        owner = session.execute(select(MerchantRow).where(MerchantRow.merchant_number == chat.number)).scalar_one()
        for kind in ("id_front", "id_back", "card_front"):
            upload = documents.store_upload(session, conversation_id=chat.sender, channel="rest", data=PNG, kind=kind)
            documents.receive_document(session, chat.sender, upload.public_id, owner)
    assert requests_of(assistant, chat.number)[0]["status"] == "under_review"
    chat.new_sms()  # the filing notice
    return chat, reference


class Console:
    """A reviewer's browser: cookies, the CSRF token of the pages, forms posted."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _NoRedirect())

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base_url + path, timeout=30) as reply:
                return reply.status, reply.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    def post(self, path: str, token_from: str, **form: str) -> int:
        token = CSRF.search(self.get(token_from)[1]).group(1)
        data = urllib.parse.urlencode({"csrf_token": token, **form}).encode()
        try:
            with self.opener.open(urllib.request.Request(self.base_url + path, data=data), timeout=30) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # a 302/303 is an answer to check, not a page to follow


def test_a_reviewer_approves_one_request_and_rejects_another(assistant):
    from bot.agents import accounts
    from bot.db.models import AuditEvent, ChangeRequest, StaffRole

    first, first_reference = file_with_photos(assistant, start=93000)
    second, second_reference = file_with_photos(assistant, start=93100)
    with database(assistant) as session:
        accounts.create_account(session, REVIEWER, PASSWORD, StaffRole.REVIEWER, "审核员")

    console = Console(assistant.console_url)
    assert console.post("/login", "/login", username=REVIEWER, password=PASSWORD) == 302
    status, queue = console.get("/reviews")
    assert status == 200 and first_reference in queue and second_reference in queue
    assert "6222021000000000124" not in queue and "310101198503171233" not in queue
    assert console.post(f"/reviews/{first_reference}/approve", f"/reviews/{first_reference}") == 303
    assert console.post(f"/reviews/{second_reference}/reject", f"/reviews/{second_reference}",
                        reason="card_photo_unclear") == 303

    assert requests_of(assistant, first.number)[0]["status"] == "approved"
    assert requests_of(assistant, second.number)[0]["status"] == "rejected"
    with database(assistant) as session:
        for reference, action in ((first_reference, "change_request.approved"),
                                  (second_reference, "change_request.rejected")):
            request = session.execute(select(ChangeRequest).where(ChangeRequest.reference == reference)).scalar_one()
            actors = session.execute(select(AuditEvent.actor).where(AuditEvent.change_request_id == request.id,
                                                                    AuditEvent.action == action)).scalars().all()
            assert actors == [f"staff:{REVIEWER}"] and request.decided_by == REVIEWER

    [approved_sms] = first.new_sms()
    assert approved_sms["text"].startswith(f"【结算助手】您的结算卡变更申请{first_reference}已审核通过，新卡中国工商银行尾号0124")
    [rejected_sms] = second.new_sms()
    assert f"{second_reference}未通过审核，原因：银行卡照片不清晰。请重新拍摄清晰、完整的银行卡正面照片后重新申请。" \
        in rejected_sms["text"]

    # 我的申请审核到哪了: REST brings the decision's chat message first, then the status answer.
    replies = assistant.say(first.sender, "我的申请审核到哪了")
    texts = [reply.get("text", "") for reply in replies]
    assert "审核通过" in texts[0] and first_reference in texts[0]
    answer = "\n".join(texts[1:])
    assert f"您的申请 {first_reference}（新卡 中国工商银行 尾号0124）已于" in answer
    assert "审核通过。新卡在结算账户切换完成后生效" in answer and "交易款项仍结算至原卡" in answer

    replies = assistant.say(second.sender, "我的申请审核到哪了")
    texts = [reply.get("text", "") for reply in replies]
    assert "未通过审核" in texts[0]
    answer = "\n".join(texts[1:])
    assert f"您的申请 {second_reference}" in answer
    assert "未通过审核，原因：银行卡照片不清晰。请重新拍摄清晰、完整的银行卡正面照片后重新申请。原结算卡继续有效。" in answer
