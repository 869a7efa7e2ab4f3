"""Who asks for codes, and how often they may: limits per conversation, per client address and per
merchant number typed (issue 12, finding 4: SMS pumping, targeted exhaustion, enumeration).

`send_limits` protects a phone from its codes; this protects the merchants and the SMS bill from
whoever asks. Every caller of `send_code` first asks `admit_request` (the identification form, "resend",
the signing step, the enrolment): refused, no code is sent and the merchant is told how long to
wait; admitted, the request is counted under every key below and committed.

At most, per budget (identification and enrolment codes, or signing codes: `send_limits.budget_of`):
- per conversation (`Requester.conversation_id`: a REST client's sender, a WeChat follower, a web
  chat merchant): 5 an hour and 10 a day;
- per client address (`Requester.address`, when the channel saw one: the REST caller, the web chat
  page; the channels put it in the message metadata, a client cannot choose it): 20 an hour and
  50 a day. A REST client can start a new conversation with every message; its address it cannot
  change as easily. WeChat's messages all come from WeChat's servers, so there the follower (the
  conversation) is the client;
- per merchant number typed, for identification and enrolment codes, whether the number exists
  or not: 60 s between two requests of one purpose, 5 an hour and 10 a day, the phone's own numbers.
  A number that exists and one that does not are then refused alike, and ten requests from ten
  addresses still use up only the identification budget (`bot.codes.identification`).
An identification request from a conversation locked out after wrong codes (`lockout`) is LOCKED.

Counted in the database (`throttle`): the action server may run several workers and replicas. A
refused request counts for nothing, so the wait told is true; nor does a code the SMS provider
refused (`release_request`: "resend" may be asked for at once, as `sms_codes` promises).
`send_requested_code` is the usual sequence for a merchant already identified: admit, send, give
back on a failed delivery.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.codes import throttle
from bot.codes.lockout import conversation_locked_for
from bot.codes.outcomes import Outcome, SendResult
from bot.codes.policy import DEFAULT_POLICY, Policy
from bot.codes.send_limits import IDENTIFICATION, budget_of
from bot.codes.sms_codes import send_code
from bot.db.models import Merchant, VerificationPurpose
from bot.sms.gateway import SmsGateway
from bot.workdays import utcnow

if TYPE_CHECKING:
    from bot.change_requests.filing import ChangeDetails

__all__ = ["Requester", "admit_request", "release_request", "send_requested_code"]

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Requester:
    """Who asks for a code: the conversation, and the client's address when the channel knows it."""

    conversation_id: str | None
    address: str | None = None


def admit_request(
    session: Session,
    requester: Requester,
    purpose: VerificationPurpose | str,
    *,
    merchant_number: str | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> SendResult | None:
    """None when `requester` may ask for a `purpose` code now (the request is counted; commits);
    else LOCKED, TOO_SOON or RATE_LIMITED with `retry_after`, nothing counted. `merchant_number`
    is the number typed, for identification and enrolment codes."""
    purpose = VerificationPurpose(purpose)
    now = now or utcnow()
    budget = budget_of(purpose)
    if budget == IDENTIFICATION:
        locked = conversation_locked_for(session, requester.conversation_id, now, policy)
        if locked is not None:
            return SendResult(Outcome.LOCKED, retry_after=locked)
    checks = _checks(requester, purpose, budget, merchant_number, policy)
    for kind, key, windows in checks:
        wait = throttle.wait(session, kind, key, windows, now)
        if wait is not None:
            session.rollback()
            too_soon = kind.endswith(":resend")
            return SendResult(Outcome.TOO_SOON if too_soon else Outcome.RATE_LIMITED, retry_after=wait)
    for kind, key, _ in checks:
        throttle.record(session, kind, key, now)
    session.commit()
    return None


def release_request(
    session: Session,
    requester: Requester,
    purpose: VerificationPurpose | str,
    *,
    merchant_number: str | None = None,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> None:
    """Give back a request admitted at `now` whose code was not delivered; commits."""
    purpose = VerificationPurpose(purpose)
    for kind, key, _ in _checks(requester, purpose, budget_of(purpose), merchant_number, policy):
        throttle.unrecord(session, kind, key, now)
    session.commit()


def send_requested_code(
    session: Session,
    merchant: Merchant,
    purpose: VerificationPurpose | str,
    requester: Requester,
    *,
    change: ChangeDetails | None = None,
    gateway: SmsGateway | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> SendResult:
    """A code for a merchant the conversation already identified (signing, enrolment): admitted,
    then sent (`sms_codes.send_code`); a code the provider did not deliver is given back."""
    purpose = VerificationPurpose(purpose)
    now = now or utcnow()
    number = merchant.merchant_number if budget_of(purpose) == IDENTIFICATION else None
    refusal = admit_request(session, requester, purpose, merchant_number=number, now=now, policy=policy)
    if refusal is not None:
        return refusal
    sent = send_code(session, merchant, purpose, conversation_id=requester.conversation_id, change=change,
                     gateway=gateway, now=now, policy=policy)
    if sent.outcome is Outcome.NOT_DELIVERED:
        release_request(session, requester, purpose, merchant_number=number, now=now, policy=policy)
    return sent


def _checks(
    requester: Requester, purpose: VerificationPurpose, budget: str, merchant_number: str | None, policy: Policy
) -> list[tuple[str, str, list[throttle.Window]]]:
    """(kind, key, windows) of every limit the request must be within, in the order they are told."""
    checks = []
    if merchant_number and budget == IDENTIFICATION:
        checks += [
            (f"{purpose.value}:number:resend", merchant_number, [throttle.Window(1, policy.resend_interval)]),
            (f"{budget}:number", merchant_number,
             [throttle.Window(policy.max_sends_per_hour, HOUR), throttle.Window(policy.max_sends_per_day, DAY)]),
        ]
    checks.append((f"{budget}:conversation", requester.conversation_id or "",
                   [throttle.Window(policy.max_requests_per_conversation_hour, HOUR),
                    throttle.Window(policy.max_requests_per_conversation_day, DAY)]))
    if requester.address:
        checks.append((f"{budget}:address", requester.address,
                       [throttle.Window(policy.max_requests_per_address_hour, HOUR),
                        throttle.Window(policy.max_requests_per_address_day, DAY)]))
    return checks
