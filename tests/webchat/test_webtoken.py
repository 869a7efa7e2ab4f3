"""The portal's signed token (bot/webchat/portal_token.py): only a fresh HS256 token naming a merchant opens the chat."""
from __future__ import annotations

import base64
import json
import os
import stat
import time
from datetime import timedelta

import jwt
import pytest

from bot.webchat import portal_token

SECRET = "s" * 64
MERCHANT = "822100000000001"


def _signed(claims: dict, secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _now() -> int:
    return int(time.time())


def test_valid_token_names_the_merchant():
    token = portal_token.issue_token(MERCHANT, SECRET)
    number, expires_at = portal_token.verify_token(token, SECRET)
    assert number == MERCHANT
    assert expires_at - _now() == pytest.approx(portal_token.DEMO_LIFETIME.total_seconds(), abs=5)


def test_portal_token_with_a_float_expiry_is_accepted():
    token = _signed({"sub": MERCHANT, "iat": _now(), "exp": _now() + 3600.5})
    assert portal_token.verify_token(token, SECRET)[0] == MERCHANT


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"sub": MERCHANT, "iat": -7200, "exp": -60}, id="expired"),
        pytest.param({"sub": MERCHANT, "iat": 0}, id="no-exp"),
        pytest.param({"sub": MERCHANT, "exp": 3600}, id="no-iat"),
        pytest.param({"iat": 0, "exp": 3600}, id="no-sub"),
        pytest.param({"sub": "82210000000000", "iat": 0, "exp": 3600}, id="sub-14-digits"),
        pytest.param({"sub": "82210000000000A", "iat": 0, "exp": 3600}, id="sub-not-digits"),
        pytest.param({"sub": "８２２１００００００００００１", "iat": 0, "exp": 3600}, id="sub-full-width"),
        pytest.param({"sub": 822100000000001, "iat": 0, "exp": 3600}, id="sub-a-number"),
        pytest.param({"sub": MERCHANT, "iat": 0, "exp": 13 * 3600}, id="lifetime-over-12h"),
        pytest.param({"sub": MERCHANT, "iat": 3600, "exp": 7200}, id="issued-in-the-future"),
    ],
)
def test_refused_claims(claims):
    now = _now()
    shifted = {key: value + now if key in ("iat", "exp") else value for key, value in claims.items()}
    with pytest.raises(portal_token.InvalidWebToken):
        portal_token.verify_token(_signed(shifted), SECRET)


def test_wrong_signature_is_refused():
    token = portal_token.issue_token(MERCHANT, "another-secret-that-is-long-enough-xx")
    with pytest.raises(portal_token.InvalidWebToken):
        portal_token.verify_token(token, SECRET)


def test_tampered_claims_are_refused():
    header, _, signature = portal_token.issue_token(MERCHANT, SECRET).split(".")
    forged = {"sub": "822100000000002", "iat": _now(), "exp": _now() + 600}
    payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(portal_token.InvalidWebToken):
        portal_token.verify_token(f"{header}.{payload}.{signature}", SECRET)


def test_alg_none_is_refused():
    token = jwt.encode({"sub": MERCHANT, "iat": _now(), "exp": _now() + 600}, None, algorithm="none")
    with pytest.raises(portal_token.InvalidWebToken):
        portal_token.verify_token(token, SECRET)


def test_other_hmac_algorithm_is_refused():
    token = _signed({"sub": MERCHANT, "iat": _now(), "exp": _now() + 600}, algorithm="HS512")
    with pytest.raises(portal_token.InvalidWebToken):
        portal_token.verify_token(token, SECRET)


@pytest.mark.parametrize("token", [None, "", "abc", "a.b.c", 42, {"token": "x"}])
def test_garbage_is_refused(token):
    with pytest.raises(portal_token.InvalidWebToken):
        portal_token.verify_token(token, SECRET)


def test_issue_refuses_a_non_merchant_number():
    with pytest.raises(ValueError):
        portal_token.issue_token("123", SECRET)


def test_issue_with_a_long_lifetime_is_then_refused():
    token = portal_token.issue_token(MERCHANT, SECRET, lifetime=timedelta(hours=24))
    with pytest.raises(portal_token.InvalidWebToken):
        portal_token.verify_token(token, SECRET)


def test_development_secret_is_generated_once_and_private(var_dir, monkeypatch):
    monkeypatch.delenv("WEBCHAT_JWT_SECRET", raising=False)
    first = portal_token.secret()
    assert first == portal_token.secret() and len(first) >= portal_token.MIN_SECRET_CHARS
    path = var_dir / portal_token.SECRET_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_configured_secret_wins_and_must_be_long(var_dir, monkeypatch):
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", SECRET)
    assert portal_token.secret() == SECRET
    assert not (var_dir / portal_token.SECRET_FILE_NAME).exists()
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", "short")
    with pytest.raises(portal_token.WebTokenConfigError):
        portal_token.secret()


def test_demo_login_only_without_a_configured_secret_unless_allowed(monkeypatch):
    monkeypatch.delenv("WEBCHAT_JWT_SECRET", raising=False)
    monkeypatch.delenv("WEBCHAT_DEMO_LOGIN", raising=False)
    assert portal_token.demo_login_enabled()
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", SECRET)
    assert not portal_token.demo_login_enabled()
    monkeypatch.setenv("WEBCHAT_DEMO_LOGIN", "1")
    assert portal_token.demo_login_enabled()
