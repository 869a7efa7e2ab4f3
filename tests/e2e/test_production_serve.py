"""`BOT_ENV=production bot serve` as an operator runs it (issue 12): with a setting missing it exits
non-zero naming it, before any server or the model is started; with all of them it starts, and the
demo login, the SMS outbox, plaintext WeChat, `--cors "*"` and the open REST channel are off."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from cryptography.fernet import Fernet

from bot.ops.demo import DEMO_MERCHANTS, DemoMerchant
from bot.rasa.channels.rest_auth import signature
from bot.responses import response_text
from bot.settings import PROJECT_ROOT
from bot.webchat import portal_token
from e2e.conftest import MODEL, _free_port, _is_zombie, _ready
from sms.fake_yunpian import APIKEY, TEMPLATES, FakeYunpian
from wechat.fake_server import FakeWeChat
from wechat.pusher import AES_KEY, TOKEN, Pusher

KEY = Fernet.generate_key().decode()
API_TOKEN = "a" * 40
TOKEN_SECRET = "t" * 48
HMAC_SECRET = "h" * 48
# A merchant of the production database (the demo merchants may not be there): the demo's first,
# under a number of its own.
MERCHANT = DemoMerchant(**{**DEMO_MERCHANTS[0].__dict__, "number": "822199900000001"})


def production_env(var: Path, yunpian_url: str = "http://127.0.0.1:9", wechat_url: str = "http://127.0.0.1:9",
                   **overrides: Optional[str]) -> Dict[str, str]:
    """Every production setting (an override of None removes one)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("WECHAT_", "YUNPIAN_", "RATE_LIMIT_")) and key not in (
               "DATABASE_URL", "SMS_GATEWAY", "SMS_OUTBOX", "BOT_CORS_ORIGINS", "WEBCHAT_JWT_SECRET")}
    env.update({
        "BOT_VAR_DIR": str(var), "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "NO_PROXY": "127.0.0.1,localhost",
        "RATE_LIMIT_SENDER_PER_MINUTE": "0", "RATE_LIMIT_IP_PER_MINUTE": "0",
        "BOT_ENV": "production",
        "BOT_DATA_KEY": KEY,
        "RASA_API_TOKEN": API_TOKEN,
        "WEBCHAT_JWT_SECRET": TOKEN_SECRET,
        "WEBCHAT_DEMO_LOGIN": "1",  # ignored in production
        "REST_HMAC_SECRET": HMAC_SECRET,
        "CONSOLE_SECRET_KEY": "c" * 48,
        "SMS_GATEWAY": "bot.sms.yunpian:YunpianSmsGateway",
        "YUNPIAN_APIKEY": APIKEY,
        "YUNPIAN_API_BASE": yunpian_url,
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": "wx0123456789abcdef",
        "WECHAT_APP_SECRET": "wechat-app-secret",
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_API_BASE": wechat_url,
    })
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def bot(env: Dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def serve_args(rasa: int, action: int, console: int) -> List[str]:
    return ["serve", "--model", str(MODEL), "--rasa-port", str(rasa), "--action-port", str(action),
            "--console-port", str(console)]


@pytest.fixture(scope="module")
def production_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A production database: migrated by `bot db upgrade` (which writes the key check), one merchant."""
    var = tmp_path_factory.mktemp("production-var")
    env = production_env(var)
    upgraded = bot(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Data key check written" in upgraded.stdout
    added = subprocess.run(
        [sys.executable, "-c", "from bot.db.engine import session_scope; from bot.ops.demo import _add_merchant; "
         "from e2e.test_production_serve import MERCHANT\nwith session_scope() as s: _add_merchant(s, MERCHANT)"],
        env={**env, "PYTHONPATH": str(PROJECT_ROOT / "tests")}, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    return var


# --- refusing to start ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, named", [
    ({"BOT_DATA_KEY": None}, "BOT_DATA_KEY is not set"),
    ({"BOT_DATA_KEY": Fernet.generate_key().decode()}, "BOT_DATA_KEY does not decrypt the database's key check"),
    ({"RASA_API_TOKEN": None}, "RASA_API_TOKEN is not set"),
    ({"WEBCHAT_JWT_SECRET": None}, "WEBCHAT_JWT_SECRET is not set"),
    ({"SMS_GATEWAY": "outbox"}, "SMS_GATEWAY is not set (or is 'outbox')"),
    ({"SMS_GATEWAY": None}, "SMS_GATEWAY is not set (or is 'outbox')"),
    ({"WECHAT_AES_KEY": None}, "WECHAT_AES_KEY is not set: plaintext mode"),
    ({"BOT_CORS_ORIGINS": "*"}, "BOT_CORS_ORIGINS contains '*'"),
    ({"CONSOLE_SECRET_KEY": None}, "CONSOLE_SECRET_KEY is not set"),
])
def test_a_missing_setting_stops_it_before_anything_starts(production_var: Path, overrides, named: str) -> None:
    started = time.monotonic()
    result = bot(production_env(production_var, **overrides), *serve_args(_free_port(), _free_port(), _free_port()),
                 timeout=60)
    assert result.returncode == 2, result
    problems = [line for line in result.stderr.splitlines() if not line.startswith("serve: BOT_ENV=")]
    assert len(problems) == 1 and problems[0].startswith(f"serve: {named}"), result.stderr
    assert "not started, 1 setting(s) to fix" in result.stderr
    assert time.monotonic() - started < 30  # no model was loaded, no server started
    assert not (production_var / "run" / "serve.json").exists()


def test_every_missing_setting_is_named_on_a_line_of_its_own(production_var: Path) -> None:
    missing = ["BOT_DATA_KEY", "RASA_API_TOKEN", "WEBCHAT_JWT_SECRET", "SMS_GATEWAY", "CONSOLE_SECRET_KEY"]
    env = production_env(production_var, **{name: None for name in missing})
    result = bot(env, *serve_args(_free_port(), _free_port(), _free_port()), timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(" ")[1] for line in lines[:-1]] == missing, result.stderr
    assert lines[-1].startswith("serve: BOT_ENV=production: not started, 5 setting(s) to fix")


# --- starting with everything set ----------------------------------------------------------------------


@dataclass
class Production:
    url: str
    console_url: str
    var: Path
    yunpian: FakeYunpian
    wechat: FakeWeChat

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], Any]:
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, dict(reply.headers), _json_or_text(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _json_or_text(error.read())

    def rest(self, sender: str, message: str, *, sign: bool = False, token: Optional[str] = None,
             **extra: Any) -> Tuple[int, Any]:
        raw = json.dumps({"sender": sender, "message": message, **extra}, ensure_ascii=False).encode()
        headers: Dict[str, str] = {}
        if sign:
            timestamp = str(int(time.time()))
            headers = {"X-Bot-Timestamp": timestamp, "X-Bot-Signature": signature(HMAC_SECRET, timestamp, raw)}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, _, answer = self.request("POST", "/webhooks/rest/webhook", raw, headers)
        return status, answer


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def production(production_var: Path) -> Iterator[Production]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make test`, which trains it first")
    yunpian = FakeYunpian(templates=list(TEMPLATES)).start()
    wechat = FakeWeChat().start()
    env = production_env(production_var, yunpian.url, wechat.url, WECHAT_APP_ID=wechat.app_id,
                         WECHAT_APP_SECRET=wechat.app_secret)
    rasa, action, console = _free_port(), _free_port(), _free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot", *serve_args(rasa, action, console)], env=env,
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    try:
        while not (_ready(f"http://localhost:{rasa}/") and _ready(f"http://localhost:{action}/health")
                   and _ready(f"http://localhost:{console}/login")):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                logs = "\n".join(p.read_text()[-3000:] for p in (production_var / "logs").glob("*.log"))
                pytest.fail(f"production servers did not start:\n{process.stdout.read()}\n{logs}")
            time.sleep(1)
        yield Production(f"http://localhost:{rasa}", f"http://localhost:{console}", production_var, yunpian, wechat)
    finally:
        children = {}
        run_file = production_var / "run" / "serve.json"
        if run_file.exists():
            children = json.loads(run_file.read_text())["children"]
        process.terminate()
        process.wait(timeout=60)
        yunpian.stop()
        wechat.stop()
        for name, pid in children.items():
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"{name} outlived bot serve"


@pytest.mark.servers
def test_no_demo_login_in_production(production: Production) -> None:
    status, _, answer = production.request("POST", "/webhooks/webchat/demo-login",
                                           json.dumps({"merchant": DEMO_MERCHANTS[0].number}).encode())
    assert status == 404, answer  # although WEBCHAT_DEMO_LOGIN=1
    status, _, config = production.request("GET", "/webhooks/webchat/config")
    assert status == 200 and config["demo_login"] is False and config["demo_merchants"] == []


@pytest.mark.servers
def test_no_plaintext_wechat_in_production(production: Production) -> None:
    pusher = Pusher(app_id=production.wechat.app_id)
    query = urllib.parse.urlencode(pusher.signed_query())
    status, _, _ = production.request("POST", f"/webhooks/wechat/webhook?{query}",
                                      pusher.text("openid-plain-1", "你好").encode(), {"Content-Type": "text/xml"})
    assert status == 403  # rightly signed, but a plaintext body is nobody's word


@pytest.mark.servers
def test_rasas_api_needs_the_token_and_no_page_may_read_it_cross_origin(production: Production) -> None:
    origin = {"Origin": "https://evil.example"}
    status, headers, _ = production.request("GET", "/conversations/rest-x/tracker", headers=origin)
    assert status in (401, 403)
    status, headers, _ = production.request("GET", f"/conversations/rest-x/tracker?token={API_TOKEN}", headers=origin)
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") in (None, "")  # no --cors "*"


@pytest.mark.servers
def test_rest_admits_only_trusted_callers(production: Production) -> None:
    status, answer = production.rest("anyone-1", "你好")
    assert status == 401 and answer[0]["text"] == response_text("utter_unauthorized")
    status, answer = production.rest("backend-user-1", "你好", sign=True)
    assert status == 200 and answer and all(reply["recipient_id"] == "backend-user-1" for reply in answer)


@pytest.mark.servers
def test_a_portal_token_binds_the_conversation_and_a_second_client_inherits_nothing(production: Production) -> None:
    token = portal_token.issue_token(MERCHANT.number, TOKEN_SECRET)
    status, answer = production.rest("s1", "我要修改结算卡", token=token)
    texts = " ".join(reply.get("text") or "" for reply in answer)
    assert status == 200 and f"尾号{MERCHANT.number[-4:]}" in texts, answer  # identified by the token
    # The backend (or anyone it lets through) using the same sender is in another conversation:
    # not identified, asked for the merchant number; the code goes out through the SMS provider.
    status, answer = production.rest("s1", "我要修改结算卡", sign=True)
    texts = " ".join(reply.get("text") or "" for reply in answer)
    assert status == 200 and f"尾号{MERCHANT.number[-4:]}" not in texts and "商户编号" in texts, answer
    status, answer = production.rest("s1", MERCHANT.number, sign=True)
    assert status == 200
    [sms] = production.yunpian.sent_to(MERCHANT.phone)
    assert "验证码" in sms.text
    assert not (production.var / "sms_outbox.jsonl").exists()  # no outbox in production
    # Nobody may name the merchant's conversation as a sender.
    status, _ = production.rest(f"rest-{MERCHANT.number}-s1", "我要修改结算卡", sign=True)
    assert status == 403
    tracker_path = f"/conversations/rest-{MERCHANT.number}-s1/tracker?token={API_TOKEN}"
    status, _, tracker = production.request("GET", tracker_path)
    assert status == 200 and tracker["slots"]["merchant_verified"] is True
    status, _, tracker = production.request("GET", f"/conversations/s1/tracker?token={API_TOKEN}")
    assert status == 200 and not tracker["slots"].get("merchant_verified")
