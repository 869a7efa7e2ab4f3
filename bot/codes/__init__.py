"""One-time codes that prove the merchant holds the phone on record: SMS codes that identify the
merchant or sign one change, and the authenticator app (TOTP) that may sign instead.

Import the API from here (`from bot import codes`); the modules are how it is built:

- `policy`: the numbers (6 digits, 5 minutes, 5 attempts, 30 min lock-out, 60 s between sends,
  5 an hour and 10 a day per phone and budget, the requesters' limits) and what counts as a typed code;
- `outcomes`: `Outcome`, `SendResult`, `VerifyResult`, what every function answers;
- `sms_codes`: `send_code`, `verify_code`, `pending_purpose`, the SMS code rules step by step;
- `challenges`: one code sent by SMS as the database keeps it (HOTP secret, what it is bound to);
- `identification`: `send_identification_code`, `verify_identification_code`, codes to a merchant
  number typed in the chat, answered alike whether the number exists or not;
- `send_limits`: the resend interval and the hourly and daily limits of a phone, identification
  and signing codes each their own budget;
- `request_limits`: `Requester`, `admit_request`, `send_requested_code`, the limits per
  conversation, client address and merchant number typed, asked before every code is sent;
- `lockout`: the lock-outs after wrong codes, the merchant's (signing, authenticator) and the
  conversation's (identification) (`lock_remaining`);
- `throttle`: sliding-window counts in the database, what the limits and lock-outs count with;
- `authenticator`: the authenticator app, enrolment and codes;
- `signing`: `verify_signing_code`, SMS code or authenticator code;
- `signatures`: the record a right signing code leaves, which filing requires and uses up;
- `unit_of_work`: each call commits its session, serialised per merchant;
- `qr`: QR images for enrolment.

The SMS wording is in `bot.sms.texts` (the templates registered with the SMS provider).
"""
from bot.codes.authenticator import (  # noqa: F401
    Enrolment, NotVerified, authenticator_signs, confirm_enrolment, start_enrolment, totp_enabled, verify_totp,
)
from bot.codes.identification import send_identification_code, verify_identification_code  # noqa: F401
from bot.codes.lockout import lock_remaining  # noqa: F401
from bot.codes.outcomes import Outcome, SendResult, VerifyResult  # noqa: F401
from bot.codes.policy import DEFAULT_POLICY, Policy  # noqa: F401
from bot.codes.request_limits import Requester, admit_request, send_requested_code  # noqa: F401
from bot.codes.signing import verify_signing_code  # noqa: F401
from bot.codes.sms_codes import pending_purpose, send_code, verify_code  # noqa: F401

__all__ = [
    "DEFAULT_POLICY", "Enrolment", "NotVerified", "Outcome", "Policy", "Requester", "SendResult", "VerifyResult",
    "admit_request", "authenticator_signs", "send_identification_code", "send_requested_code",
    "verify_identification_code",
    "confirm_enrolment", "lock_remaining", "pending_purpose", "send_code", "start_enrolment", "totp_enabled",
    "verify_code", "verify_signing_code", "verify_totp",
]
