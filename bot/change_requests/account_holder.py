"""Whose account the new settlement account is, checked against the merchant on record.

The format checks live in `bot.validation` (licence checksum, personal names); what is decided here
needs the merchant:

- a company's licence number must be the one it registered (`check_licence`);
- a company settles only to an account in its own business name; anyone else may settle to an
  account in their own name (同名), or, with an authorisation letter and an agent's check, in
  another person's name (非同名); "就是我本人" means the operator on record (`check_holder_name`).
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.change_requests.filing import same_name
from bot.db.models import Merchant, MerchantKind
from bot.validation import person_name
from bot.validation.errors import Invalid, Reason

__all__ = ["HolderName", "check_licence", "check_holder_name"]


def check_licence(merchant: Merchant | None, code: str) -> str:
    """`code` (already a valid licence number) if it is the merchant's registered one."""
    if merchant is not None and merchant.license_code and merchant.license_code != code:
        raise Invalid(Reason.LICENCE_NOT_MERCHANTS)
    return code


@dataclass(frozen=True)
class HolderName:
    name: str
    # False for a plain name of another person: any two or three characters pass as one, so the
    # dialogue treats it as a weak answer that a confident question outranks.
    certain: bool
    different_name: bool  # 非同名: the bot says an authorisation letter is needed


def check_holder_name(merchant: Merchant | None, text: str) -> HolderName:
    """The account holder's name as the merchant typed it. Raises `Invalid`."""
    if merchant is not None and merchant.kind == MerchantKind.COMPANY.value:
        name = text.strip()
        if name != merchant.business_name:
            raise Invalid(Reason.CORPORATE_NAME_MISMATCH, business_name=merchant.business_name or "")
        return HolderName(name, certain=True, different_name=False)
    if merchant is not None and person_name.is_self_reference(text):
        return HolderName(merchant.legal_person_name, certain=True, different_name=False)
    name = person_name.validate(text)
    if merchant is None or same_name(merchant, name):
        return HolderName(name, certain=True, different_name=False)  # the operator's own name
    # A middle dot is a name's own shape, not a word that happens to be two characters long.
    return HolderName(name, certain="·" in name, different_name=True)
