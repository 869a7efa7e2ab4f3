"""Validation of the values merchants give: normalise, check against the real rules, and say which
rule failed.

One module per kind of value, each with the same verbs as python-stdnum (`compact`, `validate`,
`is_valid`): `resident_id`, `licence`, `bank_card`, `corporate_account`, `banks` (bank names),
`phone`, `person_name`, `identifiers` (merchant numbers, one-time codes, request references), and
the free answers of the change form: `route` (online / offline), `reason` (the change reason,
a category or the merchant's words), `branch` (the opening branch), `confirmation` (yes / no to
the summary). `validate` returns the normalised value (or an info object) and raises `Invalid`
otherwise; its `reason` names the rule and the domain response `utter_invalid_<reason>` (see
`messages`). Merchants type values with words around them: `in_text` finds the one value in a
sentence for every number validator; `normalize` holds the text normalisation they share.
Framework-free: no Rasa imports here.
"""
from bot.validation.errors import Invalid, Reason

__all__ = ["Invalid", "Reason"]
