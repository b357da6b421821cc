"""Default scoring profiles per programme, shipped as data (``matcher/data/default_profiles.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from matcher.types import ScoringProfile

DEFAULT_PROFILES_FILE = Path(__file__).parent / "data" / "default_profiles.json"


def load_default_profiles(path: Path = DEFAULT_PROFILES_FILE) -> dict[str, ScoringProfile]:
    """Programme key -> its default profile (validated: weights >= 0, λ in [0, 1])."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {key: ScoringProfile.model_validate(value) for key, value in raw.items() if not key.startswith("_")}
