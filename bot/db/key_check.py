"""Proof that the data key is the one the stored data was written with.

Card, account and ID numbers are encrypted with `BOT_DATA_KEY` (bot.db.crypto). A replica started
with another key, or with none (development generates one under var/), would find every encrypted
row unreadable, and nothing would say so until a merchant's data is needed. So the database keeps
one known value encrypted with the key (`key_checks`, row `data_key`), written by `bot db upgrade`
or by the first production start, and `BOT_ENV=production bot serve` decrypts it before starting.

A database that already holds encrypted rows but no check (set up before the check existed) gets
the check only if the key decrypts one of those rows: the first production start must not bless a
wrong key.

Rotation: with `BOT_DATA_KEY=new,old` the check still decrypts (any listed key decrypts);
`bot db upgrade` re-encrypts it with the first key, after the data itself has been re-encrypted.
"""
from __future__ import annotations

import enum
from typing import Optional

from cryptography.fernet import InvalidToken
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from bot.db import crypto
from bot.db.models import KeyCheck

CHECK_NAME = "data_key"
KNOWN_PLAINTEXT = "settlement-assistant data key check v1"
# An encrypted column that exists from the first migration: probed when no check exists yet.
_PROBE = ("settlement_accounts", "account_number")


class KeyMismatch(crypto.DataKeyError):
    """The configured key is well formed but is not the one the stored data was written with."""


class KeyCheckOutcome(str, enum.Enum):
    MATCHES = "matches"  # the stored check decrypts with the configured key
    WRITTEN = "written"  # there was none: written now with the configured key


def has_key_check_table(session: Session) -> bool:
    return inspect(session.connection()).has_table(KeyCheck.__tablename__)


def confirm(session: Session, rotate: bool = False) -> KeyCheckOutcome:
    """Decrypt the database's check with the configured key, writing it when there is none yet;
    raises KeyMismatch when the key is not the one the data was written with (crypto.DataKeyError
    when there is no usable key at all). The caller commits."""
    cipher = crypto.fernet()  # DataKeyError for a malformed key, or none outside development
    row = session.get(KeyCheck, CHECK_NAME)
    if row is None:
        _refuse_unless_it_decrypts_stored_data(session)
        session.add(KeyCheck(name=CHECK_NAME, token=cipher.encrypt(KNOWN_PLAINTEXT.encode()).decode("ascii")))
        session.flush()
        return KeyCheckOutcome.WRITTEN
    try:
        plaintext = cipher.decrypt(row.token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        plaintext = None
    if plaintext != KNOWN_PLAINTEXT:
        raise KeyMismatch(
            f"{crypto.KEY_ENV} does not decrypt the database's key check: it is not the key the stored data "
            "was written with")
    if rotate:  # re-encrypted with the first key of the list (a new token even when it already was)
        row.token = cipher.rotate(row.token.encode("ascii")).decode("ascii")
    return KeyCheckOutcome.MATCHES


def _refuse_unless_it_decrypts_stored_data(session: Session) -> None:
    table, column = _PROBE
    if not inspect(session.connection()).has_table(table):
        return
    token: Optional[str] = session.execute(
        text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL LIMIT 1")).scalar()
    if token is None:
        return
    try:
        crypto.fernet().decrypt(token.encode("ascii"))
    except InvalidToken:
        raise KeyMismatch(
            f"{crypto.KEY_ENV} does not decrypt the data already stored: it is not the key the data was "
            "written with (no key check was written)") from None

