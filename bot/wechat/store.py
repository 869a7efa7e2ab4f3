"""What the WeChat channel keeps in the application database, shared by every worker and process:

- one row per pushed message or event (`WeChatInboundMessage`): its unique key makes WeChat's
  retries and replays harmless, whichever worker they reach;
- the access token (`WeChatAccessToken`), fetched once for all workers and renewed by one;
- the OpenIDs of followers who identified as a merchant (`WeChatBinding`).

Functions take a session and leave committing to the caller (`bot.db.engine.session_scope`),
except `record_inbound`, which must roll back its own failed insert.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import Merchant, WeChatAccessToken, WeChatBinding, WeChatInboundMessage
from bot.channel_trust import CONVERSATION_PREFIXES, WECHAT
from bot.wechat.protocol import OPENID_PATTERN
from bot.workdays import utcnow


class Outcome:
    """What became of an inbound message (`WeChatInboundMessage.outcome`)."""

    REPLIED = "replied"  # the dialogue ran and its replies were sent (or it chose to stay silent)
    FAILED = "failed"  # something could not be done or sent; the log says what
    IGNORED = "ignored"  # nothing to do (unsubscribe, menu events, ...)


# ---------------------------------------------------------------------------------------------
# Inbound messages


def record_inbound(session: Session, dedup_key: str, openid: str, msg_type: str) -> bool:
    """Record a push; False if its key was recorded before (a retry or a replay: do nothing).

    The unique constraint decides, so two workers receiving the same push at once cannot both
    win. The session is committed here: the row must be visible to them straight away.
    """
    session.add(WeChatInboundMessage(dedup_key=dedup_key, openid=openid, msg_type=msg_type[:20]))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def finish_inbound(session: Session, dedup_key: str, outcome: str, now: Optional[datetime] = None) -> None:
    session.execute(
        update(WeChatInboundMessage)
        .where(WeChatInboundMessage.dedup_key == dedup_key)
        .values(processed_at=now or utcnow(), outcome=outcome)
    )


def forget_inbound(session: Session, older_than: timedelta, now: Optional[datetime] = None) -> int:
    """Delete the records of pushes received more than `older_than` ago; returns how many.

    Safe for anything older than a few minutes: WeChat retries within seconds, and a replayed push
    older than the 5-minute timestamp window is refused before deduplication is consulted.
    """
    cutoff = (now or utcnow()) - older_than
    return session.execute(
        delete(WeChatInboundMessage).where(WeChatInboundMessage.received_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount


# ---------------------------------------------------------------------------------------------
# The access token


# A forced refresh claimed by a worker is left to it this long (WeChat itself wants 30 s between
# forced refreshes); after that, a worker that died mid-way is presumed gone and another may claim.
RENEWAL_CLAIM_S = 30


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: datetime
    refreshed_at: datetime

    def usable(self, now: datetime, margin_s: int) -> bool:
        """Valid for at least `margin_s` more seconds: renewed a few minutes early, so a call
        never starts with a token about to lapse."""
        return self.expires_at - timedelta(seconds=margin_s) > now

    @property
    def being_renewed(self) -> bool:
        """A worker claimed the forced refresh of this (rejected) token: `claim_token_refresh`
        marks the row by setting both times to the moment of the claim, which a saved token
        (expiring after it was fetched) never has."""
        return self.expires_at <= self.refreshed_at

    def renewal_abandoned(self, now: datetime) -> bool:
        return self.being_renewed and now - self.refreshed_at > timedelta(seconds=RENEWAL_CLAIM_S)


def load_token(session: Session, app_id: str) -> Optional[CachedToken]:
    row = session.get(WeChatAccessToken, app_id)
    if row is None:
        return None
    return CachedToken(row.access_token, row.expires_at, row.refreshed_at)


def save_token(session: Session, app_id: str, token: str, expires_in_s: int, now: Optional[datetime] = None) -> None:
    """Store a freshly fetched token (insert or replace); this also ends a renewal claim."""
    now = now or utcnow()
    expires_at = now + timedelta(seconds=max(expires_in_s, 1))
    row = session.get(WeChatAccessToken, app_id)
    if row is None:
        session.add(WeChatAccessToken(app_id=app_id, access_token=token, expires_at=expires_at, refreshed_at=now))
        try:
            session.flush()
            return
        except IntegrityError:  # another worker inserted it first: replace theirs
            session.rollback()
            row = session.get(WeChatAccessToken, app_id)
    row.access_token = token
    row.expires_at = expires_at
    row.refreshed_at = now


@dataclass(frozen=True)
class RefreshDecision:
    """After WeChat rejected a token: use `token` (someone already renewed it), or renew it
    ourselves (`claimed`), or neither (another worker is renewing it right now: wait for it)."""

    token: Optional[str] = None
    claimed: bool = False


def claim_token_refresh(session: Session, app_id: str, rejected: str, now: Optional[datetime] = None) -> RefreshDecision:
    """Decide who renews a rejected token, so that a burst of rejections across workers costs one
    forced refresh (WeChat allows few a day).

    The claim is a compare-and-set on `refreshed_at`: of the workers that read the same row, only
    the first one's UPDATE matches; it also marks the row as being renewed (`being_renewed`), so
    workers that read it later wait instead of claiming again. The caller commits at once.
    """
    now = now or utcnow()
    row = session.get(WeChatAccessToken, app_id)
    if row is None:
        return RefreshDecision(claimed=True)
    cached = CachedToken(row.access_token, row.expires_at, row.refreshed_at)
    if cached.being_renewed and not cached.renewal_abandoned(now):
        return RefreshDecision()
    if not cached.being_renewed and cached.token != rejected:
        return RefreshDecision(token=cached.token)
    claimed = session.execute(
        update(WeChatAccessToken)
        .where(WeChatAccessToken.app_id == app_id, WeChatAccessToken.refreshed_at == row.refreshed_at)
        .values(refreshed_at=now, expires_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    return RefreshDecision(claimed=claimed)


def abandon_renewal(session: Session, app_id: str, now: Optional[datetime] = None) -> None:
    """The claimant could not renew the token: date its claim back so that workers waiting for
    it stop, and the next rejection may claim again straight away."""
    long_ago = (now or utcnow()) - timedelta(seconds=2 * RENEWAL_CLAIM_S)
    session.execute(
        update(WeChatAccessToken)
        .where(WeChatAccessToken.app_id == app_id, WeChatAccessToken.expires_at <= WeChatAccessToken.refreshed_at)
        .values(refreshed_at=long_ago, expires_at=long_ago)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------------------------------
# Followers bound to a merchant


def openid_from_conversation_id(conversation_id: str) -> Optional[str]:
    """The OpenID of a WeChat conversation id (`wechat-<openid>`); None for other channels."""
    prefix = CONVERSATION_PREFIXES[WECHAT]
    if not isinstance(conversation_id, str) or not conversation_id.startswith(prefix):
        return None
    openid = conversation_id[len(prefix):]
    return openid if OPENID_PATTERN.match(openid) else None


def bind_openid(session: Session, openid: str, merchant: Merchant) -> WeChatBinding:
    """Remember that this follower identified as `merchant` (after a code sent to the registered
    phone was entered). Idempotent; a follower who later identifies as another merchant is bound
    to that one instead."""
    if not OPENID_PATTERN.match(openid or ""):
        raise ValueError("not an OpenID")
    binding = session.execute(select(WeChatBinding).where(WeChatBinding.openid == openid)).scalar_one_or_none()
    if binding is None:
        binding = WeChatBinding(openid=openid, merchant=merchant, bound_at=utcnow())
        session.add(binding)
    elif binding.merchant_id != merchant.id:
        binding.merchant = merchant
        binding.bound_at = utcnow()
    session.flush()
    return binding


def bound_merchant_number(session: Session, openid: str) -> Optional[str]:
    """The merchant number this follower is bound to, if any."""
    return session.execute(
        select(Merchant.merchant_number)
        .join(WeChatBinding, WeChatBinding.merchant_id == Merchant.id)
        .where(WeChatBinding.openid == openid)
    ).scalar_one_or_none()
