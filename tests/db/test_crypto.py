"""Column encryption: keys from the environment or the development key file, round trips, errors."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.db import crypto
from bot.db.crypto import DataKeyError, decrypt, encrypt, key_file_path

CARD = "6222021000000000124"


@pytest.fixture(autouse=True)
def fresh_cache(var_dir: Path):
    crypto._cache.clear()
    yield
    crypto._cache.clear()


def test_round_trip_hides_the_plaintext() -> None:
    token = encrypt(CARD)
    assert CARD not in token and decrypt(token) == CARD
    assert encrypt(CARD) != token  # randomised: equal numbers do not give equal ciphertexts
    assert decrypt(encrypt("赵敏")) == "赵敏"


def test_development_key_is_created_private_and_reused(var_dir: Path) -> None:
    path = key_file_path()
    assert not path.exists()
    token = encrypt(CARD)
    assert path.parent == var_dir and stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    Fernet(key.strip())  # a valid key
    crypto._cache.clear()  # as a new process would
    assert decrypt(token) == CARD and path.read_bytes() == key
    assert [p.name for p in var_dir.iterdir()] == ["secret.key"]  # no temporary files left behind


def test_existing_key_file_is_never_replaced(var_dir: Path) -> None:
    key = Fernet.generate_key()
    key_file_path().write_bytes(key + b"\n")
    crypto._write_new_key(key_file_path())  # a process that lost the race to create it
    assert key_file_path().read_bytes() == key + b"\n"
    assert Fernet(key).decrypt(encrypt(CARD).encode()).decode() == CARD


def test_environment_key_takes_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv("BOT_DATA_KEY", key.decode())
    token = encrypt(CARD)
    assert Fernet(key).decrypt(token.encode()).decode() == CARD
    assert not key_file_path().exists()


def test_keys_can_be_rotated(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("BOT_DATA_KEY", old)
    token = encrypt(CARD)
    monkeypatch.setenv("BOT_DATA_KEY", f"{new}, {old}")
    assert decrypt(token) == CARD
    assert Fernet(new.encode()).decrypt(encrypt(CARD).encode()).decode() == CARD


def test_malformed_environment_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_DATA_KEY", "not-a-key")
    with pytest.raises(DataKeyError, match="BOT_DATA_KEY is not a valid Fernet key"):
        encrypt(CARD)


def test_wrong_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    token = encrypt(CARD)
    monkeypatch.setenv("BOT_DATA_KEY", Fernet.generate_key().decode())
    with pytest.raises(DataKeyError, match="cannot be decrypted") as error:
        decrypt(token)
    assert CARD not in str(error.value)


def test_type_decorator_passes_none_through() -> None:
    column_type = crypto.EncryptedString()
    assert column_type.process_bind_param(None, None) is None
    assert column_type.process_result_value(None, None) is None
    assert column_type.process_result_value(column_type.process_bind_param(CARD, None), None) == CARD


def test_key_file_umask_does_not_matter(var_dir: Path) -> None:
    previous = os.umask(0)
    try:
        encrypt(CARD)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(key_file_path().stat().st_mode) == 0o600
