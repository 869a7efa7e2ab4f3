"""SMS gateways for the action tests: one that holds every message until the test releases it (a slow
provider, made deterministic), one that refuses every message.
Selected with SMS_GATEWAY=slow_sms:GatedSmsGateway (tests/ is on sys.path)."""
from __future__ import annotations

import threading
from typing import List, Tuple

from bot.sms.gateway import SmsGateway


class GatedSmsGateway(SmsGateway):
    entered = threading.Event()  # a send is in progress
    release = threading.Event()  # let it finish
    sent: List[Tuple[str, str]] = []
    HOLD_AT_MOST_S = 10  # never hang a test run for ever

    @classmethod
    def reset(cls) -> None:
        cls.entered.clear()
        cls.release.clear()
        cls.sent.clear()

    def send(self, to: str, text: str) -> None:
        type(self).entered.set()
        type(self).release.wait(self.HOLD_AT_MOST_S)
        type(self).sent.append((to, text))


class FailingSmsGateway(SmsGateway):
    """A provider that refuses every message (no balance, a template not approved ...)."""

    def send(self, to: str, text: str) -> None:
        raise RuntimeError("provider refused the message")
