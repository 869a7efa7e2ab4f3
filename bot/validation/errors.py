"""The one error every validator raises: which rule a value broke (`reason`) and safe details.

Each reason code has a Chinese response `utter_invalid_<reason>` in domain.yml; `details` fill its
`{variables}`. Details never hold a full card, account or ID number (last four digits at most), so
an error can be logged or shown as it is.

>>> error = Invalid(Reason.CARD_LENGTH, expected_length="19", actual_length=18)
>>> error.reason.value, error.details["actual_length"], error.soft
('card_length', 18, False)
>>> Invalid(Reason.CARD_LUHN, last4="0125").soft
True
"""
from __future__ import annotations

from enum import Enum
from types import MappingProxyType
from typing import Mapping, Union

Detail = Union[str, int]


class Reason(str, Enum):
    """Which rule failed. Values are stable: they name domain responses and appear in audit logs."""

    # Resident ID (居民身份证号码)
    ID_FORMAT = "id_format"  # characters other than digits and a final X
    ID_LENGTH = "id_length"  # neither 18 nor the legacy 15 characters
    ID_LEGACY_15 = "id_legacy_15"  # 15-digit first-generation number, void since 2013-01-01
    ID_CHECKSUM = "id_checksum"  # ISO 7064 MOD 11-2 check character
    ID_BIRTH_DATE = "id_birth_date"  # digits 7-14 are not a calendar date
    ID_BIRTH_FUTURE = "id_birth_future"  # birth date after today
    ID_REGION = "id_region"  # address code unknown or not a county in the birth year
    # Unified social credit code (统一社会信用代码)
    LICENCE_FORMAT = "licence_format"
    LICENCE_LENGTH = "licence_length"
    LICENCE_CHECKSUM = "licence_checksum"
    LICENCE_NOT_MERCHANTS = "licence_not_merchants"  # valid, but not the licence the merchant registered
    # Bank cards
    CARD_FORMAT = "card_format"  # not 15-19 digits
    CARD_SAME_AS_CURRENT = "card_same_as_current"
    CARD_UNKNOWN_BIN = "card_unknown_bin"  # no issuer prefix in the BIN table
    CARD_LENGTH = "card_length"  # issuer prefix known, but not with this length
    CARD_BANK_MISMATCH = "card_bank_mismatch"  # the bank the merchant named is not the issuer
    CARD_NOT_DEBIT_CREDIT = "card_not_debit_credit"
    CARD_NOT_DEBIT_SEMI_CREDIT = "card_not_debit_semi_credit"
    CARD_NOT_DEBIT_PREPAID = "card_not_debit_prepaid"
    CARD_LUHN = "card_luhn"  # soft: probably a typo, accepted when confirmed (manual review)
    # Corporate accounts (对公账户)
    ACCOUNT_FORMAT = "account_format"
    ACCOUNT_SAME_AS_CURRENT = "account_same_as_current"
    # Bank names
    BANK_UNKNOWN = "bank_unknown"
    # Mobile numbers, personal names, the project's identifiers
    PHONE_FORMAT = "phone_format"
    NAME_LENGTH = "name_length"
    NAME_FORMAT = "name_format"
    CORPORATE_NAME_MISMATCH = "corporate_name_mismatch"  # a company's account must be in its own name
    NAME_SELF_REFERENCE = "name_self_reference"  # "就是我本人": the operator's name, not a name
    MERCHANT_ID_FORMAT = "merchant_id_format"
    OTP_FORMAT = "otp_format"
    REQUEST_ID_FORMAT = "request_id_format"
    # Free-text answers of the change form (route, change reason, opening branch, confirmation)
    ROUTE_UNKNOWN = "route_unknown"  # neither online nor offline (or both)
    REASON_LENGTH = "reason_length"  # an "other" reason of fewer than 2 or more than 100 characters
    REASON_FORMAT = "reason_format"  # no Chinese at all
    REASON_QUESTION = "reason_question"  # a question, not a reason
    REASON_UNCLEAR = "reason_unclear"  # a greeting, thanks, a command, a long number: no reason
    BRANCH_FORMAT = "branch_format"  # no branch word (支行, 分行 ...) after a place, or a question
    BRANCH_LENGTH = "branch_length"
    BRANCH_NOT_KNOWN = "branch_not_known"  # "不知道支行": say where to find it
    CONFIRMATION_UNCLEAR = "confirmation_unclear"  # neither yes nor no to the summary

    @property
    def response(self) -> str:
        """Name of the domain response that explains this failure to the merchant."""
        return f"utter_invalid_{self.value}"

    @property
    def soft(self) -> bool:
        """A soft failure is a warning the merchant may override by confirming the value."""
        return self is Reason.CARD_LUHN


class Invalid(ValueError):
    """A value broke the rule named by `reason`; `details` are safe to show (see module docstring)."""

    def __init__(self, reason: Reason, **details: Detail) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.details: Mapping[str, Detail] = MappingProxyType(dict(details))

    @property
    def soft(self) -> bool:
        return self.reason.soft

    def __str__(self) -> str:
        if not self.details:
            return self.reason.value
        shown = ", ".join(f"{key}={value}" for key, value in sorted(self.details.items()))
        return f"{self.reason.value} ({shown})"

    def __repr__(self) -> str:
        return f"Invalid({self})"

    def __reduce__(self):  # picklable despite keyword-only details (multiprocessing, caches)
        return (_rebuild, (self.reason, dict(self.details)))


def _rebuild(reason: Reason, details: dict) -> Invalid:
    return Invalid(reason, **details)
