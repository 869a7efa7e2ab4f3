"""Fixtures of the Yunpian gateway tests: the fake Yunpian API, the environment aimed at it, a
gateway that records its backoff instead of sleeping (the demo data comes from tests/domain_fixtures.py)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.sms.yunpian import YunpianSmsGateway
from sms.fake_yunpian import APIKEY, TEMPLATES, FakeYunpian


def identify_text(code: str) -> str:
    return f"【结算助手】您的验证码是{code}，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。"


@pytest.fixture
def fake_yunpian(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYunpian]:
    """The fake, with YUNPIAN_APIKEY and YUNPIAN_API_BASE aimed at it."""
    fake = FakeYunpian(templates=list(TEMPLATES)).start()
    monkeypatch.setenv("YUNPIAN_APIKEY", APIKEY)
    monkeypatch.setenv("YUNPIAN_API_BASE", fake.url)
    monkeypatch.delenv("YUNPIAN_TIMEOUT_S", raising=False)
    for name in ("NO_PROXY", "no_proxy"):  # a proxy configured on the machine must not take loopback
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    yield fake
    fake.stop()


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff delays the gateway asked for."""
    return []


@pytest.fixture
def gateway(fake_yunpian: FakeYunpian, sleeps: list[float]) -> YunpianSmsGateway:
    return YunpianSmsGateway(sleep=sleeps.append)
