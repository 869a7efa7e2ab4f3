"""A fake Yunpian (云片) SMS API on loopback, speaking the protocol of `bot.sms.yunpian`'s docstring.

`POST /v2/sms/single_send.json` takes a UTF-8 form (`apikey`, `mobile`, `text`) and checks it the
way Yunpian does, answering Yunpian's JSON: `code` 0 with `count`, `fee`, `unit`, `mobile`, `sid`
when accepted; HTTP 400 with `http_status_code`, a non-zero `code`, `msg` and `detail` otherwise:
-1 unknown apikey, 1 missing parameter, 2 malformed mobile, 14 undecodable form, 5 text matching
no approved template (`templates`, Yunpian syntax with `#name#` variables), 8 the same text to the
same number within 30 s, 22 more than `hourly_limit` messages to one number in an hour, 3 balance
too low. Accepted messages are in `sent` (`sent_to` waits for those to one number); every request
as it arrived is in `requests`. `TEMPLATES` (codes) and `NOTICE_TEMPLATES` (a change filed or
cancelled) are the texts the bot sends, as the acquirer registers them: the tests and the SMS
benchmark (scripts/bench_sms.py) start the fake with them.

A slow provider: `answer_delay_s` answers every message that late, each on its own (the fake serves
requests concurrently, so messages are not queued behind each other).

Faults are programmed for the next requests, in order: `fail` (an HTTP status from the front
proxy, the application never sees the request), `delay` (the answer comes late, but the message
IS accepted, as when a client times out after sending; on top of `answer_delay_s`), `refuse` (a
given Yunpian error).
It runs in a thread of its own (ThreadingHTTPServer), like the fake WeChat API.
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs

from loopback import LoopbackFake

SINGLE_SEND = "/v2/sms/single_send.json"
APIKEY = "9b11127a9701975c734b8aee81ee3526"  # the example key of Yunpian's documentation

# What the acquirer registers with Yunpian for the texts the bot sends, for the default brand
# (BRAND_NAME unset): the codes and the enrolment notice (bot.codes.verification)...
TEMPLATES = [
    "【结算助手】您的验证码是#code#，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。",
    "【结算助手】您的验证码是#code#，5分钟内有效。您正在将结算卡变更为#bank#尾号#last4#的账户，请勿告诉他人。",
    "【结算助手】您的验证码是#code#，5分钟内有效。您正在为商户账户开启动态口令（绑定身份验证器），请勿告诉他人。",
    "【结算助手】您的商户账户已开启动态口令验证。如非本人操作请立即致电#hotline#。",
]
# ... and the notices of a change filed, with or without documents to add, and cancelled
# (bot.change_requests.filing): what a whole change conversation sends besides its codes.
NOTICE_TEMPLATES = [
    "【结算助手】已受理您的结算卡变更申请，编号#reference#，新卡#bank#尾号#last4#，预计#date#前完成审核。"
    "如非本人操作请立即致电#hotline#。",
    "【结算助手】已受理您的结算卡变更申请，编号#reference#，新卡#bank#尾号#last4#，预计#date#前完成审核，"
    "请按客服提示补充材料。如非本人操作请立即致电#hotline#。",
    "【结算助手】您的结算卡变更申请#reference#已撤销，结算卡保持不变。如非本人操作请立即致电#hotline#。",
]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Dict[str, str]
    raw_body: bytes  # as it arrived: to check the percent-encoding is UTF-8
    form: Optional[Dict[str, str]]  # None when the body could not be decoded


@dataclass
class SentSms:
    mobile: str
    text: str
    sid: int


@dataclass
class _Fault:
    status: int = 0  # answer this HTTP status without processing
    delay_s: float = 0.0  # process normally, answer late
    error: Optional[Tuple[int, str, str]] = None  # answer this Yunpian error without processing


@dataclass
class FakeYunpian(LoopbackFake):
    server_name = "fake-yunpian"

    apikey: str = APIKEY
    templates: List[str] = field(default_factory=list)
    balance: float = 10.0
    fee_per_part: float = 0.05
    hourly_limit: int = 3  # Yunpian's default anti-bombing rule for verification codes
    answer_delay_s: float = 0.0  # every message processed and answered this late (a slow provider)

    requests: List[RecordedRequest] = field(default_factory=list)
    sent: List[SentSms] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._faults: Deque[_Fault] = deque()
        self._history: List[Tuple[float, str, str]] = []  # (monotonic time, mobile, text) accepted
        self._next_sid = 8063606842

    # --- programming it ------------------------------------------------------------------------

    def fail(self, times: int, status: int = 503) -> None:
        """The next `times` requests get HTTP `status` from the front proxy, unprocessed."""
        with self._lock:
            self._faults.extend(_Fault(status=status) for _ in range(times))

    def delay(self, times: int, seconds: float) -> None:
        """The next `times` requests are processed (and accepted) but answered `seconds` late."""
        with self._lock:
            self._faults.extend(_Fault(delay_s=seconds) for _ in range(times))

    def refuse(self, code: int, msg: str, detail: str) -> None:
        """The next request gets this Yunpian error."""
        with self._lock:
            self._faults.append(_Fault(error=(code, msg, detail)))

    def wait_for_sent(self, count: int, timeout: float = 10.0) -> List[SentSms]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.sent) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} accepted messages, got {len(self.sent)}")
                self._lock.wait(left)
            return list(self.sent)

    def sent_to(self, mobile: str, count: int = 1, timeout: float = 10.0) -> List[SentSms]:
        """The messages accepted for `mobile`, oldest first, once there are at least `count`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                mine = [sms for sms in self.sent if sms.mobile == mobile]
                left = deadline - time.monotonic()
                if len(mine) >= count:
                    return mine
                if left <= 0:
                    raise AssertionError(f"expected {count} accepted messages to {mobile}, got {len(mine)}")
                self._lock.wait(left)

    # --- serving -------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:  # GET and POST alike
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        form = _parse_form(request.headers.get("Content-Type", ""), raw)
        with self._lock:
            self.requests.append(RecordedRequest(request.command, request.path, dict(request.headers), raw, form))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.status:
            body = f"<html><body><center><h1>{fault.status}</h1></center><hr><center>nginx</center></body></html>"
            return _reply(request, fault.status, body.encode(), "text/html")
        if fault is not None and fault.error:
            return self._answer_error(request, *fault.error)
        if request.path != SINGLE_SEND:
            return _reply(request, 404, b"", "text/html")
        if request.command != "POST":
            return self._answer_error(request, 11, "接口不支持GET方式调用", "请使用POST方式调用")
        delay_s = self.answer_delay_s + (fault.delay_s if fault is not None else 0.0)
        if delay_s:
            time.sleep(delay_s)
        status, payload = self._single_send(form)
        _reply(request, status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
               "application/json;charset=utf-8")

    def _single_send(self, form: Optional[Dict[str, str]]) -> Tuple[int, dict]:
        if form is None:
            return _error(14, "解码失败", "请确认内容编码是否设置正确")
        for name in ("apikey", "mobile", "text"):
            if not form.get(name):
                return _error(1, "请求参数缺失", f"参数 {name} 必须传入")
        if form["apikey"] != self.apikey:
            return _error(-1, "非法的apikey", "请检查您的apikey是否正确，或者账户已经失效")
        mobile, text = form["mobile"], form["text"]
        if not re.fullmatch(r"1[3-9]\d{9}", mobile):
            return _error(2, "请求参数格式错误", f"参数 mobile 格式不正确，mobile:{mobile}")
        if not any(_template_regex(template).fullmatch(text) for template in self.templates):
            return _error(5, "未找到匹配的模板", "未自动匹配到合适的模板")
        with self._lock:
            now = time.monotonic()
            if any(m == mobile and t == text and now - at < 30 for at, m, t in self._history):
                return _error(8, "同一手机号30秒内重复提交相同的内容", "同一手机号30秒内重复提交相同的内容")
            if sum(1 for at, m, _ in self._history if m == mobile and now - at < 3600) >= self.hourly_limit:
                message = f"验证码类短信1小时内同一手机号发送次数不能超过{self.hourly_limit}次"
                return _error(22, message, message)
            # Billing: 70 characters in one part, 67 per part beyond.
            parts = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
            fee = round(parts * self.fee_per_part, 3)
            if self.balance < fee:
                return _error(3, "账户余额不足", "请充值后重试")
            self.balance -= fee
            sid = self._next_sid
            self._next_sid += 1
            self._history.append((now, mobile, text))
            self.sent.append(SentSms(mobile, text, sid))
            self._lock.notify_all()
        return 200, {"code": 0, "msg": "发送成功", "count": parts, "fee": fee, "unit": "RMB",
                     "mobile": mobile, "sid": sid}

    def _answer_error(self, request: BaseHTTPRequestHandler, code: int, msg: str, detail: str) -> None:
        status, payload = _error(code, msg, detail)
        _reply(request, status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
               "application/json;charset=utf-8")


def _error(code: int, msg: str, detail: str) -> Tuple[int, dict]:
    return 400, {"http_status_code": 400, "code": code, "msg": msg, "detail": detail}


def _parse_form(content_type: str, raw: bytes) -> Optional[Dict[str, str]]:
    """The form as Yunpian reads it: percent-encoded UTF-8, nothing else."""
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != "application/x-www-form-urlencoded":
        return None
    charset = re.search(r"charset=([\w-]+)", parameters, re.IGNORECASE)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        return None
    try:
        fields = parse_qs(raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw),
                          encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def _template_regex(template: str) -> "re.Pattern[str]":
    """`【结算助手】您的验证码是#code#…` -> a pattern where each #variable# is some text."""
    pieces = re.split(r"#\w+#", template)
    return re.compile("(.+?)".join(re.escape(piece) for piece in pieces), re.DOTALL)


def _reply(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    try:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Connection", "close")
        request.end_headers()
        request.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
        pass
    request.close_connection = True
