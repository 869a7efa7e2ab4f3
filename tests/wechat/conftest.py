"""Fixtures of the WeChat channel tests: the fake WeChat API, configurations aimed at it, databases
(SQLite, and PostgreSQL too where a test asks for `any_db` and TEST_POSTGRES_URL is set),
`async def` tests run on a fresh event loop each, and a check on every test that no WeChat API
request blocks an event loop."""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from sqlalchemy.orm import sessionmaker

from bot.db.engine import make_engine, session_factory
from bot.db.migrate import upgrade
from bot.wechat.config import WeChatConfig
from postgres_schema import POSTGRES_URL, postgres_schema_url
from wechat.fake_server import FakeWeChat
from wechat.pusher import AES_KEY, TOKEN, Pusher


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    """Run `async def` tests here with asyncio.run (no pytest-asyncio in the lock file)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=120))
    return True


@pytest.fixture(autouse=True)
def no_http_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails a test in which the WeChat client sent a request from a thread running an event loop
    (the Rasa server's would stall for as long as WeChat takes). Requests still go through to
    the fake unchanged; the test fails afterwards, since the channel logs errors and goes on."""
    on_loop: list[str] = []
    send = requests.Session.send

    def checked_send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # a worker thread, or synchronous code: blocking is fine
        else:
            on_loop.append(request.path_url.split("?")[0])
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", checked_send)
    yield
    assert on_loop == [], f"WeChat API requests sent on an event loop's thread: {on_loop}"


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat().start()
    yield fake
    fake.stop()


@pytest.fixture
def make_config(fake_wechat: FakeWeChat) -> Callable[..., WeChatConfig]:
    """`make_config(safe=False, **overrides)`: the account of the fake, with short backoffs."""

    def make(safe: bool = False, **overrides: Any) -> WeChatConfig:
        values = dict(
            token=TOKEN, app_id=fake_wechat.app_id, app_secret=fake_wechat.app_secret,
            aes_key=AES_KEY if safe else None, api_base=fake_wechat.url,
            request_timeout_s=2.0, max_attempts=3, backoff_base_s=0.01,
        )
        values.update(overrides)
        return WeChatConfig(**values)

    return make


@pytest.fixture
def sessions(engine: Any) -> sessionmaker:
    """Sessions on the test's migrated SQLite database (tests/conftest.py)."""
    return session_factory(engine)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[pytest.mark.postgres,
                   pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set")],
        ),
    ]
)
def any_db(request: pytest.FixtureRequest, var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """URL of a migrated database: SQLite in var/, and PostgreSQL when TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        url = f"sqlite:///{var_dir / 'bot.db'}"
        upgrade(url)
        yield url
        return
    with postgres_schema_url(monkeypatch) as url:
        upgrade(url)
        yield url


def separate_sessions(url: str) -> sessionmaker:
    """Sessions on an engine (and connection pool) of their own, as another process would have."""
    return session_factory(make_engine(url))


@pytest.fixture
def plain_pusher() -> Pusher:
    return Pusher()


@pytest.fixture
def safe_pusher() -> Pusher:
    return Pusher(aes_key=AES_KEY)
