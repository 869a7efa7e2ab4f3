"""One-time codes that prove the merchant holds the phone on record: SMS codes that identify or
sign a change, and the authenticator app (TOTP) that may sign instead; QR images for enrolment
(`qr`). Import the API from here (`from bot import codes`); the modules are how it is built."""
from bot.codes.verification import (  # noqa: F401
    DEFAULT_POLICY, Enrolment, NotVerified, Outcome, Policy, SendResult, VerifyResult, confirm_enrolment,
    lock_remaining, pending_purpose, send_code, start_enrolment, totp_enabled, verify_code, verify_signing_code,
    verify_totp,
)
