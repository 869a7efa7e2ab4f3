"""Encryption of sensitive columns (card, account and ID numbers) with Fernet (AES-128-CBC + HMAC).

The key comes from `BOT_DATA_KEY` (a urlsafe base64 Fernet key; several keys separated by commas
allow rotation: the first encrypts, all decrypt). Without it a development key is generated on first
use at `var/secret.key` (mode 0600) and reused, so the demo works out of the box and deleting `var/`
drops the key together with the data it protects. Outside development (`BOT_ENV`) a missing key is
an error, never generated: bot.db.key_check proves at start that it is the key of the stored data.

Fernet tokens are randomised: equal numbers give different ciphertexts, so encrypted columns cannot
be searched; the `*_last4` columns next to them serve lookups and display.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import Text, TypeDecorator

from bot import settings

KEY_ENV = "BOT_DATA_KEY"
KEY_FILE_NAME = "secret.key"


class DataKeyError(RuntimeError):
    """The data key is malformed, or does not decrypt what the database holds."""


_cache: dict[str, MultiFernet] = {}
_lock = threading.Lock()


def key_file_path() -> Path:
    return settings.var_dir() / KEY_FILE_NAME


def _write_new_key(path: Path) -> None:
    """Create the key file atomically, never replacing one another process just wrote."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret.key.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() fails if the name exists, so two processes starting together agree on one key.
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # filesystems without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _build(keys: list[bytes], source: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise DataKeyError(f"{source} is not a valid Fernet key (32 url-safe base64-encoded bytes)") from exc


def fernet() -> MultiFernet:
    """The cipher for the current configuration (environment key, else the development key file)."""
    env_value = os.environ.get(KEY_ENV, "").strip()
    if not env_value and not settings.is_development():
        # A key made up here would lock a second replica (or a fresh var/) out of the data, silently.
        raise DataKeyError(f"{KEY_ENV} is not set: outside development the data key is never generated "
                           "(set the key the data was written with)")
    source = f"env:{env_value}" if env_value else f"file:{key_file_path()}"
    cached = _cache.get(source)
    if cached is not None:
        return cached
    with _lock:
        if source not in _cache:
            if env_value:
                keys = [part.strip().encode() for part in env_value.split(",") if part.strip()]
                _cache[source] = _build(keys, KEY_ENV)
            else:
                path = key_file_path()
                if not path.exists():
                    _write_new_key(path)
                _cache[source] = _build([path.read_bytes().strip()], str(path))
        return _cache[source]


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise DataKeyError(
            f"stored data cannot be decrypted with the current key (check {KEY_ENV} or {KEY_FILE_NAME})"
        ) from exc


class EncryptedString(TypeDecorator):
    """A string column stored encrypted; Python code only ever sees the plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else decrypt(value)
