"""How much one merchant may upload in a day: document photos are 5 MB each, encrypted on disk,
and a change needs four or five of them; without a bound, one portal token (or one WeChat
follower) could fill the disk.

The quota counts per merchant, whichever way the files came: the web chat conversation of the
merchant (`webchat-<number>`), the WeChat followers bound to it, and any file already attached to
it. A follower not bound to a merchant (not yet identified) counts on its own. The day is the
service's calendar day (China time, bot.workdays), so "请明天再上传" is true at midnight.

Defaults (UPLOAD_DAILY_MAX_FILES, UPLOAD_DAILY_MAX_MB): 20 files or 50 MB a day, four times what
a change needs with every photo sent twice. Two uploads at the very same moment may both pass
the last free place (the count is read, then the file stored): one file over, never a flood.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, time
from typing import Dict, Optional

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.channel_trust import CONVERSATION_PREFIXES, WEBCHAT, is_merchant_number, webchat_conversation_id, \
    wechat_conversation_id
from bot.db.models import Merchant, UploadedDocument, WeChatBinding
from bot.wechat.store import bound_merchant_number, openid_from_conversation_id
from bot.workdays import LOCAL_TZ, utcnow

QUOTA_RESPONSE = "utter_upload_quota_reached"


@dataclass(frozen=True)
class UploadQuota:
    max_files: int
    max_bytes: int

    def variables(self) -> Dict[str, str]:
        """The limits as `utter_upload_quota_reached` names them."""
        return {"max_files": str(self.max_files), "max_mb": str(self.max_bytes // (1024 * 1024))}


def _positive(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    try:
        number = int(value) if value else default
    except ValueError:
        raise ValueError(f"{variable} must be a whole number, not {value!r}")
    if number < 1:
        raise ValueError(f"{variable} must be at least 1")
    return number


def configured_quota() -> UploadQuota:
    return UploadQuota(max_files=_positive("UPLOAD_DAILY_MAX_FILES", 20),
                       max_bytes=_positive("UPLOAD_DAILY_MAX_MB", 50) * 1024 * 1024)


@dataclass(frozen=True)
class Usage:
    files: int
    bytes: int


def used_today(session: Session, conversation_id: str, now: Optional[datetime] = None) -> Usage:
    """What the uploader of this conversation (its merchant, else the conversation) sent today."""
    now = now or utcnow()
    day_start = datetime.combine(now.astimezone(LOCAL_TZ).date(), time(0), tzinfo=LOCAL_TZ)
    merchant = _uploading_merchant(session, conversation_id, now)
    if merchant is None:
        whose = UploadedDocument.conversation_id == conversation_id
    else:
        conversations = {webchat_conversation_id(merchant.merchant_number), conversation_id}
        conversations.update(wechat_conversation_id(openid) for openid in session.execute(
            select(WeChatBinding.openid).where(WeChatBinding.merchant_id == merchant.id)).scalars())
        whose = or_(UploadedDocument.merchant_id == merchant.id,
                    UploadedDocument.conversation_id.in_(sorted(conversations)))
    files, size = session.execute(
        select(func.count(UploadedDocument.id), func.coalesce(func.sum(UploadedDocument.size_bytes), 0))
        .where(whose, UploadedDocument.created_at >= day_start)
    ).one()
    return Usage(files=int(files), bytes=int(size))


def refusal(session: Session, conversation_id: str, size: int, now: Optional[datetime] = None,
            quota: Optional[UploadQuota] = None) -> Optional[Dict[str, str]]:
    """None when a file of `size` bytes fits in today's quota; else the variables of
    `utter_upload_quota_reached` (the limits), for the refusal."""
    quota = quota or configured_quota()
    usage = used_today(session, conversation_id, now)
    if usage.files + 1 > quota.max_files or usage.bytes + size > quota.max_bytes:
        return quota.variables()
    return None


def _uploading_merchant(session: Session, conversation_id: str, now: datetime) -> Optional[Merchant]:
    """The merchant a conversation uploads for: the web chat's (its token named it), or the one
    a WeChat follower is bound to; None otherwise."""
    number: Optional[str] = None
    prefix = CONVERSATION_PREFIXES[WEBCHAT]
    if conversation_id.startswith(prefix) and is_merchant_number(conversation_id[len(prefix):]):
        number = conversation_id[len(prefix):]
    else:
        openid = openid_from_conversation_id(conversation_id)
        number = bound_merchant_number(session, openid, now) if openid else None
    if number is None:
        return None
    return session.execute(select(Merchant).where(Merchant.merchant_number == number)).scalar_one_or_none()
