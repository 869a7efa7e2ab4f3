"""A conversation survives a restart of the servers mid-form (SQL tracker store and database in var/)."""
from __future__ import annotations

import pytest

from e2e.conftest import _free_port, start_assistant, stop_assistant
from e2e.test_change_conversation import Merchant

pytestmark = pytest.mark.servers


def test_form_continues_after_a_restart(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    ports = (_free_port(), _free_port())
    first = start_assistant(var_dir, *ports)
    try:
        chat = Merchant(first, "822100000000002", "13800000002")
        chat.identify()
        assert "原因" in chat.say("线上办理")
    finally:
        stop_assistant(first)
    second = start_assistant(var_dir, *ports)
    try:
        chat.assistant = second
        # The form is still waiting for the reason, and the merchant is still identified.
        assert "身份证" in chat.say("更换开户银行")
    finally:
        stop_assistant(second)
