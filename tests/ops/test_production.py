"""Production mode (issue 12): `bot.ops.production.problems()` names each missing setting on a line of
its own and nothing once all are there; the defaults that fail open in development (a data key
generated under var/, the demo login, the SMS outbox, WeChat's plaintext mode, `--cors "*"`) are
closed outside it, and development stays as it was."""
from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from bot.db import crypto, key_check
from bot.db.models import KeyCheck
from bot.db.engine import session_factory, session_scope
from bot.ops import devserver, production
from bot.ops.demo import seed
from bot.sms import gateway
from bot.webchat import portal_token
from bot.wechat.config import WeChatConfig

KEY = Fernet.generate_key().decode()
AES_KEY = base64.b64encode(os.urandom(32)).decode().rstrip("=")
PRODUCTION = {
    "BOT_ENV": "production",
    "BOT_DATA_KEY": KEY,
    "RASA_API_TOKEN": "r" * 40,
    "WEBCHAT_JWT_SECRET": "w" * 48,
    "SMS_GATEWAY": "bot.sms.yunpian:YunpianSmsGateway",
    "YUNPIAN_APIKEY": "y" * 32,
    "CONSOLE_SECRET_KEY": "c" * 48,
}
OPTIONAL = ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_AES_KEY", "BOT_CORS_ORIGINS",
            "REST_HMAC_SECRET", "WEBCHAT_DEMO_LOGIN")


@pytest.fixture(autouse=True)
def fresh_keys():
    crypto._cache.clear()
    yield
    crypto._cache.clear()


@pytest.fixture
def production_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Every production setting, on a migrated database without demo data; returns its engine."""
    for name in OPTIONAL:
        monkeypatch.delenv(name, raising=False)
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    return engine


def _problems_naming(name: str) -> list[str]:
    return [line for line in production.problems() if line.startswith(name)]


def test_all_set_no_problem(production_env) -> None:
    assert production.problems() == []
    assert production.problems() == []  # the key check written by the first start matches


@pytest.mark.parametrize("missing", ["BOT_DATA_KEY", "RASA_API_TOKEN", "WEBCHAT_JWT_SECRET", "SMS_GATEWAY",
                                     "CONSOLE_SECRET_KEY"])
def test_each_missing_setting_is_named_on_one_line(production_env, monkeypatch, missing: str) -> None:
    monkeypatch.delenv(missing)
    found = production.problems()
    assert len(found) == 1 and found[0].startswith(f"{missing} is not set"), found


def test_every_missing_setting_at_once_one_line_each(production_env, monkeypatch) -> None:
    for name in PRODUCTION:
        if name != "BOT_ENV":
            monkeypatch.delenv(name)
    named = [line.split(" ", 1)[0] for line in production.problems()]
    assert named == ["BOT_DATA_KEY", "RASA_API_TOKEN", "WEBCHAT_JWT_SECRET", "SMS_GATEWAY", "CONSOLE_SECRET_KEY"]


def test_the_sms_outbox_is_refused_and_a_provider_must_be_usable(production_env, monkeypatch) -> None:
    monkeypatch.setenv("SMS_GATEWAY", "outbox")
    assert len(_problems_naming("SMS_GATEWAY is not set (or is 'outbox')")) == 1
    monkeypatch.setenv("SMS_GATEWAY", "bot.sms.yunpian:YunpianSmsGateway")
    monkeypatch.delenv("YUNPIAN_APIKEY")
    [line] = production.problems()
    assert line.startswith("SMS_GATEWAY=bot.sms.yunpian:YunpianSmsGateway cannot be used") and "YUNPIAN_APIKEY" in line


def test_short_secrets_are_refused(production_env, monkeypatch) -> None:
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", "short")
    monkeypatch.setenv("REST_HMAC_SECRET", "also short")
    assert [line.split(" ", 1)[0] for line in production.problems()] == ["WEBCHAT_JWT_SECRET", "REST_HMAC_SECRET"]
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", "w" * 32)
    monkeypatch.setenv("REST_HMAC_SECRET", "h" * 32)
    assert production.problems() == []


def test_wechat_configured_must_run_in_safe_mode(production_env, monkeypatch) -> None:
    monkeypatch.setenv("WECHAT_TOKEN", "token")
    [line] = production.problems()
    assert line.startswith("WECHAT_AES_KEY is not set") and "plaintext" in line
    monkeypatch.setenv("WECHAT_AES_KEY", AES_KEY)
    assert _problems_naming("WECHAT_AES_KEY is set but WECHAT_APP_ID is not")
    monkeypatch.setenv("WECHAT_APP_ID", "wx0123456789abcdef")
    assert production.problems() == []
    monkeypatch.setenv("WECHAT_AES_KEY", "too-short")
    assert _problems_naming("WECHAT_AES_KEY is not a 43-character EncodingAESKey")


def test_cors_names_origins_never_any(production_env, monkeypatch) -> None:
    assert devserver.cors_arguments() == []  # none: the web chat page is Rasa's own origin
    monkeypatch.setenv("BOT_CORS_ORIGINS", "https://portal.example.com, https://m.example.com")
    assert production.problems() == []
    assert devserver.cors_arguments() == ["--cors", "https://portal.example.com", "https://m.example.com"]
    monkeypatch.setenv("BOT_CORS_ORIGINS", "*")
    assert _problems_naming("BOT_CORS_ORIGINS contains '*'")


def test_the_rasa_server_gets_no_cors_star_in_production(production_env, tmp_path) -> None:
    args = devserver.parse_args(["--model", str(tmp_path / "m.tar.gz")])
    rasa = next(child for child in devserver.build_children(args) if child.name == "Rasa server")
    assert "--cors" not in rasa.command and "*" not in rasa.command


def test_a_key_that_did_not_write_the_data_is_refused(production_env, monkeypatch) -> None:
    assert production.problems() == []  # the first production start writes the key check
    monkeypatch.setenv("BOT_DATA_KEY", Fernet.generate_key().decode())
    [line] = production.problems()
    assert line.startswith("BOT_DATA_KEY does not decrypt the database's key check")
    monkeypatch.setenv("BOT_DATA_KEY", f"{Fernet.generate_key().decode()},{KEY}")  # rotation: new key first
    assert production.problems() == []
    monkeypatch.setenv("BOT_DATA_KEY", "not a key")
    assert _problems_naming("BOT_DATA_KEY is not a valid Fernet key")


def test_a_database_not_migrated_or_missing_is_named(var_dir: Path, monkeypatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    for name in OPTIONAL:
        monkeypatch.delenv(name, raising=False)
    [line] = production.problems()
    assert line.startswith("BOT_DATA_KEY cannot be checked: no database") and "bot db upgrade" in line


def test_demo_merchants_in_the_database_are_refused(production_env, monkeypatch) -> None:
    monkeypatch.delenv("BOT_ENV")  # seeded as development would have, with the same key
    with session_scope(session_factory(production_env)) as session:
        seed(session)
    monkeypatch.setenv("BOT_ENV", "production")
    [line] = production.problems()
    assert line.startswith("DATABASE_URL: the database") and "demo merchants" in line


def test_data_written_with_another_key_gets_no_key_check(production_env, monkeypatch) -> None:
    monkeypatch.delenv("BOT_ENV")  # a development database, its numbers under var/secret.key
    monkeypatch.delenv("BOT_DATA_KEY")
    with session_scope(session_factory(production_env)) as session:
        seed(session)
    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.setenv("BOT_DATA_KEY", KEY)
    found = production.problems()
    assert found[0].startswith("BOT_DATA_KEY does not decrypt the data already stored"), found
    with session_scope(session_factory(production_env)) as session:
        assert session.get(KeyCheck, key_check.CHECK_NAME) is None


def test_the_key_check_written_by_db_upgrade_is_the_one_production_reads(production_env, monkeypatch) -> None:
    with session_scope(session_factory(production_env)) as session:
        assert key_check.confirm(session) is key_check.KeyCheckOutcome.WRITTEN
    assert production.problems() == []


# --- what fails open in development is closed outside it ----------------------------------------------


def test_no_data_key_is_generated_outside_development(var_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("BOT_ENV", "production")
    with pytest.raises(crypto.DataKeyError, match="BOT_DATA_KEY is not set"):
        crypto.encrypt("6222021000000000124")
    assert not crypto.key_file_path().exists()
    monkeypatch.delenv("BOT_ENV")
    crypto.encrypt("6222021000000000124")  # development: generated under var/ as before
    assert crypto.key_file_path().exists()


def test_no_cached_development_key_outlives_development(var_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("BOT_ENV", raising=False)
    crypto.encrypt("x")
    monkeypatch.setenv("BOT_ENV", "production")
    with pytest.raises(crypto.DataKeyError):
        crypto.encrypt("x")


def test_no_demo_login_and_no_generated_token_secret_outside_development(var_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("WEBCHAT_JWT_SECRET", raising=False)
    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.setenv("WEBCHAT_DEMO_LOGIN", "1")
    assert not portal_token.demo_login_enabled()
    with pytest.raises(portal_token.WebTokenConfigError, match="WEBCHAT_JWT_SECRET"):
        portal_token.secret()
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", "w" * 48)
    assert not portal_token.demo_login_enabled()  # WEBCHAT_DEMO_LOGIN=1 counts in development only
    monkeypatch.delenv("BOT_ENV")
    assert portal_token.demo_login_enabled()
    monkeypatch.delenv("WEBCHAT_JWT_SECRET")
    monkeypatch.delenv("WEBCHAT_DEMO_LOGIN")
    assert portal_token.demo_login_enabled() and portal_token.secret()


def test_no_sms_outbox_outside_development(var_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("SMS_GATEWAY", raising=False)
    monkeypatch.setenv("BOT_ENV", "production")
    for spec in ("", "outbox"):
        monkeypatch.setenv("SMS_GATEWAY", spec)
        with pytest.raises(ValueError, match="real SMS provider"):
            gateway.gateway_from_env()
    monkeypatch.delenv("BOT_ENV")
    assert isinstance(gateway.gateway_from_env(), gateway.OutboxSmsGateway)


def test_no_plaintext_wechat_outside_development(monkeypatch) -> None:
    plaintext = WeChatConfig(token="token")
    monkeypatch.setenv("BOT_ENV", "production")
    assert plaintext.problem().startswith("WECHAT_AES_KEY is not set")
    assert WeChatConfig(token="token", app_id="wx0123456789abcdef", aes_key=AES_KEY).problem() is None
    monkeypatch.delenv("BOT_ENV")
    assert plaintext.problem() is None


def test_development_needs_none_of_it(var_dir: Path, monkeypatch, capsys) -> None:
    for name in (*PRODUCTION, *OPTIONAL):
        monkeypatch.delenv(name, raising=False)
    assert devserver.cors_arguments() == ["--cors", "*"]
    assert devserver.main(["--model", str(var_dir / "absent.tar.gz")]) == 2
    assert capsys.readouterr().err.startswith("serve: no trained model")  # no setting asked for


def test_load_test_merchants_count_as_demo_data_a_namesake_does_not(production_env, monkeypatch) -> None:
    from bot.ops.demo import _add_merchant, load_test_merchant

    namesake = load_test_merchant(10).__class__(**{**load_test_merchant(10).__dict__, "number": "822199900000001"})
    with session_scope(session_factory(production_env)) as session:
        _add_merchant(session, namesake)  # a real merchant called 张伟, like the load-test ones
    assert production.problems() == []
    with session_scope(session_factory(production_env)) as session:
        _add_merchant(session, load_test_merchant(10))
    [line] = production.problems()
    assert line.startswith("DATABASE_URL:") and "demo merchants" in line
