"""The Yunpian gateway against a fake Yunpian on loopback: the documented form, Yunpian's refusals,
which failures are retried (only those that cannot send twice), and what never leaks."""
from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
from urllib.parse import quote

import pytest

from bot.sms.gateway import SmsDeliveryError, SmsGateway, gateway_from_env
from bot.sms.yunpian import YunpianError, YunpianSmsGateway
from sms.conftest import identify_text
from sms.fake_yunpian import APIKEY, SINGLE_SEND, FakeYunpian

PHONE = "13800000001"
TEXT = identify_text("493817")


def full_report(error: BaseException) -> str:
    """What `logger.exception` would print: the message, the chain of causes, the traceback."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


# --- success -------------------------------------------------------------------------------------


def test_sends_the_documented_form_and_accepts_code_0(gateway: YunpianSmsGateway, fake_yunpian: FakeYunpian,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.sms.yunpian")
    gateway.send(PHONE, TEXT)
    [request] = fake_yunpian.requests
    assert (request.method, request.path) == ("POST", SINGLE_SEND)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded;charset=utf-8"
    assert request.headers["Accept"] == "application/json;charset=utf-8"
    assert request.form == {"apikey": APIKEY, "mobile": PHONE, "text": TEXT}
    [sms] = fake_yunpian.sent
    assert (sms.mobile, sms.text) == (PHONE, TEXT)
    assert f"Yunpian accepted the SMS to 138****0001 (sid {sms.sid}, 1 part(s), 0.05 RMB)" in caplog.text


def test_chinese_text_travels_as_utf8_form_data(gateway: YunpianSmsGateway, fake_yunpian: FakeYunpian) -> None:
    text = "【结算助手】您的验证码是771204，5分钟内有效。您正在将结算卡变更为中国工商银行尾号0124的账户，请勿告诉他人。"
    gateway.send(PHONE, text)
    raw = fake_yunpian.requests[0].raw_body
    assert raw.isascii()  # percent-encoded, never raw bytes
    assert quote("验证码", encoding="utf-8").encode() in raw  # %E9%AA%8C…: UTF-8, not GBK
    assert quote("【结算助手】", encoding="utf-8").encode() in raw
    assert fake_yunpian.sent[0].text == text  # intact, full-width punctuation included


def test_gateway_from_env_builds_the_yunpian_gateway(fake_yunpian: FakeYunpian,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_GATEWAY", "bot.sms.yunpian:YunpianSmsGateway")
    gateway = gateway_from_env()
    assert isinstance(gateway, YunpianSmsGateway) and isinstance(gateway, SmsGateway)
    gateway.send(PHONE, TEXT)
    assert [sms.mobile for sms in fake_yunpian.sent] == [PHONE]


# --- configuration -------------------------------------------------------------------------------


def test_missing_apikey_is_a_clear_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YUNPIAN_APIKEY", raising=False)
    with pytest.raises(ValueError, match="YUNPIAN_APIKEY is not set"):
        YunpianSmsGateway()
    monkeypatch.setenv("YUNPIAN_APIKEY", "   ")
    with pytest.raises(ValueError, match="YUNPIAN_APIKEY"):
        YunpianSmsGateway()


def test_defaults_and_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YUNPIAN_APIKEY", APIKEY)
    monkeypatch.delenv("YUNPIAN_API_BASE", raising=False)
    monkeypatch.delenv("YUNPIAN_TIMEOUT_S", raising=False)
    gateway = YunpianSmsGateway()
    assert gateway.url == "https://sms.yunpian.com/v2/sms/single_send.json"
    assert gateway.timeout_s == 10.0
    assert APIKEY not in repr(gateway)
    monkeypatch.setenv("YUNPIAN_TIMEOUT_S", "2.5")
    assert YunpianSmsGateway().timeout_s == 2.5
    for bad in ("abc", "0", "-1"):
        monkeypatch.setenv("YUNPIAN_TIMEOUT_S", bad)
        with pytest.raises(ValueError, match="YUNPIAN_TIMEOUT_S"):
            YunpianSmsGateway()


@pytest.mark.parametrize("to", ["12800000001", "1380000000", "138000000011", "+8613800000001",
                                "138 0000 0001", "23800000001", "", "１３８００００００01"])
def test_not_a_mainland_mobile_is_refused_without_a_request(gateway: YunpianSmsGateway,
                                                            fake_yunpian: FakeYunpian, to: str) -> None:
    with pytest.raises(SmsDeliveryError, match="not a mainland mobile number"):
        gateway.send(to, TEXT)
    assert fake_yunpian.requests == []


# --- Yunpian's refusals: never retried -----------------------------------------------------------


def test_bad_apikey_is_refused_with_code_minus_1(gateway: YunpianSmsGateway, fake_yunpian: FakeYunpian) -> None:
    fake_yunpian.apikey = "0" * 32  # the account's key was rotated
    with pytest.raises(YunpianError) as caught:
        gateway.send(PHONE, TEXT)
    error = caught.value
    assert isinstance(error, SmsDeliveryError) and error.code == -1 and not error.delivery_unknown
    assert str(error) == ("Yunpian refused the SMS to 138****0001: code -1 (invalid apikey, or the account is "
                          "disabled): 非法的apikey; 请检查您的apikey是否正确，或者账户已经失效")
    assert APIKEY not in full_report(error)
    assert len(fake_yunpian.requests) == 1


def test_hourly_limit_for_the_same_number_is_code_22(gateway: YunpianSmsGateway, fake_yunpian: FakeYunpian) -> None:
    for code in ("100001", "100002", "100003"):
        gateway.send(PHONE, identify_text(code))
    with pytest.raises(YunpianError) as caught:
        gateway.send(PHONE, identify_text("100004"))
    assert caught.value.code == 22
    assert "1-hour limit of messages to this number reached" in str(caught.value)
    assert "验证码类短信1小时内同一手机号发送次数不能超过3次" in str(caught.value)
    assert len(fake_yunpian.requests) == 4  # the refusal was not retried
    gateway.send("13800000002", identify_text("100005"))  # another number is not limited


@pytest.mark.parametrize(
    "arrange, code, gloss",
    [
        (lambda fake, gateway: setattr(fake, "templates", []), 5, "the text matches no approved template"),
        (lambda fake, gateway: setattr(fake, "balance", 0.0), 3, "insufficient account balance"),
        (lambda fake, gateway: gateway.send(PHONE, TEXT), 8, "less than 30 seconds ago"),
    ],
    ids=["no_template", "no_balance", "same_text_within_30s"],
)
def test_refusals_carry_yunpian_code_and_message(gateway: YunpianSmsGateway, fake_yunpian: FakeYunpian,
                                                 arrange, code: int, gloss: str) -> None:
    arrange(fake_yunpian, gateway)
    before = len(fake_yunpian.requests)
    with pytest.raises(YunpianError) as caught:
        gateway.send(PHONE, TEXT)
    assert caught.value.code == code and gloss in str(caught.value)
    assert str(caught.value).startswith(f"Yunpian refused the SMS to 138****0001: code {code} (")
    assert len(fake_yunpian.requests) == before + 1


def test_provider_detail_never_carries_the_code_or_the_number(gateway: YunpianSmsGateway,
                                                              fake_yunpian: FakeYunpian) -> None:
    fake_yunpian.refuse(4, "关键词屏蔽", f"关键词 493817 为屏蔽词，mobile:{PHONE}")
    with pytest.raises(YunpianError) as caught:
        gateway.send(PHONE, TEXT)
    message = str(caught.value)
    assert "493817" not in message and PHONE not in message
    assert "code 4 (the text holds a blocked keyword): 关键词屏蔽; 关键词 **** 为屏蔽词，mobile:****" in message


# --- retries: only where the SMS cannot go out twice ---------------------------------------------


def test_503_twice_then_success_is_retried_with_a_short_backoff(gateway: YunpianSmsGateway,
                                                                fake_yunpian: FakeYunpian,
                                                                sleeps: list[float]) -> None:
    fake_yunpian.fail(2, status=503)
    gateway.send(PHONE, TEXT)
    assert len(fake_yunpian.requests) == 3
    assert [sms.text for sms in fake_yunpian.sent] == [TEXT]  # delivered once
    assert sleeps == [0.5, 1.0]


def test_unavailable_every_time_gives_up_after_three_attempts(gateway: YunpianSmsGateway,
                                                              fake_yunpian: FakeYunpian,
                                                              sleeps: list[float]) -> None:
    fake_yunpian.fail(5, status=503)
    with pytest.raises(YunpianError, match="not sent: Yunpian answered HTTP 503 3 times") as caught:
        gateway.send(PHONE, TEXT)
    assert not caught.value.delivery_unknown
    assert len(fake_yunpian.requests) == 3 and fake_yunpian.sent == []
    assert sum(sleeps) <= 1.5


@pytest.mark.parametrize("status", [502, 504])
def test_a_proxy_error_may_come_after_sending_so_it_is_not_retried(gateway: YunpianSmsGateway,
                                                                   fake_yunpian: FakeYunpian,
                                                                   sleeps: list[float], status: int) -> None:
    fake_yunpian.fail(1, status=status)
    with pytest.raises(YunpianError, match="unknown") as caught:
        gateway.send(PHONE, TEXT)
    assert caught.value.delivery_unknown
    assert len(fake_yunpian.requests) == 1 and sleeps == []


def test_timeout_after_sending_is_not_retried_and_says_delivery_is_unknown(
    fake_yunpian: FakeYunpian, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    monkeypatch.setenv("YUNPIAN_TIMEOUT_S", "0.3")
    gateway = YunpianSmsGateway(sleep=sleeps.append)
    fake_yunpian.delay(1, seconds=1.5)
    with pytest.raises(YunpianError) as caught:
        gateway.send(PHONE, TEXT)
    error = caught.value
    assert error.delivery_unknown and error.code is None
    assert str(error) == ("delivery of the SMS to 138****0001 unknown: no answer within 0.3 s after the request "
                          "was sent; it may have been delivered, so it was not retried")
    assert len(fake_yunpian.requests) == 1 and sleeps == []
    # Why: Yunpian did take it. A retry would have put a second SMS on the merchant's phone.
    assert [sms.text for sms in fake_yunpian.wait_for_sent(1)] == [TEXT]
    assert len(fake_yunpian.requests) == 1


def test_http_500_without_a_result_code_is_not_retried(gateway: YunpianSmsGateway,
                                                       fake_yunpian: FakeYunpian) -> None:
    fake_yunpian.fail(1, status=500)
    with pytest.raises(YunpianError, match="unknown: Yunpian answered HTTP 500 without a result code") as caught:
        gateway.send(PHONE, TEXT)
    assert caught.value.delivery_unknown
    assert len(fake_yunpian.requests) == 1


def test_connection_refused_is_retried_then_reported_not_sent(fake_yunpian: FakeYunpian,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              sleeps: list[float]) -> None:
    with socket.socket() as probe:  # a free port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("YUNPIAN_API_BASE", f"http://127.0.0.1:{port}")
    gateway = YunpianSmsGateway(sleep=sleeps.append)
    with pytest.raises(YunpianError, match="not sent: could not connect to Yunpian") as caught:
        gateway.send(PHONE, TEXT)
    assert not caught.value.delivery_unknown
    assert sleeps == [0.5, 1.0]  # three attempts, bounded backoff
    assert APIKEY not in full_report(caught.value)


# --- a slow provider (scripts/bench_sms.py) ------------------------------------------------------


def test_answer_delay_slows_every_message_on_its_own(gateway: YunpianSmsGateway, fake_yunpian: FakeYunpian) -> None:
    fake_yunpian.answer_delay_s = 0.5
    other = "13800000002"
    took: dict[str, float] = {}

    def send(to: str) -> None:
        started = time.monotonic()
        gateway.send(to, TEXT)
        took[to] = time.monotonic() - started

    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(to,)) for to in (PHONE, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert min(took.values()) >= 0.5  # each message answered late, and accepted
    assert time.monotonic() - started < 0.95  # side by side, not one queued behind the other
    assert [sms.text for sms in fake_yunpian.sent_to(PHONE)] == [TEXT]
    assert [sms.mobile for sms in fake_yunpian.sent_to(other)] == [other]


def test_sent_to_waits_for_the_messages_to_one_number(gateway: YunpianSmsGateway, fake_yunpian: FakeYunpian) -> None:
    fake_yunpian.answer_delay_s = 0.3
    threading.Thread(target=gateway.send, args=(PHONE, TEXT)).start()
    assert [sms.mobile for sms in fake_yunpian.sent_to(PHONE, timeout=5)] == [PHONE]
    with pytest.raises(AssertionError, match="expected 2 accepted messages to 13800000001, got 1"):
        fake_yunpian.sent_to(PHONE, count=2, timeout=0.1)


# --- what never leaks ----------------------------------------------------------------------------


def test_text_never_logged_and_apikey_never_in_logs_or_errors(
    fake_yunpian: FakeYunpian, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, requests' and urllib3's included
    monkeypatch.setenv("YUNPIAN_TIMEOUT_S", "0.3")
    gateway = YunpianSmsGateway(sleep=lambda seconds: None)
    codes = ["493817", "271828", "314159", "161803", "577215"]
    texts = [identify_text(code) for code in codes]
    errors: list[BaseException] = []

    gateway.send(PHONE, texts[0])  # accepted
    fake_yunpian.fail(1, status=503)
    gateway.send(PHONE, texts[1])  # retried, accepted
    for arrange, text in [
        (lambda: fake_yunpian.delay(1, seconds=1.0), texts[2]),  # delivery unknown
        (lambda: setattr(fake_yunpian, "templates", []), texts[3]),  # refused, code 5
        (lambda: setattr(fake_yunpian, "apikey", "1" * 32), texts[4]),  # refused, code -1
    ]:
        arrange()
        with pytest.raises(YunpianError) as caught:
            gateway.send(PHONE, text)
        errors.append(caught.value)

    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "138****0001" in logged
    for text, code in zip(texts, codes):
        assert text not in logged and code not in logged  # neither the text nor its code
    assert PHONE not in logged and APIKEY not in logged
    for error in errors:
        report = full_report(error) + repr(error)
        assert APIKEY not in report and PHONE not in report
        assert not any(code in report for code in codes)
