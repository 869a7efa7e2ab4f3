"""The WeChat API calls the channel and the agent console make: the access token
(`stable_token`), customer-service text messages (`message/custom/send`) and media downloads
(`media/get`).

Transient failures (timeouts, connection errors, HTTP 5xx, errcode -1 "system busy") are retried
with exponential backoff, a bounded number of times. A rejected access token (40001, 42001,
40014) is renewed with a forced refresh and the call retried once; the token lives in the
database (`bot.wechat.store`), so all workers share one and only one of them renews it.

The client is synchronous (`requests`) and safe to share between threads, so any program can use
it. A call blocks for as long as the retries take (up to `max_attempts` timeouts and the backoff
between them): async code runs it in a worker thread, as the Rasa channel does
(`bot.rasa.channels.wechat.AsyncWeChatClient`), never on its event loop.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, Optional, TypeVar, Union

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy.orm import sessionmaker

from bot.db.engine import session_scope
from bot.wechat import store
from bot.wechat.config import WeChatConfig
from bot.workdays import utcnow

logger = logging.getLogger(__name__)

T = TypeVar("T")

# invalid credential / access_token expired / invalid access_token
TOKEN_REJECTED = frozenset({40001, 42001, 40014})
SYSTEM_BUSY = -1
# Connections to the API kept open for reuse, so this many threads can call at once without
# reconnecting (more still work: their extra connections are closed after use).
POOL_SIZE = 16
# WeChat answers errors as JSON, whatever the call; nothing it says about an error is longer.
MAX_ERROR_BYTES = 64 * 1024
_CHUNK_BYTES = 64 * 1024


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
    """A failure worth retrying: HTTP 5xx, errcode -1, or a download past its deadline."""


# Timeout covers connect and read timeouts; ConnectionError also what breaks off while a body is
# streamed; ChunkedEncodingError a body cut short; ContentDecodingError a corrupt gzip body.
_RETRYABLE = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    _Transient,
)


class WeChatApiClient:
    """One WeChat Official Account's API, for any number of threads at once. `sleep` is how it
    waits (between attempts, and for another worker's token renewal): tests pass their own."""

    def __init__(
        self,
        config: WeChatConfig,
        sessions: Optional[sessionmaker] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._sessions = sessions  # None: the configured database
        self._sleep = sleep
        self._http: Optional[requests.Session] = None
        self._http_lock = threading.Lock()
        # One token fetch at a time in this process; the database arbitrates between processes.
        self._token_lock = threading.Lock()

    # --- public calls ------------------------------------------------------------------------

    def send_text(self, openid: str, content: str) -> None:
        """Send one customer-service text message (at most 2048 bytes: split before calling)."""
        # WeChat counts the 2048 bytes in UTF-8: \u escapes would make Chinese six times longer.
        body = json.dumps(
            {"touser": openid, "msgtype": "text", "text": {"content": content}}, ensure_ascii=False
        ).encode("utf-8")

        def once(token: str) -> Dict[str, Any]:
            return self._request_json(
                "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, body=body
            )

        self._call_with_token("message/custom/send", once)

    def download_media(self, media_id: str, max_bytes: int) -> bytes:
        """The bytes of a temporary media file (a follower's photo); MediaTooLarge past `max_bytes`."""
        result = self._call_with_token("media/get", lambda token: self._request_media(token, media_id, max_bytes))
        assert isinstance(result, bytes)
        return result

    def access_token(self) -> str:
        """A token valid for at least the configured margin: the shared one, or a fresh one."""
        cached = self._in_db(store.load_token, self._app_id())
        if cached and cached.usable(utcnow(), self.config.token_refresh_margin_s):
            return cached.token
        if cached and cached.being_renewed and not cached.renewal_abandoned(utcnow()):
            return self._wait_for_renewal()
        with self._token_lock:
            # Another thread of this process may have renewed it while we waited for the lock.
            cached = self._in_db(store.load_token, self._app_id())
            if cached and cached.usable(utcnow(), self.config.token_refresh_margin_s):
                return cached.token
            return self._fetch_and_save(force_refresh=False)

    def close(self) -> None:
        """Close the kept connections; a later call opens new ones."""
        with self._http_lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    # --- token handling ----------------------------------------------------------------------

    def _call_with_token(
        self, what: str, call: Callable[[str], Union[bytes, Dict[str, Any]]]
    ) -> Union[bytes, Dict[str, Any]]:
        token = self.access_token()
        result = self._with_retries(what, lambda: call(token))
        if isinstance(result, dict) and result.get("errcode") in TOKEN_REJECTED:
            logger.warning("WeChat %s: access token rejected (errcode %s), renewing it", what, result["errcode"])
            token = self._renew_rejected(token)
            result = self._with_retries(what, lambda: call(token))
        if isinstance(result, dict) and result.get("errcode"):
            raise WeChatApiError(what, result.get("errcode"), result.get("errmsg", ""))
        return result

    def _renew_rejected(self, rejected: str) -> str:
        """A working token after `rejected` failed: forced refresh only if the cached token is
        still the rejected one and nobody is renewing it (a burst of rejections, in this process
        or across workers, costs one forced refresh)."""
        with self._token_lock:
            decision = self._in_db(store.claim_token_refresh, self._app_id(), rejected)
            if decision.token is not None:
                return decision.token
            if decision.claimed:
                try:
                    return self._fetch_and_save(force_refresh=True)
                except BaseException:
                    self._in_db(store.abandon_renewal, self._app_id())
                    raise
        return self._wait_for_renewal()

    def _wait_for_renewal(self) -> str:
        """The token another worker is renewing, once it has saved it."""
        step = max(0.05, min(0.25, self.config.backoff_base_s))
        waited = 0.0
        while waited < store.RENEWAL_CLAIM_S:
            self._sleep(step)
            waited += step
            cached = self._in_db(store.load_token, self._app_id())
            if cached is None or cached.renewal_abandoned(utcnow()):
                break
            if not cached.being_renewed:
                return cached.token
        raise WeChatUnavailable("access token: another worker's renewal did not succeed")

    def _fetch_and_save(self, force_refresh: bool) -> str:
        body = json.dumps(
            {
                "grant_type": "client_credential",
                "appid": self.config.app_id,
                "secret": self.config.app_secret,
                "force_refresh": force_refresh,
            }
        ).encode("utf-8")
        result = self._with_retries(
            "stable_token", lambda: self._request_json("POST", "/cgi-bin/stable_token", body=body)
        )
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError("stable_token", result.get("errcode"), result.get("errmsg", ""))
        expires_in = int(result.get("expires_in") or 7200)
        self._in_db(store.save_token, self._app_id(), token, expires_in)
        logger.info("WeChat access token %s (valid %d s)", "force-refreshed" if force_refresh else "fetched", expires_in)
        return token

    # --- HTTP --------------------------------------------------------------------------------

    def _with_retries(self, what: str, attempt: Callable[[], T]) -> T:
        for number in range(1, self.config.max_attempts + 1):
            try:
                return attempt()
            except _RETRYABLE as error:
                reason = str(error) if isinstance(error, _Transient) else type(error).__name__
                if number == self.config.max_attempts:
                    logger.error("WeChat %s failed %d times (%s): giving up", what, number, reason)
                    raise WeChatUnavailable(f"{what}: {reason}") from error
                delay = self.config.backoff_base_s * 2 ** (number - 1)
                logger.warning("WeChat %s failed (%s), attempt %d of %d; retrying in %.2f s",
                               what, reason, number, self.config.max_attempts, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - max_attempts >= 1

    def _request_json(
        self, method: str, path: str, params: Optional[Dict[str, str]] = None, body: Optional[bytes] = None
    ) -> Dict[str, Any]:
        # No redirects: WeChat's API never answers with one, and following it would carry the
        # access token in the URL to wherever it points.
        reply = self._session().request(
            method, self.config.api_base + path, params=params, data=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=self._timeout(), allow_redirects=False,
        )
        with reply:
            if reply.status_code >= 500:
                raise _Transient(f"HTTP {reply.status_code}")
            if reply.status_code != 200:
                raise WeChatApiError(path, f"HTTP {reply.status_code}")
            raw = reply.content
        return self._json_result(path, raw)

    def _request_media(self, token: str, media_id: str, max_bytes: int) -> Union[bytes, Dict[str, Any]]:
        # The whole download must end within the timeout, not only each read: a photo trickling
        # in would otherwise hold the caller for as long as WeChat keeps sending.
        deadline = time.monotonic() + self.config.request_timeout_s
        reply = self._session().get(
            self.config.api_base + "/cgi-bin/media/get", params={"access_token": token, "media_id": media_id},
            timeout=self._timeout(), allow_redirects=False, stream=True,
        )
        with reply:  # closing a reply not read to the end drops its connection
            if reply.status_code >= 500:
                raise _Transient(f"HTTP {reply.status_code}")
            if reply.status_code != 200:
                raise WeChatApiError("media/get", f"HTTP {reply.status_code}")
            # Errors come back as JSON with status 200; files with their own content type.
            content_type = reply.headers.get("Content-Type", "").split(";")[0].strip().lower()
            is_error = content_type in ("application/json", "text/plain")
            limit = MAX_ERROR_BYTES if is_error else max_bytes
            declared = _content_length(reply)
            if declared is not None and declared > limit:
                raise MediaTooLarge(f"{declared} bytes")
            data = bytearray()
            for chunk in reply.iter_content(_CHUNK_BYTES):
                data += chunk
                if len(data) > limit:
                    raise MediaTooLarge(f"more than {limit} bytes")
                if time.monotonic() > deadline:
                    raise _Transient(f"download not finished within {self.config.request_timeout_s} s")
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

    def _timeout(self) -> tuple[float, float]:
        # (connect, read): requests waits for ever without one.
        return (self.config.request_timeout_s, self.config.request_timeout_s)

    def _session(self) -> requests.Session:
        with self._http_lock:
            if self._http is None:
                http = requests.Session()
                # Proxy variables and .netrc are ignored, as they were by the aiohttp client this
                # replaced: the API is reached the same way whatever the process's environment.
                http.trust_env = False
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=0)
                http.mount("https://", adapter)
                http.mount("http://", adapter)
                self._http = http
            return self._http

    def _app_id(self) -> str:
        return self.config.app_id or ""

    def _in_db(self, function: Callable[..., T], *args: Any) -> T:
        with session_scope(self._sessions) as session:
            return function(session, *args)


def _content_length(reply: requests.Response) -> Optional[int]:
    declared = reply.headers.get("Content-Length", "")
    return int(declared) if declared.strip().isdigit() else None
