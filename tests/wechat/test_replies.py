"""Replies as WeChat text: split at 2048 UTF-8 bytes, buttons as numbered lines; configuration."""
from __future__ import annotations

import pytest

from bot.wechat.config import DEFAULT_API_BASE, WeChatConfig
from bot.wechat.replies import MAX_TEXT_BYTES, split_for_wechat, with_options


def _sizes(pieces):
    return [len(piece.encode("utf-8")) for piece in pieces]


def test_a_short_reply_is_one_message():
    assert split_for_wechat("您好") == ["您好"]
    assert split_for_wechat("卡" * 682) == ["卡" * 682]  # 2046 bytes


def test_a_long_reply_without_breaks_is_cut_between_characters():
    text = "结算卡变更" * 600  # 3000 characters, 9000 bytes
    pieces = split_for_wechat(text)
    assert len(pieces) == 5
    assert all(size <= MAX_TEXT_BYTES for size in _sizes(pieces))
    assert "".join(pieces) == text


def test_four_byte_characters_are_never_cut_in_half():
    text = "a" + "😀" * 1000
    pieces = split_for_wechat(text)
    assert all(size <= MAX_TEXT_BYTES for size in _sizes(pieces))
    assert "".join(pieces) == text
    for piece in pieces:
        piece.encode("utf-8").decode("utf-8")


def test_long_replies_are_cut_at_line_breaks():
    lines = [f"第{number}条：" + "说明文字" * 40 for number in range(30)]  # ~490 bytes a line
    pieces = split_for_wechat("\n".join(lines))
    assert len(pieces) > 1
    assert all(size <= MAX_TEXT_BYTES for size in _sizes(pieces))
    # Every piece is whole lines: no line is split across two messages.
    assert [line for piece in pieces for line in piece.split("\n")] == lines


def test_without_line_breaks_a_sentence_end_is_preferred():
    sentence = "您的申请已受理，请耐心等待审核结果。"  # 18 characters, 54 bytes
    pieces = split_for_wechat(sentence * 60)
    assert all(piece.endswith("。") for piece in pieces)
    assert "".join(pieces) == sentence * 60


def test_buttons_become_numbered_lines_that_say_what_to_type():
    assert with_options("信息无误请回复“确认”", ["确认无误", "有错误要修改"]) == (
        "信息无误请回复“确认”\n1. 回复“确认无误”\n2. 回复“有错误要修改”"
    )
    assert with_options(None, ["线上办理"]) == "1. 回复“线上办理”"
    assert with_options("请选择", ["A", "B"], lambda number, title: f"[{number}] {title}") == "请选择\n[1] A\n[2] B"


def test_configuration_comes_from_the_environment_before_credentials():
    environ = {"WECHAT_TOKEN": "env-token", "WECHAT_API_BASE": "http://127.0.0.1:9/"}
    credentials = {"token": "file-token", "app_id": "wx-file", "app_secret": "s", "aes_key": None}
    config = WeChatConfig.from_sources(environ, credentials)
    assert config.token == "env-token"
    assert config.app_id == "wx-file"
    assert config.api_base == "http://127.0.0.1:9"
    assert not config.safe_mode
    assert WeChatConfig.from_sources({}).api_base == DEFAULT_API_BASE


@pytest.mark.parametrize(
    "values, problem",
    [({}, "WECHAT_TOKEN"),
     ({"token": "t", "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}, "WECHAT_APP_ID"),
     ({"token": "t", "app_id": "wx", "aes_key": "too-short"}, "43-character"),
     ({"token": "t"}, None),
     ({"token": "t", "app_id": "wx", "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}, None)],
)
def test_configuration_problems_are_named(values, problem):
    found = WeChatConfig(**values).problem()
    assert (found is None) if problem is None else (problem in found)
