"""Read merchant-facing sentences from the domain, for the few places outside Rasa's dialogue
(channels answering before or after the dialogue runs). Trainers edit them in domain.yml only."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List

import yaml

from bot.settings import PROJECT_ROOT, brand

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"


@lru_cache(maxsize=4)
def _responses(domain_file: Path) -> Dict[str, List[dict]]:
    with open(domain_file, encoding="utf-8") as handle:
        return (yaml.safe_load(handle) or {}).get("responses", {})


def response_text(name: str, domain_file: Path = DOMAIN_FILE, **variables: str) -> str:
    """The first text variation of a response, with `{slot}` style variables filled in
    (the brand slots from configuration unless given)."""
    variations = _responses(domain_file).get(name)
    if not variations:
        raise KeyError(f"response {name!r} is missing from {domain_file}")
    text = variations[0]["text"]
    configured = brand()
    defaults = {
        "brand_name": configured.name,
        "service_hotline": configured.hotline,
        "review_days": str(configured.review_days),
    }
    for key, value in {**defaults, **variables}.items():
        text = text.replace("{" + key + "}", value)
    return text
