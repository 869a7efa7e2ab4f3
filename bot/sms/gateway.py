"""Sending text messages to merchants' phones: one small interface, a development implementation.

`SmsGateway` is all the rest of the project knows: `send(to, text)`. Development and tests use
`OutboxSmsGateway`, which appends one JSON object per line to `settings.sms_outbox_path()`
(`var/sms_outbox.jsonl`, or `SMS_OUTBOX`), the format of CONTRACTS.md:

    {"to": "13800000001", "text": "【结算助手】您的验证码是…", "sent_at": "2026-11-25T21:30:00+08:00"}

A real provider plugs in without touching callers: write a class with a `send(to, text)` method
that raises on failure (any exception: callers treat it as "not sent"; `SmsDeliveryError` with
`delivery_unknown=True` when the provider may have sent it after all), reading its own settings
(account, signature, template ids) from the environment in `__init__`, and set
`SMS_GATEWAY=package.module:ClassName`. `gateway_from_env()` builds it.

Texts hold one-time codes: this module never logs them, and logs the phone number masked.
"""
from __future__ import annotations

import fcntl
import importlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from bot import settings
from bot.workdays import to_local_iso, utcnow

logger = logging.getLogger(__name__)

GATEWAY_ENV = "SMS_GATEWAY"
OUTBOX = "outbox"


class SmsDeliveryError(RuntimeError):
    """The gateway could not accept the message (providers raise their own errors; callers catch
    `Exception` around `send` and may raise this one).

    `delivery_unknown` is true when the message may have been delivered all the same (the provider
    may have taken it and only its answer was lost): a caller must then neither resend it at once
    nor treat it as never sent. Any other exception from `send` means "not sent".
    """

    def __init__(self, message: str, *, delivery_unknown: bool = False) -> None:
        super().__init__(message)
        self.delivery_unknown = delivery_unknown


def delivery_unknown(error: BaseException) -> bool:
    """True when a failed `send` may have delivered the message all the same (see SmsDeliveryError)."""
    return isinstance(error, SmsDeliveryError) and error.delivery_unknown


@runtime_checkable
class SmsGateway(Protocol):
    def send(self, to: str, text: str) -> None:
        """Deliver `text` to the mobile number `to`; raise if it was not accepted."""


def mask_phone(phone: str) -> str:
    """`138****0001`: enough for a merchant to recognise their phone, and for logs."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


class OutboxSmsGateway:
    """Development gateway: appends the message to a JSON Lines file instead of sending it.

    Safe for several processes writing at once (Rasa's action server, the agent console, the CLI):
    each message is one `write` of a whole line on a descriptor opened with O_APPEND, under an
    exclusive `flock`, so lines never interleave and readers never see half a line.
    """

    def __init__(self, path: Path | None = None) -> None:
        # Resolved at each send when not given: tests and deployments change SMS_OUTBOX at run time.
        self._path = path

    @property
    def path(self) -> Path:
        return self._path or settings.sms_outbox_path()

    def send(self, to: str, text: str, *, now: datetime | None = None) -> None:
        record = {"to": to, "text": text, "sent_at": to_local_iso(now or utcnow())}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600: the outbox holds live codes.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                view = memoryview(line)
                while view:  # a regular file takes it in one write; loop for the pathological case
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        logger.info("SMS to %s written to the outbox", mask_phone(to))


# Values that configurations written before the SMS package existed still use.
MOVED_GATEWAYS = {"bot.sms_yunpian:YunpianSmsGateway": "bot.sms.yunpian:YunpianSmsGateway"}


def gateway_from_env() -> SmsGateway:
    """The configured gateway: `SMS_GATEWAY` unset or `outbox` -> `OutboxSmsGateway` (development
    only: ValueError outside it); otherwise `package.module:ClassName` of a provider class built
    with no arguments."""
    spec = os.environ.get(GATEWAY_ENV, "").strip()
    if not spec or spec == OUTBOX:
        if not settings.is_development():
            # Codes written to a file on the server reach no merchant, and anyone reading it.
            raise ValueError(f"{GATEWAY_ENV} must name a real SMS provider outside development (not {OUTBOX!r})")
        return OutboxSmsGateway()
    spec = MOVED_GATEWAYS.get(spec, spec)
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"{GATEWAY_ENV} must be '{OUTBOX}' or 'package.module:ClassName', got {spec!r}")
    gateway = getattr(importlib.import_module(module_name), class_name)()
    if not isinstance(gateway, SmsGateway):
        raise TypeError(f"{spec} has no send(to, text) method")
    return gateway
