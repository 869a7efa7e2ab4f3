"""Tables of the request store: merchants, their terminals and settlement accounts, change requests,
handoffs to human agents, one-time-code challenges, per-merchant verification state and the audit
trail.

Full card, account and ID numbers are only ever stored encrypted (`EncryptedString`); a `*_last4`
column next to each serves display and lookups. Timestamps are timezone-aware UTC (`UtcDateTime`);
`bot.workdays.to_local_iso` turns them into the local form shown to people.

All status values live here, as `str` enums, so `RequestStatus.UNDER_REVIEW == "under_review"`.
"""
from __future__ import annotations

import enum
import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import Session, declarative_base, relationship, validates
from sqlalchemy.types import TypeDecorator

from bot.db.crypto import EncryptedString
from bot.masking import last4, redact
from bot.workdays import LOCAL_TZ, utcnow


class MerchantKind(str, enum.Enum):
    MICRO = "micro"  # 个人/小微: an individual, no business licence
    SOLE_TRADER = "sole_trader"  # 个体工商户
    COMPANY = "company"  # 企业


class TerminalStatus(str, enum.Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class AccountKind(str, enum.Enum):
    DEBIT_CARD = "debit_card"
    CORPORATE_ACCOUNT = "corporate_account"  # 对公账户


class RequestStatus(str, enum.Enum):
    AWAITING_DOCUMENTS = "awaiting_documents"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ESCALATED = "escalated"

    @property
    def label(self) -> str:
        return REQUEST_STATUS_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self in OPEN_REQUEST_STATUSES


REQUEST_STATUS_LABELS = {
    RequestStatus.AWAITING_DOCUMENTS: "待补充材料",
    RequestStatus.UNDER_REVIEW: "审核中",
    RequestStatus.APPROVED: "已通过",
    RequestStatus.REJECTED: "已驳回",
    RequestStatus.COMPLETED: "已完成",
    RequestStatus.CANCELLED: "已取消",
    RequestStatus.ESCALATED: "已升级处理",
}

# Approved is still open: the account switch has not been carried out yet, and a second request
# filed meanwhile would race with it.
OPEN_REQUEST_STATUSES = frozenset(
    {
        RequestStatus.AWAITING_DOCUMENTS,
        RequestStatus.UNDER_REVIEW,
        RequestStatus.APPROVED,
        RequestStatus.ESCALATED,
    }
)
# The statuses in which the review deadline (`due_at`) is running.
REVIEW_PENDING_STATUSES = frozenset({RequestStatus.UNDER_REVIEW, RequestStatus.ESCALATED})


class HandoffStatus(str, enum.Enum):
    WAITING = "waiting"  # in the queue, no agent yet
    ACTIVE = "active"  # an agent is talking to the merchant
    RESOLVED = "resolved"  # handed back to the bot

    @property
    def label(self) -> str:
        return HANDOFF_STATUS_LABELS[self]


HANDOFF_STATUS_LABELS = {
    HandoffStatus.WAITING: "等待接入",
    HandoffStatus.ACTIVE: "处理中",
    HandoffStatus.RESOLVED: "已解决",
}

class VerificationPurpose(str, enum.Enum):
    """What a one-time code proves: who the merchant is, or their consent to one specific change."""

    IDENTIFY = "identify"
    SIGN_CHANGE = "sign_change"
    ENROL = "enrol"  # enrolling an authenticator app: a fresh code, sent for that (bot.codes.authenticator)


# Reference numbers: `CR20261125-7Q4K`. No 0/O, 1/I/L: merchants read them out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference(now: datetime | None = None) -> str:
    """A fresh reference for a request filed at `now` (local date); unique with high probability,
    the unique constraint catches the rest."""
    local_day = (now or utcnow()).astimezone(LOCAL_TZ)
    suffix = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(4))
    return f"CR{local_day:%Y%m%d}-{suffix}"


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in Python whatever the backend (SQLite keeps no offset, PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware values (bot.workdays.utcnow())")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class StrEnumType(TypeDecorator):
    """A plain VARCHAR holding an enum's value; refuses unknown values before they reach the database."""

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[enum.Enum], length: int = 20) -> None:
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value: Any, dialect: Any) -> enum.Enum | None:
        return None if value is None else self.enum_class(value)


def _in(column: str, enum_class: type[enum.Enum]) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum_class)
    return f"{column} IN ({values})"


# Deterministic constraint names: SQLite batch migrations and future ALTERs need to address them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Base = declarative_base(metadata=metadata)


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (CheckConstraint(_in("kind", MerchantKind), name="kind"),)

    id = Column(Integer, primary_key=True)
    merchant_number = Column(String(15), nullable=False, unique=True)  # 商户编号, 15 digits
    kind = Column(StrEnumType(MerchantKind), nullable=False)
    business_name = Column(String(100))
    license_code = Column(String(18))  # unified social credit code; public, so plain
    legal_person_name = Column(String(50), nullable=False)  # legal person / operator
    holder_id_number = Column(EncryptedString, nullable=False)
    holder_id_last4 = Column(String(4), nullable=False)
    phone = Column(String(20), nullable=False)  # registered mobile: the only number codes go to
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)

    terminals = relationship("Terminal", back_populates="merchant", order_by="Terminal.id")
    accounts = relationship("SettlementAccount", back_populates="merchant", order_by="SettlementAccount.id")
    change_requests = relationship("ChangeRequest", back_populates="merchant", order_by="ChangeRequest.id")

    @validates("holder_id_number")
    def _keep_id_last4(self, key: str, value: str) -> str:
        self.holder_id_last4 = last4(value)
        return value

    @property
    def current_account(self) -> "SettlementAccount | None":
        return next((account for account in self.accounts if account.is_current), None)

    def __repr__(self) -> str:
        return f"<Merchant {self.merchant_number} {self.kind}>"


class Terminal(Base):
    __tablename__ = "terminals"
    __table_args__ = (CheckConstraint(_in("status", TerminalStatus), name="status"),)

    id = Column(Integer, primary_key=True)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), nullable=False, index=True)
    serial_number = Column(String(32), nullable=False, unique=True)
    status = Column(StrEnumType(TerminalStatus), nullable=False)
    activated_at = Column(UtcDateTime)

    merchant = relationship("Merchant", back_populates="terminals")


class SettlementAccount(Base):
    __tablename__ = "settlement_accounts"
    __table_args__ = (CheckConstraint(_in("account_kind", AccountKind), name="account_kind"),)

    id = Column(Integer, primary_key=True)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), nullable=False, index=True)
    bank_code = Column(String(16), nullable=False)  # e.g. ICBC
    bank_name = Column(String(50), nullable=False)  # full name, e.g. 中国工商银行
    account_kind = Column(StrEnumType(AccountKind), nullable=False)
    account_number = Column(EncryptedString, nullable=False)
    account_last4 = Column(String(4), nullable=False)
    holder_name = Column(String(100), nullable=False)
    is_current = Column(Boolean, nullable=False, default=False)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)

    merchant = relationship("Merchant", back_populates="accounts")

    @validates("account_number")
    def _keep_last4(self, key: str, value: str) -> str:
        self.account_last4 = last4(value)
        return value


class ChangeRequest(Base):
    """A merchant's request to replace the current settlement account by a new one."""

    __tablename__ = "change_requests"
    __table_args__ = (CheckConstraint(_in("status", RequestStatus), name="status"),)

    id = Column(Integer, primary_key=True)
    reference = Column(String(20), nullable=False, unique=True)  # CR20261125-7Q4K
    merchant_id = Column(Integer, ForeignKey("merchants.id"), nullable=False, index=True)
    status = Column(StrEnumType(RequestStatus), nullable=False)
    reason = Column(String(200), nullable=False)
    bank_code = Column(String(16), nullable=False)
    bank_name = Column(String(50), nullable=False)
    account_number = Column(EncryptedString, nullable=False)  # the new card / account
    card_last4 = Column(String(4), nullable=False)
    account_name = Column(String(100), nullable=False)  # holder name on the new account
    holder_id_number = Column(EncryptedString)
    holder_id_last4 = Column(String(4))
    opening_branch = Column(String(100))  # 开户支行
    channel = Column(String(20), nullable=False)  # webchat, wechat, rest, agent, ...
    conversation_id = Column(String(100))
    needs_manual_review = Column(Boolean, nullable=False, default=False)
    review_notes = Column(Text)
    # Set by the filing step from the conversation and confirmed values: a second submit finds the
    # first request instead of filing again.
    idempotency_key = Column(String(100), unique=True)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    updated_at = Column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    due_at = Column(UtcDateTime, nullable=False)  # expected end of review
    # Codes of the documents still to send (bot.change_requests.filing.DOCUMENT_LABELS); NULL for rows filed
    # before the column existed (migration 0002).
    missing_documents = Column(JSON)
    # The reviewer's decision (approved, rejected, more documents asked): who, when, and for a
    # rejection the reason code (bot.change_requests.review.REJECTION_REASONS).
    decided_by = Column(String(100))
    decided_at = Column(UtcDateTime)
    decision_reason = Column(String(50))

    merchant = relationship("Merchant", back_populates="change_requests")

    @validates("account_number")
    def _keep_card_last4(self, key: str, value: str) -> str:
        self.card_last4 = last4(value)
        return value

    @validates("holder_id_number")
    def _keep_id_last4(self, key: str, value: str | None) -> str | None:
        self.holder_id_last4 = last4(value) if value else None
        return value

    @property
    def is_open(self) -> bool:
        return RequestStatus(self.status).is_open

    def is_overdue(self, now: datetime | None = None) -> bool:
        """Review still pending past its due date."""
        # Converted first: a str enum hashes by name, so a plain "under_review" is not in the set.
        return RequestStatus(self.status) in REVIEW_PENDING_STATUSES and (now or utcnow()) > self.due_at

    def __repr__(self) -> str:
        return f"<ChangeRequest {self.reference} {self.status}>"


class Handoff(Base):
    """A conversation handed to a human agent; `context` holds masked values and the transcript."""

    __tablename__ = "handoffs"
    __table_args__ = (CheckConstraint(_in("status", HandoffStatus), name="status"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    channel = Column(String(20), nullable=False)
    reason = Column(String(200), nullable=False)
    status = Column(StrEnumType(HandoffStatus), nullable=False, default=HandoffStatus.WAITING)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), index=True)
    context = Column(JSON, nullable=False, default=dict)
    agent = Column(String(100))
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    updated_at = Column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    merchant = relationship("Merchant")


class VerificationChallenge(Base):
    """One one-time code sent by SMS (bot.codes.sms_codes): the code itself is never stored, only the
    HOTP secret that generates it, encrypted."""

    __tablename__ = "verification_challenges"
    __table_args__ = (CheckConstraint(_in("purpose", VerificationPurpose), name="purpose"),)

    id = Column(Integer, primary_key=True)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), nullable=False, index=True)
    phone = Column(String(20), nullable=False, index=True)  # registered phone at sending time
    purpose = Column(StrEnumType(VerificationPurpose), nullable=False)
    conversation_id = Column(String(100))
    secret = Column(EncryptedString, nullable=False)  # base32 HOTP secret, one per challenge
    # HMAC (keyed with the secret) of what the code was sent for: conversation, and for signing
    # the change details. A code only verifies the same thing it was sent for.
    context_digest = Column(String(64), nullable=False)
    attempts = Column(Integer, nullable=False, default=0)  # wrong entries
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)  # = sent at
    expires_at = Column(UtcDateTime, nullable=False)
    used_at = Column(UtcDateTime)  # set once, by the successful entry

    merchant = relationship("Merchant")


class MerchantSecurity(Base):
    """Per-merchant verification state: the lock-out after wrong codes, and the optional
    authenticator app (TOTP) enrolment. A row is created the first time it is needed."""

    __tablename__ = "merchant_security"

    id = Column(Integer, primary_key=True)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), nullable=False, unique=True)
    locked_until = Column(UtcDateTime)
    totp_secret = Column(EncryptedString)  # confirmed authenticator secret (base32)
    totp_pending_secret = Column(EncryptedString)  # enrolment started, not yet confirmed
    totp_enabled_at = Column(UtcDateTime)
    totp_last_step = Column(Integer)  # last accepted time step: a TOTP code works once
    # Wrong codes in a row of any kind a conversation that proved the phone typed (signing codes, SMS
    # or authenticator; the authenticator's first code): the 5th locks the merchant (bot.codes.lockout).
    wrong_codes = Column(Integer, nullable=False, default=0)
    updated_at = Column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    merchant = relationship("Merchant")


class ChangeSignature(Base):
    """A signing code (SMS or authenticator) verified in one conversation for exactly one set of
    change details (bot.codes.signatures). Filing needs one, unused, and uses it up in the
    transaction that files: the slots of a conversation are never proof of a signature."""

    __tablename__ = "change_signatures"

    id = Column(Integer, primary_key=True)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), nullable=False, index=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    secret = Column(EncryptedString, nullable=False)  # random HMAC key of this row
    # HMAC (keyed with the secret) of the signed details (ChangeDetails.signing_context): which
    # change was signed, without the card or ID number in any readable form.
    details_digest = Column(String(64), nullable=False)
    method = Column(String(10), nullable=False)  # sms, totp
    signed_at = Column(UtcDateTime, nullable=False, default=utcnow)
    expires_at = Column(UtcDateTime, nullable=False)
    used_at = Column(UtcDateTime)  # set once, by the filing it allowed
    change_request_id = Column(Integer, ForeignKey("change_requests.id"))

    merchant = relationship("Merchant")
    change_request = relationship("ChangeRequest")


class CodeLimitEvent(Base):
    """One event a limit of bot.codes counts (bot.codes.throttle): a code requested, by whom (the
    conversation, the client's address, the merchant number typed), or a wrong code typed in a
    conversation. Only a digest of the key is kept: the table says how often, not who. Rows older
    than the longest window (a day) are deleted as new ones come."""

    __tablename__ = "code_limit_events"
    __table_args__ = (Index("ix_code_limit_events_lookup", "kind", "key_digest", "occurred_at"),)

    id = Column(Integer, primary_key=True)
    kind = Column(String(40), nullable=False)  # e.g. "identification:ip", "wrong_code:conversation"
    key_digest = Column(String(64), nullable=False)  # SHA-256 of the key (the address, the conversation id ...)
    occurred_at = Column(UtcDateTime, nullable=False, default=utcnow)


class AuditEvent(Base):
    """Who did what, when. `detail` never holds a full card or ID number (see `audit`)."""

    __tablename__ = "audit_events"

    id = Column(Integer, primary_key=True)
    occurred_at = Column(UtcDateTime, nullable=False, default=utcnow)
    actor = Column(String(100), nullable=False)  # bot, agent:<name>, merchant:<number>
    action = Column(String(50), nullable=False)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), index=True)
    change_request_id = Column(Integer, ForeignKey("change_requests.id"), index=True)
    detail = Column(JSON, nullable=False, default=dict)

    merchant = relationship("Merchant")
    change_request = relationship("ChangeRequest")


class StaffRole(str, enum.Enum):
    AGENT = "agent"  # takes handed-off conversations
    REVIEWER = "reviewer"  # approves or rejects filed changes
    TRAINER = "trainer"  # improves the NLU data


class StaffAccount(Base):
    """A person of the acquirer who signs in to the console (bot/agents/accounts.py)."""

    __tablename__ = "staff_accounts"
    __table_args__ = (CheckConstraint(_in("role", StaffRole), name="role"),)

    id = Column(Integer, primary_key=True)
    username = Column(String(50), nullable=False, unique=True)
    display_name = Column(String(50), nullable=False)  # shown to merchants with an agent's replies
    role = Column(StrEnumType(StaffRole), nullable=False)
    password_hash = Column(String(200), nullable=False)  # argon2id, never the password
    failed_logins = Column(Integer, nullable=False, default=0)  # wrong passwords in a row
    locked_until = Column(UtcDateTime)
    disabled = Column(Boolean, nullable=False, default=False)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)


class StaffSession(Base):
    """A signed-in console session. The cookie holds a random token; only its SHA-256 is kept, so
    a copy of the database signs nobody in; logging out ends the row, and the cookie with it."""

    __tablename__ = "staff_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    account_id = Column(Integer, ForeignKey("staff_accounts.id"), nullable=False, index=True)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    last_seen_at = Column(UtcDateTime, nullable=False, default=utcnow)
    expires_at = Column(UtcDateTime, nullable=False)
    ended_at = Column(UtcDateTime)

    account = relationship("StaffAccount")


class HandoffMessage(Base):
    """One message of a handed-off conversation after the handoff: the merchant's, an agent's reply
    (delivered to the merchant's channel), or an agent's internal note (never shown to the merchant).
    Text is masked before it is stored, as the handoff's transcript is."""

    __tablename__ = "handoff_messages"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(Integer, ForeignKey("handoffs.id"), nullable=False, index=True)
    sender = Column(String(20), nullable=False)  # merchant, agent, note, bot
    author = Column(String(50))  # the agent's username for agent replies and notes
    author_name = Column(String(50))  # the agent's display name, as the merchant sees it
    text = Column(Text, nullable=False)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    delivered_at = Column(UtcDateTime)  # agent replies: when the channel took it

    handoff = relationship("Handoff")


class OutboundMessage(Base):
    """A message for a merchant that no Rasa turn produced: an agent's reply, the bot's question
    after a hand-back, a reviewer's decision. Each channel delivers its own: the web chat and WeChat
    channels poll for undelivered rows (any replica; `delivered_at` is set by one UPDATE, so a
    message goes out once), REST returns them with the merchant's next message."""

    __tablename__ = "outbound_messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    channel = Column(String(20), nullable=False, index=True)  # webchat, wechat, rest
    text = Column(Text, nullable=False)
    author_name = Column(String(50))  # the agent's display name; None: the assistant itself
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    delivered_at = Column(UtcDateTime)


class UploadedDocument(Base):
    """A photo or scan a merchant sent (web chat upload, WeChat image). The file itself lies
    Fernet-encrypted under `var/uploads/` with a random name (ID and card photos show full numbers);
    this row says whose it is, what it is and which request it belongs to."""

    __tablename__ = "uploaded_documents"

    id = Column(Integer, primary_key=True)
    public_id = Column(String(32), nullable=False, unique=True)  # random; what messages refer to
    conversation_id = Column(String(100), nullable=False, index=True)
    channel = Column(String(20), nullable=False)  # webchat, wechat
    merchant_id = Column(Integer, ForeignKey("merchants.id"), index=True)
    change_request_id = Column(Integer, ForeignKey("change_requests.id"), index=True)
    kind = Column(String(30))  # bot.change_requests.filing.Document code, set when the bot knows which document it is
    content_type = Column(String(50), nullable=False)  # from the content, never the client's word
    size_bytes = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    stored_name = Column(String(80), nullable=False, unique=True)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)

    merchant = relationship("Merchant")
    change_request = relationship("ChangeRequest")


class WeChatInboundMessage(Base):
    """One message or event pushed by WeChat, keyed so that WeChat's retries (up to 3, when we are
    slow) and replays are recognised by every worker: `msg:<MsgId>` or `event:<openid>:<CreateTime>`."""

    __tablename__ = "wechat_inbound_messages"

    id = Column(Integer, primary_key=True)
    dedup_key = Column(String(128), nullable=False, unique=True)
    openid = Column(String(64), nullable=False, index=True)
    msg_type = Column(String(20), nullable=False)
    received_at = Column(UtcDateTime, nullable=False, default=utcnow)
    processed_at = Column(UtcDateTime)
    outcome = Column(String(20))  # bot.wechat.store.Outcome: replied, failed, ignored, unbound, limited


class WeChatAccessToken(Base):
    """The Official Account's access token, cached once for all workers (stable_token)."""

    __tablename__ = "wechat_access_tokens"

    app_id = Column(String(64), primary_key=True)
    access_token = Column(EncryptedString, nullable=False)  # a credential: encrypted like card numbers
    expires_at = Column(UtcDateTime, nullable=False)
    refreshed_at = Column(UtcDateTime, nullable=False, default=utcnow)


class WeChatBinding(Base):
    """A WeChat follower (OpenID) who identified as a merchant with a code sent to the registered phone."""

    __tablename__ = "wechat_bindings"

    id = Column(Integer, primary_key=True)
    openid = Column(String(64), nullable=False, unique=True)
    merchant_id = Column(Integer, ForeignKey("merchants.id"), nullable=False, index=True)
    bound_at = Column(UtcDateTime, nullable=False, default=utcnow)

    merchant = relationship("Merchant")


class KeyCheck(Base):
    """A known value encrypted with the data key when the database was set up (bot.db.key_check):
    decrypting it at start proves that `BOT_DATA_KEY` is the key the stored data was written with."""

    __tablename__ = "key_checks"

    name = Column(String(50), primary_key=True)  # "data_key"
    token = Column(Text, nullable=False)  # Fernet token of KNOWN_PLAINTEXT, not EncryptedString: read raw
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)


class InboxDecision(str, enum.Enum):
    DISMISSED = "dismissed"  # nothing to learn from it
    LABELLED = "labelled"  # the trainer gave the right intent (the example went to data/nlu/)


class TrainingInboxDecision(Base):
    """A trainer's decision on one group of real messages of the trainer inbox (bot.training.inbox).
    Keyed by the group's key, a digest of its normalised redacted text: no message text is stored."""

    __tablename__ = "training_inbox_decisions"
    __table_args__ = (CheckConstraint(_in("decision", InboxDecision), name="decision"),)

    key = Column(String(16), primary_key=True)
    decision = Column(StrEnumType(InboxDecision), nullable=False)
    intent = Column(String(100))  # labelled: the intent or FAQ sub-intent (faq/fees)
    actor = Column(String(100), nullable=False)
    decided_at = Column(UtcDateTime, nullable=False, default=utcnow)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value


def audit(
    session: Session,
    actor: str,
    action: str,
    *,
    merchant: Merchant | None = None,
    change_request: ChangeRequest | None = None,
    occurred_at: datetime | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit event; long numbers in `detail` are masked as a safety net."""
    event = AuditEvent(
        actor=actor,
        action=action,
        merchant=merchant,  # relationships, so objects not yet flushed work too
        change_request=change_request,
        occurred_at=occurred_at or utcnow(),
        detail=_redacted(detail),
    )
    session.add(event)
    return event
