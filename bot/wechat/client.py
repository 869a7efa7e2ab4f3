"""The WeChat API calls the channel makes, over aiohttp: the access token (`stable_token`),
customer-service text messages (`message/custom/send`) and media downloads (`media/get`).

Transient failures (timeouts, connection errors, HTTP 5xx, errcode -1 "system busy") are retried
with exponential backoff, a bounded number of times. A rejected access token (40001, 42001,
40014) is renewed with a forced refresh and the call retried once; the token lives in the
database (`bot.wechat.store`), so all workers share one and only one of them renews it.

Database work runs in a thread: the Rasa server's event loop never waits for SQLite's lock.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, TypeVar, Union

import aiohttp
from sqlalchemy.orm import sessionmaker

from bot.db.engine import in_session
from bot.wechat import store
from bot.wechat.config import WeChatConfig
from bot.workdays import utcnow

logger = logging.getLogger(__name__)

T = TypeVar("T")

# invalid credential / access_token expired / invalid access_token
TOKEN_REJECTED = frozenset({40001, 42001, 40014})
SYSTEM_BUSY = -1


class WeChatApiError(Exception):
    """WeChat refused the call (an errcode other than a transient one): retrying will not help."""

    def __init__(self, what: str, errcode: Any, errmsg: Any = "") -> None:
        super().__init__(f"{what}: errcode {errcode} {errmsg}".strip())
        self.errcode = errcode


class WeChatUnavailable(Exception):
    """The call still failed after every retry (timeouts, connection errors, 5xx)."""


class MediaTooLarge(Exception):
    """The media file is larger than the caller accepts; the download was stopped."""


class _Transient(Exception):
    """A failure worth retrying: HTTP 5xx, or errcode -1."""


_RETRYABLE = (asyncio.TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, _Transient)


class WeChatApiClient:
    def __init__(self, config: WeChatConfig, sessions: Optional[sessionmaker] = None) -> None:
        self.config = config
        self._sessions = sessions
        self._http: Optional[aiohttp.ClientSession] = None
        # One token fetch at a time in this process; the database arbitrates between processes.
        self._token_lock: Optional[asyncio.Lock] = None

    # --- public calls ------------------------------------------------------------------------

    async def send_text(self, openid: str, content: str) -> None:
        """Send one customer-service text message (at most 2048 bytes: split before calling)."""
        body = json.dumps(
            {"touser": openid, "msgtype": "text", "text": {"content": content}}, ensure_ascii=False
        ).encode("utf-8")

        async def once(token: str) -> Dict[str, Any]:
            return await self._request_json(
                "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, body=body
            )

        await self._call_with_token("message/custom/send", once)

    async def download_media(self, media_id: str, max_bytes: int) -> bytes:
        """The bytes of a temporary media file (a follower's photo); MediaTooLarge past `max_bytes`."""

        async def once(token: str) -> Union[bytes, Dict[str, Any]]:
            return await self._request_media(token, media_id, max_bytes)

        result = await self._call_with_token("media/get", once)
        assert isinstance(result, bytes)
        return result

    async def access_token(self) -> str:
        """A token valid for at least the configured margin: the shared one, or a fresh one."""
        cached = await self._in_db(store.load_token, self._app_id())
        if cached and cached.usable(utcnow(), self.config.token_refresh_margin_s):
            return cached.token
        if cached and cached.being_renewed and not cached.renewal_abandoned(utcnow()):
            return await self._wait_for_renewal()
        async with self._lock():
            # Another task of this process may have renewed it while we waited for the lock.
            cached = await self._in_db(store.load_token, self._app_id())
            if cached and cached.usable(utcnow(), self.config.token_refresh_margin_s):
                return cached.token
            return await self._fetch_and_save(force_refresh=False)

    async def close(self) -> None:
        if self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None

    # --- token handling ----------------------------------------------------------------------

    async def _call_with_token(
        self, what: str, call: Callable[[str], Awaitable[Union[bytes, Dict[str, Any]]]]
    ) -> Union[bytes, Dict[str, Any]]:
        token = await self.access_token()
        result = await self._with_retries(what, lambda: call(token))
        if isinstance(result, dict) and result.get("errcode") in TOKEN_REJECTED:
            logger.warning("WeChat %s: access token rejected (errcode %s), renewing it", what, result["errcode"])
            token = await self._renew_rejected(token)
            result = await self._with_retries(what, lambda: call(token))
        if isinstance(result, dict) and result.get("errcode"):
            raise WeChatApiError(what, result.get("errcode"), result.get("errmsg", ""))
        return result

    async def _renew_rejected(self, rejected: str) -> str:
        """A working token after `rejected` failed: forced refresh only if the cached token is
        still the rejected one and nobody is renewing it (a burst of rejections, in this process
        or across workers, costs one forced refresh)."""
        async with self._lock():
            decision = await self._in_db(store.claim_token_refresh, self._app_id(), rejected)
            if decision.token is not None:
                return decision.token
            if decision.claimed:
                try:
                    return await self._fetch_and_save(force_refresh=True)
                except BaseException:
                    await self._in_db(store.abandon_renewal, self._app_id())
                    raise
        return await self._wait_for_renewal()

    async def _wait_for_renewal(self) -> str:
        """The token another worker is renewing, once it has saved it."""
        step = max(0.05, min(0.25, self.config.backoff_base_s))
        waited = 0.0
        while waited < store.RENEWAL_CLAIM_S:
            await asyncio.sleep(step)
            waited += step
            cached = await self._in_db(store.load_token, self._app_id())
            if cached is None or cached.renewal_abandoned(utcnow()):
                break
            if not cached.being_renewed:
                return cached.token
        raise WeChatUnavailable("access token: another worker's renewal did not succeed")

    async def _fetch_and_save(self, force_refresh: bool) -> str:
        body = json.dumps(
            {
                "grant_type": "client_credential",
                "appid": self.config.app_id,
                "secret": self.config.app_secret,
                "force_refresh": force_refresh,
            }
        ).encode("utf-8")
        result = await self._with_retries(
            "stable_token", lambda: self._request_json("POST", "/cgi-bin/stable_token", body=body)
        )
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError("stable_token", result.get("errcode"), result.get("errmsg", ""))
        expires_in = int(result.get("expires_in") or 7200)
        await self._in_db(store.save_token, self._app_id(), token, expires_in)
        logger.info("WeChat access token %s (valid %d s)", "force-refreshed" if force_refresh else "fetched", expires_in)
        return token

    # --- HTTP --------------------------------------------------------------------------------

    async def _with_retries(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in range(1, self.config.max_attempts + 1):
            try:
                return await attempt()
            except _RETRYABLE as error:
                reason = str(error) if isinstance(error, _Transient) else type(error).__name__
                if number == self.config.max_attempts:
                    logger.error("WeChat %s failed %d times (%s): giving up", what, number, reason)
                    raise WeChatUnavailable(f"{what}: {reason}") from error
                delay = self.config.backoff_base_s * 2 ** (number - 1)
                logger.warning("WeChat %s failed (%s), attempt %d of %d; retrying in %.2f s",
                               what, reason, number, self.config.max_attempts, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - max_attempts >= 1

    async def _request_json(
        self, method: str, path: str, params: Optional[Dict[str, str]] = None, body: Optional[bytes] = None
    ) -> Dict[str, Any]:
        http = self._session()
        async with http.request(
            method, self.config.api_base + path, params=params, data=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as reply:
            if reply.status >= 500:
                raise _Transient(f"HTTP {reply.status}")
            if reply.status != 200:
                raise WeChatApiError(path, f"HTTP {reply.status}")
            raw = await reply.read()
        return self._json_result(path, raw)

    async def _request_media(self, token: str, media_id: str, max_bytes: int) -> Union[bytes, Dict[str, Any]]:
        http = self._session()
        async with http.get(
            self.config.api_base + "/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}
        ) as reply:
            if reply.status >= 500:
                raise _Transient(f"HTTP {reply.status}")
            if reply.status != 200:
                raise WeChatApiError("media/get", f"HTTP {reply.status}")
            # Errors come back as JSON with status 200; files with their own content type.
            is_error = reply.content_type in ("application/json", "text/plain")
            limit = 64 * 1024 if is_error else max_bytes
            if reply.content_length is not None and reply.content_length > limit:
                raise MediaTooLarge(f"{reply.content_length} bytes")
            data = bytearray()
            async for chunk in reply.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise MediaTooLarge(f"more than {limit} bytes")
        if is_error:
            return self._json_result("media/get", bytes(data))
        return bytes(data)

    @staticmethod
    def _json_result(what: str, raw: bytes) -> Dict[str, Any]:
        try:
            result = json.loads(raw)
        except ValueError:
            raise _Transient("reply is not JSON") from None
        if not isinstance(result, dict):
            raise _Transient("reply is not a JSON object")
        if result.get("errcode") == SYSTEM_BUSY:
            raise _Transient("errcode -1 (system busy)")
        return result

    def _session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop (the channel is built before it).
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.request_timeout_s),
                raise_for_status=False,
            )
        return self._http

    def _lock(self) -> asyncio.Lock:
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        return self._token_lock

    def _app_id(self) -> str:
        return self.config.app_id or ""

    async def _in_db(self, function: Callable[..., T], *args: Any) -> T:
        return await in_session(self._sessions, function, *args)
