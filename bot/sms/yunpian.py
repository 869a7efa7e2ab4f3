"""The Yunpian (云片) SMS gateway: `SMS_GATEWAY=bot.sms.yunpian:YunpianSmsGateway`.

Yunpian's v2 single-send API takes the whole text, which it matches against the templates approved
in the Yunpian console (the signature 【…】 first), so `SmsGateway.send(to, text)` fits it as it is.
Register one template per text the bot sends (all of them are in `bot.sms.texts`, which lists their
registered form), with `#code#`-style variables where the text varies, e.g.
`【结算助手】您的验证码是#code#，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。`

The protocol, as Yunpian documents it ("Sending Single SMS",
https://www.yunpian.com/official/document/sms/en/domestic_single_send, and the cnblogs.com
walk-through of the Chinese page, https://cnblogs.com/hxzxy/p/14257412.html); the return codes are
those of Yunpian's own SDKs (yunpian/yunpian-java-sdk `constant/Code.java`,
yunpian/yunpian-python-sdk `model/constant.py`), the error bodies as integrators logged them:

    POST {YUNPIAN_API_BASE}/v2/sms/single_send.json
    Accept: application/json;charset=utf-8
    Content-Type: application/x-www-form-urlencoded;charset=utf-8

    apikey=<32 characters>&mobile=13800000001&text=<UTF-8, percent-encoded>

    200 {"code": 0, "msg": "发送成功", "count": 1, "fee": 0.05, "unit": "RMB",
         "mobile": "13800000001", "sid": 8063606842}
    400 {"http_status_code": 400, "code": 22, "msg": "验证码类短信1小时内同一手机号发送次数不能超过3次",
         "detail": "验证码类短信1小时内同一手机号发送次数不能超过3次"}

`count` is the number of billed parts (70 characters in one, 67 per part beyond), `sid` Yunpian's
id of the message. Any non-zero `code` means not accepted (see `KNOWN_CODES`).

Settings, read from the environment when the gateway is built:
- `YUNPIAN_APIKEY` (required): the account's APIKEY. It travels in the form body only, never in
  the URL, so no access log or exception shows it;
- `YUNPIAN_API_BASE`: default `https://sms.yunpian.com`; the tests point it at a fake on loopback;
- `YUNPIAN_TIMEOUT_S`: seconds to connect, and then to wait for the answer (default 10).

Texts hold one-time codes: this module never logs them nor puts them in an error, and names the
phone masked (`138****0001`).
"""
from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Callable
from urllib.parse import urlencode

import requests
from urllib3.exceptions import NewConnectionError

from bot.sms.gateway import SmsDeliveryError, mask_phone
from bot.validation import phone as mobile_numbers

logger = logging.getLogger(__name__)

__all__ = ["YunpianSmsGateway", "YunpianError", "KNOWN_CODES"]

APIKEY_ENV = "YUNPIAN_APIKEY"
API_BASE_ENV = "YUNPIAN_API_BASE"
TIMEOUT_ENV = "YUNPIAN_TIMEOUT_S"
DEFAULT_API_BASE = "https://sms.yunpian.com"
DEFAULT_TIMEOUT_S = 10.0
SINGLE_SEND_PATH = "/v2/sms/single_send.json"

MAX_ATTEMPTS = 3
BACKOFF_S = 0.5  # before the 2nd attempt; doubled before the 3rd: at most 1.5 s spent waiting

# Answered by the proxy in front of Yunpian's application when that application did not take the
# request: nothing was processed, so sending again cannot deliver the SMS twice.
RETRYABLE_STATUS = frozenset({503})

# An English gloss for the return codes an operator is likely to meet (Yunpian's `msg` is Chinese).
KNOWN_CODES: dict[int, str] = {
    -1: "invalid apikey, or the account is disabled",
    -2: "the apikey may not use this API",
    -3: "this server's IP address is not on the account's IP whitelist",
    -4: "the account's API call quota is used up",
    -5: "too many API calls in a short time",
    -50: "Yunpian internal error",
    -51: "Yunpian busy",
    -53: "Yunpian could not submit the SMS",
    1: "a required parameter is missing",
    2: "a parameter is malformed",
    3: "insufficient account balance",
    4: "the text holds a blocked keyword",
    5: "the text matches no approved template",
    7: "the template is not usable",
    8: "the same text went to this number less than 30 seconds ago",
    9: "the same text went to this number 3 times in 5 minutes",
    10: "the number is blacklisted",
    14: "the request could not be decoded (not UTF-8?)",
    15: "the signature 【…】 does not match the account's",
    16: "the signature 【…】 is malformed",
    17: "24-hour limit of messages to this number reached",
    22: "1-hour limit of messages to this number reached",
}

# Yunpian's `detail` is free text that may quote the request (e.g. "mobile:13800000001", a blocked
# keyword): runs of 4+ digits are masked before it goes into an error, so no code can leak.
_DIGIT_RUN = re.compile(r"\d{4,}")


class YunpianError(SmsDeliveryError):
    """The SMS was not accepted: `code` is Yunpian's return code when it answered one.

    `delivery_unknown` is true when the request may have reached Yunpian's application but no result
    came back (a timeout after sending, an HTTP 500): the SMS may have been delivered, so a caller
    must not resend it as if nothing happened.
    """

    def __init__(self, message: str, *, code: int | None = None, delivery_unknown: bool = False) -> None:
        super().__init__(message, delivery_unknown=delivery_unknown)
        self.code = code


class YunpianSmsGateway:
    """Sends each SMS with one `single_send` call (retried only where that cannot send it twice)."""

    def __init__(self, *, backoff_s: float = BACKOFF_S, sleep: Callable[[float], None] = time.sleep) -> None:
        apikey = os.environ.get(APIKEY_ENV, "").strip()
        if not apikey:
            raise ValueError(f"{APIKEY_ENV} is not set: the Yunpian SMS gateway needs the account's APIKEY")
        self._apikey = apikey
        base = os.environ.get(API_BASE_ENV, "").strip() or DEFAULT_API_BASE
        self.url = base.rstrip("/") + SINGLE_SEND_PATH
        self.timeout_s = _timeout_from_env()
        self._backoff_s = backoff_s
        self._sleep = sleep

    def __repr__(self) -> str:  # never the apikey
        return f"YunpianSmsGateway(url={self.url!r}, timeout_s={self.timeout_s})"

    def send(self, to: str, text: str) -> None:
        """Hand `text` to Yunpian for the mainland mobile number `to`; raise YunpianError unless
        Yunpian accepted it."""
        masked = mask_phone(to) if isinstance(to, str) else "****"
        if not (isinstance(to, str) and mobile_numbers.is_valid(to) and mobile_numbers.compact(to) == to):
            raise YunpianError(f"SMS to {masked} not sent: not a mainland mobile number (11 digits, 1[3-9]…)")
        body = urlencode({"apikey": self._apikey, "mobile": to, "text": text}, encoding="utf-8")
        headers = {
            "Accept": "application/json;charset=utf-8",
            "Content-Type": "application/x-www-form-urlencoded;charset=utf-8",
        }
        # When to try again. An SMS sent twice is a second code on the merchant's phone and a
        # second fee; an SMS not sent only costs the merchant a "resend". So a new attempt is made
        # only when Yunpian certainly did not process the first one:
        # - the connection was never established (refused, reset or timed out while connecting):
        #   not one byte of the request left this machine;
        # - HTTP 503 without a JSON `code`: the service turned the request away unprocessed (an
        #   answer from the application carries a `code`, which is never retried). A 502 or 504
        #   from a proxy may come after the application took the request, so those are reported
        #   as "delivery unknown", like a timeout.
        # A timeout or a broken connection after the request was sent is NOT retried: Yunpian may
        # well have accepted it and only the answer was lost, and a retry would deliver the SMS a
        # second time. The error says the delivery is unknown instead.
        # Each attempt opens a fresh connection (no keep-alive pool), so "connection refused or
        # reset" can only ever mean the connection phase, never a stale socket after sending.
        for attempt in range(1, MAX_ATTEMPTS + 1):
            last = attempt == MAX_ATTEMPTS
            try:
                response = requests.post(
                    self.url,
                    data=body.encode("ascii"),
                    headers=headers,
                    timeout=self.timeout_s,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                if _never_sent(exc):
                    if not last:
                        self._wait(attempt, masked, f"could not connect ({type(exc).__name__})")
                        continue
                    raise YunpianError(
                        f"SMS to {masked} not sent: could not connect to Yunpian at {self.url} "
                        f"({MAX_ATTEMPTS} attempts, {type(exc).__name__})"
                    ) from exc
                if isinstance(exc, requests.Timeout):
                    reason = f"no answer within {self.timeout_s:g} s after the request was sent"
                else:
                    reason = f"the connection failed after the request was sent ({type(exc).__name__})"
                logger.error("Yunpian: delivery of the SMS to %s unknown: %s; not retried", masked, reason)
                raise YunpianError(
                    f"delivery of the SMS to {masked} unknown: {reason}; it may have been delivered, "
                    f"so it was not retried",
                    delivery_unknown=True,
                ) from exc
            if response.status_code in RETRYABLE_STATUS and _result_code(response) is None and not last:
                self._wait(attempt, masked, f"HTTP {response.status_code}")
                continue
            return self._outcome(response, masked)

    # --- helpers ---------------------------------------------------------------------------------

    def _wait(self, attempt: int, masked: str, why: str) -> None:
        delay = self._backoff_s * 2 ** (attempt - 1)
        logger.warning("Yunpian: SMS to %s not taken (%s), attempt %d of %d; retrying in %.2f s",
                       masked, why, attempt, MAX_ATTEMPTS, delay)
        self._sleep(delay)

    def _outcome(self, response: requests.Response, masked: str) -> None:
        payload = _json_object(response)
        code = _result_code(response, payload)
        if code == 0:
            logger.info("Yunpian accepted the SMS to %s (sid %s, %s part(s), %s %s)", masked,
                        payload.get("sid"), payload.get("count"), payload.get("fee"), payload.get("unit"))
            return
        if code is not None:
            gloss = KNOWN_CODES.get(code, "see Yunpian's return codes")
            said = "; ".join(
                self._scrub(str(payload[key])) for key in ("msg", "detail") if payload.get(key) not in (None, "")
            )
            message = f"Yunpian refused the SMS to {masked}: code {code} ({gloss})" + (f": {said}" if said else "")
            logger.error("%s", message)
            raise YunpianError(message, code=code)
        if response.status_code in RETRYABLE_STATUS:
            message = (f"SMS to {masked} not sent: Yunpian answered HTTP {response.status_code} "
                       f"{MAX_ATTEMPTS} times (service unavailable)")
            logger.error("%s", message)
            raise YunpianError(message)
        # The application may have processed it (e.g. a 500 after accepting): do not assume either way.
        message = (f"delivery of the SMS to {masked} unknown: Yunpian answered HTTP {response.status_code} "
                   f"without a result code")
        logger.error("%s", message)
        raise YunpianError(message, delivery_unknown=True)

    def _scrub(self, value: str) -> str:
        return _DIGIT_RUN.sub("****", value.replace(self._apikey, "<apikey>"))[:300]


def _timeout_from_env() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 120:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds between 0 and 120, got {raw!r}")
    return value


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never left this machine: the TCP connection was not made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.SSLError):
        # requests wraps urllib3's MaxRetryError, whose reason says which phase failed.
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _result_code(response: requests.Response, payload: dict[str, Any] | None = None) -> int | None:
    """Yunpian's `code` when the answer is one of its JSON results, else None."""
    payload = _json_object(response) if payload is None else payload
    try:
        return int(payload["code"])
    except (KeyError, TypeError, ValueError):
        return None
