"""The weight-profile store refuses comments no database can hold, from the CLI as from the API (issue 13)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from matcher import weights as store

HE = "horizon-europe-default"


@pytest.mark.parametrize("comment", ["nul\x00", "escape\x1b", "surrogate\ud800"])
def test_a_comment_with_a_control_character_or_a_surrogate_is_refused(session: Session, comment: str) -> None:
    store.ensure_default_profiles(session=session)
    with pytest.raises(store.InvalidProfile) as raised:
        store.create_profile(session=session, name="he-text", programme="horizon-europe", weights={"thematic": 1},
                             author="cli:test", comment=comment)
    assert raised.value.field == "comment"
    with pytest.raises(store.InvalidProfile) as raised:
        store.update_profile(HE, {"mmr_lambda": 0.5}, session=session, author="cli:test", key_id=None,
                             comment=comment)
    assert raised.value.field == "comment"
