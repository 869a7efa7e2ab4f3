"""What the WeChat channel keeps in the application database, shared by every worker and process:

- one row per pushed message or event (`WeChatInboundMessage`): its unique key makes WeChat's
  retries and replays harmless, whichever worker they reach;
- the access token (`WeChatAccessToken`), fetched once for all workers and renewed by one;
- the OpenIDs of followers who identified as a merchant (`WeChatBinding`): a binding lasts
  WECHAT_BINDING_DAYS (default 90) from the last code the follower entered, and ends when the
  follower unsubscribes (`unbind_openid`); both ends are audited.

Functions take a session and leave committing to the caller (`bot.db.engine.session_scope`),
except `record_inbound`, which must roll back its own failed insert.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import Merchant, WeChatAccessToken, WeChatBinding, WeChatInboundMessage, audit
from bot.channel_trust import CONVERSATION_PREFIXES, WECHAT
from bot.wechat.protocol import OPENID_PATTERN
from bot.workdays import utcnow


class Outcome:
    """What became of an inbound message (`WeChatInboundMessage.outcome`)."""

    REPLIED = "replied"  # the dialogue ran and its replies were sent (or it chose to stay silent)
    FAILED = "failed"  # something could not be done or sent; the log says what
    IGNORED = "ignored"  # nothing to do (menu events, an unsubscribe without a binding, ...)
    UNBOUND = "unbound"  # an unsubscribe that ended the follower's binding
    LIMITED = "limited"  # over the follower's rate limit: told to send it again later, not processed


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


DEFAULT_BINDING_DAYS = 90


def binding_max_age() -> timedelta:
    """How long a binding vouches for a follower after the last code entered (WECHAT_BINDING_DAYS):
    a phone lost or passed on with WeChat logged in stops speaking for the merchant by itself."""
    value = os.environ.get("WECHAT_BINDING_DAYS", "").strip()
    try:
        days = int(value) if value else DEFAULT_BINDING_DAYS
    except ValueError:
        raise ValueError(f"WECHAT_BINDING_DAYS must be a whole number of days, not {value!r}")
    if days < 1:
        raise ValueError("WECHAT_BINDING_DAYS must be at least 1")
    return timedelta(days=days)


def bind_openid(session: Session, openid: str, merchant: Merchant, now: Optional[datetime] = None) -> WeChatBinding:
    """Remember that this follower identified as `merchant` (after a code sent to the registered
    phone was entered), for `binding_max_age()` from now: each new code renews it. A follower who
    later identifies as another merchant is bound to that one instead. New bindings and changes
    are audited; renewals are not (the code's own audit records them)."""
    if not OPENID_PATTERN.match(openid or ""):
        raise ValueError("not an OpenID")
    now = now or utcnow()
    binding = session.execute(select(WeChatBinding).where(WeChatBinding.openid == openid)).scalar_one_or_none()
    if binding is None:
        binding = WeChatBinding(openid=openid, merchant=merchant, bound_at=now)
        session.add(binding)
        audit(session, f"merchant:{merchant.merchant_number}", "wechat.bound", merchant=merchant, occurred_at=now,
              openid=openid)
    elif binding.merchant_id != merchant.id:
        previous = binding.merchant
        binding.merchant = merchant
        audit(session, f"merchant:{merchant.merchant_number}", "wechat.bound", merchant=merchant, occurred_at=now,
              openid=openid, previous_merchant=previous.merchant_number if previous else None)
    binding.bound_at = now
    session.flush()
    return binding


def bound_merchant_number(session: Session, openid: str, now: Optional[datetime] = None) -> Optional[str]:
    """The merchant number this follower is bound to, if the binding has not expired."""
    since = (now or utcnow()) - binding_max_age()
    return session.execute(
        select(Merchant.merchant_number)
        .join(WeChatBinding, WeChatBinding.merchant_id == Merchant.id)
        .where(WeChatBinding.openid == openid, WeChatBinding.bound_at > since)
    ).scalar_one_or_none()


def unbind_openid(session: Session, openid: str, reason: str, now: Optional[datetime] = None) -> bool:
    """End this follower's binding (they unsubscribed: `reason` "unsubscribe"); audited. False
    when there was none. The follower identifies with a code again after subscribing again."""
    binding = session.execute(select(WeChatBinding).where(WeChatBinding.openid == openid)).scalar_one_or_none()
    if binding is None:
        return False
    merchant = binding.merchant
    session.delete(binding)
    audit(session, f"wechat:{openid}", "wechat.unbound", merchant=merchant, occurred_at=now or utcnow(),
          openid=openid, reason=reason)
    session.flush()
    return True


def forget_expired_bindings(session: Session, now: Optional[datetime] = None) -> int:
    """Delete the bindings past `binding_max_age()` (they vouch for nobody already); audited one
    by one; returns how many. `bot wechat prune` runs it."""
    now = now or utcnow()
    expired = session.execute(
        select(WeChatBinding).where(WeChatBinding.bound_at <= now - binding_max_age())
    ).scalars().all()
    for binding in expired:
        audit(session, "bot", "wechat.unbound", merchant=binding.merchant, occurred_at=now,
              openid=binding.openid, reason="expired", bound_at=binding.bound_at.isoformat())
        session.delete(binding)
    session.flush()
    return len(expired)
