"""The SMS gateway: the outbox format of CONTRACTS.md, concurrent writers, choosing a provider."""
from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

import pytest

from bot.sms.gateway import OutboxSmsGateway, SmsGateway, gateway_from_env, mask_phone

LOCAL_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


class RecordingGateway:
    """A provider plugged in through SMS_GATEWAY."""

    def send(self, to: str, text: str) -> None:
        pass


def test_outbox_line_is_the_contract_format(var_dir: Path) -> None:
    OutboxSmsGateway().send("13800000001", "【结算助手】您的验证码是123456，5分钟内有效。")
    raw = (var_dir / "sms_outbox.jsonl").read_text(encoding="utf-8")
    assert raw.endswith("\n") and raw.count("\n") == 1
    assert "结算助手" in raw  # ensure_ascii=False: readable Chinese
    record = json.loads(raw)
    assert set(record) == {"to", "text", "sent_at"}
    assert record["to"] == "13800000001"
    assert record["text"] == "【结算助手】您的验证码是123456，5分钟内有效。"
    assert LOCAL_ISO.match(record["sent_at"])


def test_outbox_path_follows_sms_outbox_env(tmp_path: Path, var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = OutboxSmsGateway()
    target = tmp_path / "elsewhere" / "out.jsonl"
    monkeypatch.setenv("SMS_OUTBOX", str(target))
    gateway.send("13800000002", "你好")
    assert json.loads(target.read_text(encoding="utf-8"))["to"] == "13800000002"
    assert not (var_dir / "sms_outbox.jsonl").exists()
    assert target.stat().st_mode & 0o077 == 0  # holds live codes: owner only


def _write_many(path: str, writer: int, count: int) -> None:
    gateway = OutboxSmsGateway(Path(path))
    for index in range(count):
        gateway.send(f"1380000{writer:04d}", f"第{index}条" + "长" * 3000)  # lines far above PIPE_BUF


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(str(path), writer, 50)) for writer in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200
    records = [json.loads(line) for line in lines]  # every line whole
    assert {record["to"] for record in records} == {f"1380000{writer:04d}" for writer in range(4)}


def test_gateway_from_env_defaults_to_the_outbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMS_GATEWAY", raising=False)
    assert isinstance(gateway_from_env(), OutboxSmsGateway)
    monkeypatch.setenv("SMS_GATEWAY", "outbox")
    assert isinstance(gateway_from_env(), OutboxSmsGateway)


def test_gateway_from_env_builds_a_provider_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_GATEWAY", f"{__name__}:RecordingGateway")
    gateway = gateway_from_env()
    assert isinstance(gateway, RecordingGateway) and isinstance(gateway, SmsGateway)
    monkeypatch.setenv("SMS_GATEWAY", "no_colon_here")
    with pytest.raises(ValueError):
        gateway_from_env()


def test_mask_phone() -> None:
    assert mask_phone("13800000001") == "138****0001"
