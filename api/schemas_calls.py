"""Response models of the call-topic routes (``GET /calls``, ``GET /calls/{topic_id}``)."""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from seed_data.calls import CallStatus
from seed_data.tables import ActionType, Call

_EXAMPLE: JsonDict = {
    "topic_id": "HORIZON-CL6-2027-02-FARM2FORK-01",
    "title": "Increasing the resilience of agriculture in water and nutrient limited conditions",
    "programme": "Horizon Europe",
    "programme_key": "horizon-europe",
    "cluster": "CL6",
    "action_type": "RIA",
    "types_of_action": "HORIZON Research and Innovation Actions",
    "deadline": "2027-09-23",
    "status": "forthcoming",
    "budget_min": 5000000.0,
    "budget_max": 6000000.0,
    "expected_grants": 2,
    "url": "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/"
           "horizon-cl6-2027-02-farm2fork-01",
}


class CallSummary(BaseModel):
    """A call topic as lists show it; ``status`` is relative to today (a deadline passed: closed)."""

    topic_id: str
    title: str
    programme: str = Field(description="The portal's programme name, e.g. Horizon Europe, LIFE")
    programme_key: str | None = Field(description="Our programme key (GET /programmes) where there is one: "
                                      "suggestions for the call use it; null: none")
    cluster: str | None = Field(description="Horizon Europe cluster or part: CL1-CL6, MISS, JU, WIDERA, ...")
    action_type: ActionType
    types_of_action: str | None = Field(description="The portal's type of action, as given")
    deadline: dt.date | None
    status: CallStatus = Field(description="open, forthcoming, or closed (deadline before today, or closed on "
                                           "the portal)")
    budget_min: float | None = Field(description="Smallest grant, EUR")
    budget_max: float | None = Field(description="Largest grant, EUR")
    expected_grants: int | None
    url: str | None = Field(description="The topic's page on the Funding & Tenders portal")

    model_config = {"json_schema_extra": {"examples": [_EXAMPLE]}}

    @classmethod
    def of(cls, call: Call, *, status: CallStatus) -> Self:
        """``call`` as this model shows it, with its ``status`` as of today."""
        return cls.model_validate({**call.model_dump(), "status": status})


class CallDetail(CallSummary):
    """One call topic in full: its clean text, conditions, keywords and the call it belongs to."""

    call_identifier: str | None = Field(description="The call the topic belongs to")
    call_title: str | None
    deadline_model: str | None = Field(description="single-stage, two-stage or multiple cut-off")
    portal_status: str | None = Field(description="The portal's status when the source was fetched (2026-08)")
    keywords: list[str]
    text: str = Field(description="Objective, scope and expected outcomes, as plain text (empty for a few "
                                  "topics the portal gives no description for)")
    conditions: str | None = Field(description="Admissibility and eligibility conditions, as plain text")


class CallsPublic(BaseModel):
    """A page of call topics, by deadline; ``count`` is the number of matches over all pages."""

    data: list[CallSummary]
    count: int

    model_config = {"json_schema_extra": {"examples": [{"data": [_EXAMPLE], "count": 1}]}}
