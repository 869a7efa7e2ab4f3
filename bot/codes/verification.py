"""The old single module of one-time codes, now split by concern (see `bot.codes`): only names, for
the callers not moved yet. New code imports from `bot.codes`.

actions/ moves to bot.codes in the lead's next commit (then tests/actions, which reaches into
actions' imports the same way), and this module goes.
"""
from bot.codes import (  # noqa: F401
    DEFAULT_POLICY, Enrolment, NotVerified, Outcome, Policy, SendResult, VerifyResult, confirm_enrolment,
    lock_remaining, pending_purpose, send_code, start_enrolment, totp_enabled, verify_code, verify_signing_code,
    verify_totp,
)
from bot.db.models import VerificationPurpose  # noqa: F401
from bot.sms.texts import code_text  # noqa: F401
