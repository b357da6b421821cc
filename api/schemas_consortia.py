"""Request and response bodies of ``/consortia`` (the consortium builder, ``matcher/consortium.py``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator

from matcher.consortium import MAX_ALTERNATIVES, MAX_LOCKED, MAX_SIZE, ConsortiumResponse, ConsortiumWeights
from matcher.consortium_rules import RuleResult
from matcher.types import (
    MAX_AREAS,
    MAX_EXCLUDE,
    TEXT_MAX_LENGTH,
    UNIQUE_ITEMS,
    AreaKeys,
    CallTopicId,
    InstitutionId,
    InstitutionIds,
    ProgrammeKey,
    SuggestedInstitution,
)
from seed_data.safe_text import SAFE_TEXT
from seed_data.tables import PROFILE_REF_PATTERN, ActionType

Size = Annotated[int, Field(ge=1, le=MAX_SIZE, strict=True)]


class ConsortiumRequest(BaseModel):
    """Build alternative consortia for a call (its topic id) or a programme, action type and idea text."""

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"requester_id": "pic-959424479", "programme": "horizon-europe", "action_type": "RIA",
         "text": "Glacier melt monitoring and irrigation planning in Central Asian river basins.",
         "alternatives": 3}]}}

    requester_id: InstitutionId | None = Field(default=None, description="The requesting institution (always a "
                                               "member)")
    call: CallTopicId | None = Field(default=None, description="A call topic id (GET /calls): its programme, "
                                     "action type, and title and text (after any `text` given), as "
                                     "POST /suggestions takes a call")
    programme: ProgrammeKey | None = Field(default=None, description="Programme key; with `call`, the call's "
                                           "(another is refused)")
    action_type: ActionType | None = Field(default=None, description="Action type, when no call is named")
    text: Annotated[str, StringConstraints(max_length=TEXT_MAX_LENGTH), SAFE_TEXT] | None = Field(
        default=None, description="The idea (with `call`: before the call's title and text), split into the aspects a "
                                  "consortium must cover")
    areas: AreaKeys = Field(default_factory=list, max_length=MAX_AREAS, json_schema_extra=UNIQUE_ITEMS)
    lock: InstitutionIds = Field(default_factory=list, max_length=MAX_LOCKED, json_schema_extra=UNIQUE_ITEMS,
                            description="Institution ids every proposal must include")
    exclude: InstitutionIds = Field(default_factory=list, max_length=MAX_EXCLUDE, json_schema_extra=UNIQUE_ITEMS,
                               description="Institution ids no proposal may include")
    size_min: Size | None = Field(default=None, description="Fewest members, requester included (default: the "
                                  "action type's)")
    size_max: Size | None = Field(default=None, description="Most members, requester included")
    alternatives: int = Field(default=3, ge=1, le=MAX_ALTERNATIVES, strict=True)
    differ_share: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False,
                                       description="Share of members each alternative must change (default 0.3)")
    weights: ConsortiumWeights | None = Field(default=None, description="Objective weight overrides")
    profile: str | None = Field(default=None, max_length=120, pattern=PROFILE_REF_PATTERN,
                                description="Weight profile of the ranking core (default: the programme's)")

    @model_validator(mode="after")
    def _call_or_programme(self) -> ConsortiumRequest:
        if self.call is None and self.programme is None:
            raise ValueError("give call (a topic id) or programme (with action_type and text)")
        if self.call is not None and self.action_type is not None:
            raise ValueError("give action_type only without call: a call sets its own")
        if self.call is None and not self.requester_id and not (self.text and self.text.strip()):
            raise ValueError("give requester_id or text (the idea the consortium answers)")
        if self.size_min is not None and self.size_max is not None and self.size_min > self.size_max:
            raise ValueError(f"size_min {self.size_min} is above size_max {self.size_max}")
        return self


class ConsortiumCheckRequest(BaseModel):
    """A consortium an office put together, to check against the programme's rules."""

    model_config = {"extra": "forbid"}

    programme: ProgrammeKey
    action_type: ActionType | None = None
    members: InstitutionIds = Field(
        min_length=1, max_length=MAX_SIZE, json_schema_extra=UNIQUE_ITEMS)
    coordinator_id: InstitutionId | None = Field(default=None, description="The designated coordinator, if any")


class CheckedMember(BaseModel):
    institution: SuggestedInstitution
    counts: bool = Field(description="Established in a funding country: counts towards the minimums")
    may_coordinate: bool


class ConsortiumCheckResponse(BaseModel):
    programme: str
    action_type: str
    valid: bool
    rules: list[RuleResult]
    members: list[CheckedMember]
    notes: list[str]


class ConsortiumAnswer(ConsortiumResponse):
    """The proposals, with the call they were built for (if any)."""

    call: str | None = None
    profile_ref: str | None = Field(default=None, description="The ranking core's weight profile (name:version)")


def _strictly(value: Any) -> Any:
    """An answer sent back (``POST /consortia/export``) validated as strictly as JSON allows, nested models
    included: the schema's types, not what pydantic's default (lax) mode would convert (``true`` to a number,
    ``"1"`` to an integer). The body comes parsed; JSON again is what strict mode reads arrays as tuples from.
    Anything but an object (a body that was not JSON) is left to the model's own validation, which refuses it."""
    if not isinstance(value, dict):
        return value
    return ConsortiumAnswer.model_validate_json(json.dumps(value), strict=True)


# The body of ``POST /consortia/export``: an answer exactly as ``POST /consortia`` returned it.
AnswerToExport = Annotated[ConsortiumAnswer, BeforeValidator(_strictly)]
