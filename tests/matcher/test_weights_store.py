"""The weight-profile store (``matcher/weights.py``) on in-memory SQLite, and the same scenario on PostgreSQL.

Profiles start from the shipped defaults (``matcher/data/default_profiles.json``); feedback names Nazarbayev
University (PIC 953676162), a real catalogue row.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from matcher import weights as store
from matcher.profiles import load_default_profiles
from matcher.types import COMPONENTS, TiePreference
from seed_data.tables import ApiKey, Feedback, Institution, WeightProfileVersion

NU = "pic-953676162"
HE = "horizon-europe-default"


def _key(session: Session, name: str = "office of research") -> ApiKey:
    """A key row as ``api.auth.create_api_key`` stores it (the matcher does not import the API)."""
    row = ApiKey(name=name, role="officer", prefix="abcdefgh", key_hash=f"{len(name):064d}")
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def defaults(session: Session) -> Session:
    """A session whose database holds the default profiles and Nazarbayev University."""
    store.ensure_default_profiles(session=session)
    session.add(Institution(id=NU, name="Nazarbayev University", country="KZ", kind="university"))
    session.commit()
    return session


def _rows(session: Session, name: str) -> list[tuple[int, dict[str, float], float, bool]]:
    rows = session.exec(select(WeightProfileVersion).where(WeightProfileVersion.name == name)
                        .order_by(WeightProfileVersion.version)).all()
    return [(r.version, dict(r.weights), r.mmr_lambda, r.published) for r in rows]


def test_defaults_are_created_once_published_and_equal_to_the_file(session: Session) -> None:
    first = store.ensure_default_profiles(session=session)
    session.commit()
    shipped = load_default_profiles()
    assert sorted(r.name for r in first) == sorted(f"{p}-default" for p in shipped)
    for programme, profile in shipped.items():
        row = store.published_version(programme, session=session)
        assert (row.name, row.version, row.author, row.key_id) == (f"{programme}-default", 1, "system", None)
        assert store.to_scoring_profile(row) == profile
    assert store.ensure_default_profiles(session=session) == []  # twice: nothing new


def test_update_adds_a_version_and_never_rewrites_one(defaults: Session) -> None:
    before = _rows(defaults, HE)
    key = _key(defaults)
    row = store.update_profile(HE, {"weights": {"thematic": 0.5}, "mmr_lambda": 0.6}, session=defaults,
                               author=key.name, key_id=key.id, comment="thematic fit first")
    defaults.commit()
    assert (row.version, row.published, row.author, row.key_id) == (2, False, "office of research", key.id)
    assert row.weights == {**before[0][1], "thematic": 0.5}  # only the component given changed
    after = _rows(defaults, HE)
    assert after[0] == before[0]  # version 1 untouched, still the published one
    assert after[1] == (2, row.weights, 0.6, False)
    assert store.get_version(HE, session=defaults).version == 2
    assert store.published_version("horizon-europe", session=defaults).version == 1


def test_a_change_that_changes_nothing_is_refused(defaults: Session) -> None:
    same = store.get_version(HE, session=defaults).weights["network"]
    with pytest.raises(store.InvalidProfile, match="nothing to change"):
        store.update_profile(HE, {"weights": {"network": same}}, session=defaults, author="a", key_id=None,
                             comment="no-op")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"weights": {"citations": 0.3}}, "weights",
         f"unknown component(s) ['citations']; allowed: {list(COMPONENTS)}"),
        ({"weights": {"network": -0.1}}, "weights", "weights must be finite and >= 0, got {'network': -0.1}"),
        ({"weights": {"network": math.inf}}, "weights", "weights must be finite and >= 0, got {'network': inf}"),
        ({"weights": dict.fromkeys(COMPONENTS, 0.0)}, "weights", "at least one component weight must be positive"),
        ({"mmr_lambda": 1.5}, "mmr_lambda", "mmr_lambda must be a number in [0, 1], got 1.5"),
        ({"max_per_country": 0}, "max_per_country", "got 0"),
        ({"ties": "sometimes"}, "ties", "unknown tie preference 'sometimes'; allowed: ['preferred', 'neutral', "
                                        "'excluded']"),
        ({"ties": None}, "ties", "ties cannot be null"),
        ({"programme": "bri"}, "programme", "cannot change ['programme']"),
    ],
)
def test_invalid_changes_name_the_field_and_the_allowed_values(
    defaults: Session, changes: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(store.InvalidProfile) as raised:
        store.update_profile(HE, changes, session=defaults, author="a", key_id=None, comment="bad")
    assert raised.value.field == field
    assert message in str(raised.value)
    assert [v for v, *_ in _rows(defaults, HE)] == [1]


def test_create_checks_the_name_programme_and_uniqueness(defaults: Session) -> None:
    weights = {"thematic": 1.0}
    for name, programme, error in [
        (HE, "horizon-europe", store.ProfileConflict),
        ("compare", "horizon-europe", store.InvalidProfile),
        ("Horizon Europe", "horizon-europe", store.InvalidProfile),
        ("he-moon", "moon-programme", store.InvalidProfile),
    ]:
        with pytest.raises(error):
            store.create_profile(session=defaults, name=name, programme=programme, weights=weights, author="a")
    row = store.create_profile(session=defaults, name="he-thematic", programme="horizon-europe", weights=weights,
                               author="a")
    assert (row.version, row.published) == (1, False)
    assert row.weights == {**dict.fromkeys(COMPONENTS, 0.0), "thematic": 1.0}


def test_publish_leaves_exactly_one_published_version_per_programme(defaults: Session) -> None:
    other = store.create_profile(session=defaults, name="he-thematic", programme="horizon-europe",
                                 weights={"thematic": 1.0}, author="a")
    store.publish(other.name, 1, session=defaults)
    defaults.commit()
    published = defaults.exec(select(WeightProfileVersion).where(WeightProfileVersion.programme == "horizon-europe",
                                                                 WeightProfileVersion.published)).all()
    assert [store.format_ref(r) for r in published] == ["he-thematic:1"]
    assert store.published_profile("horizon-europe", session=defaults).weights.thematic == 1.0
    assert store.published_version("bri", session=defaults).name == "bri-default"  # other programmes untouched
    store.publish(HE, 1, session=defaults)
    store.publish(HE, 1, session=defaults)  # publishing the published version changes nothing
    defaults.commit()
    assert store.published_version("horizon-europe", session=defaults).name == HE
    assert store.get_version("he-thematic", 1, session=defaults).published is False


def test_the_database_refuses_two_published_versions_for_one_programme(defaults: Session) -> None:
    row = store.create_profile(session=defaults, name="he-thematic", programme="horizon-europe",
                               weights={"thematic": 1.0}, author="a")
    row.published = True  # behind the store's back
    defaults.add(row)
    with pytest.raises(IntegrityError):
        defaults.flush()


def test_rollback_adds_a_published_copy_of_the_old_version(defaults: Session) -> None:
    store.update_profile(HE, {"weights": {"network": 0.5}, "ties": "preferred"}, session=defaults, author="a",
                         key_id=None, comment="v2")
    store.publish(HE, 2, session=defaults)
    store.update_profile(HE, {"mmr_lambda": 0.9}, session=defaults, author="a", key_id=None, comment="v3")
    row = store.rollback(HE, 1, session=defaults, author="b", key_id=None, comment="v2 was worse")
    defaults.commit()
    v1 = store.get_version(HE, 1, session=defaults)
    assert (row.version, row.published, row.comment, row.author) == (4, True, "v2 was worse", "b")
    assert store.to_scoring_profile(row) == store.to_scoring_profile(v1)
    assert store.compare_versions(v1, row).identical
    assert [v for v, *_ in _rows(defaults, HE)] == [1, 2, 3, 4]
    assert store.published_version("horizon-europe", session=defaults).version == 4
    with pytest.raises(store.ProfileNotFound, match="has no version 9"):
        store.rollback(HE, 9, session=defaults, author="b", key_id=None, comment="no such")


def test_compare_reports_weight_and_parameter_differences(defaults: Session) -> None:
    store.update_profile(HE, {"weights": {"thematic": 0.7}, "max_per_country": 2}, session=defaults, author="a",
                         key_id=None, comment="v2")
    result = store.compare_versions(store.get_version(HE, 1, session=defaults), store.get_version(HE, session=defaults))
    assert (result.a, result.b, result.identical) == (f"{HE}:1", f"{HE}:2", False)
    thematic = next(w for w in result.weights if w.component == "thematic")
    shipped = load_default_profiles()["horizon-europe"].weights.thematic
    assert (thematic.a, thematic.b) == (shipped, 0.7)
    assert thematic.delta == pytest.approx(0.7 - shipped)
    assert thematic.a_normalised == pytest.approx(shipped)  # the defaults sum to 1
    assert thematic.b_normalised == pytest.approx(0.7 / (1 - shipped + 0.7))
    assert sum(w.delta_normalised for w in result.weights) == pytest.approx(0.0)
    changed = {p.parameter: (p.a, p.b) for p in result.parameters if p.changed}
    assert changed == {"max_per_country": (None, 2)}
    cross = store.compare_versions(store.get_version(HE, 1, session=defaults),
                                   store.get_version("bri-default", 1, session=defaults))
    assert {p.parameter for p in cross.parameters if p.changed} == {"programme"}
    assert not cross.identical


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("bri-default", ("bri-default", None)), ("bri-default:12", ("bri-default", 12)), ("a.b_c-1:1", ("a.b_c-1", 1))],
)
def test_parse_ref(ref: str, expected: tuple[str, int | None]) -> None:
    assert store.parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "BRI", "bri:", "bri:0", "bri:01", "bri:1:2", "bri:x", "bri\n", "bri:99999999999"])
def test_parse_ref_rejects_malformed_references(ref: str) -> None:
    with pytest.raises(store.InvalidProfile):
        store.parse_ref(ref)


def test_resolve_for_request_uses_the_named_version_or_the_published_one(defaults: Session) -> None:
    v2 = store.update_profile(HE, {"mmr_lambda": 0.5}, session=defaults, author="a", key_id=None, comment="v2")
    assert store.resolve_for_request("horizon-europe", None, session=defaults).version == 1
    assert store.resolve_for_request("horizon-europe", HE, session=defaults).id == v2.id
    assert store.resolve_for_request("horizon-europe", f"{HE}:1", session=defaults).version == 1
    with pytest.raises(store.ProfileNotFound, match="unknown programme 'moon'"):
        store.resolve_for_request("moon", None, session=defaults)


def test_feedback_is_stored_with_its_version_and_counted_per_version(defaults: Session) -> None:
    key = _key(defaults)
    assert key.id is not None
    v1 = store.get_version(HE, 1, session=defaults)
    v2 = store.update_profile(HE, {"mmr_lambda": 0.5}, session=defaults, author="a", key_id=None, comment="v2")
    assert v1.id is not None and v2.id is not None
    for version_id, status in [(v1.id, "contacted"), (v1.id, "accepted"), (v1.id, "contacted"), (v2.id, "rejected")]:
        store.record_feedback(session=defaults, institution_id=NU, programme="horizon-europe",
                              profile_version_id=version_id, status=status, key_id=key.id, note="met at info day")
    defaults.commit()
    stored = defaults.exec(select(Feedback)).all()
    assert [(f.profile_version_id, f.key_id, f.institution_id) for f in stored][0] == (v1.id, key.id, NU)
    summary = store.feedback_summary(session=defaults, name=HE)
    assert [(s.version, s.counts, s.total) for s in summary] == [
        (1, {"contacted": 2, "accepted": 1, "rejected": 0}, 3),
        (2, {"contacted": 0, "accepted": 0, "rejected": 1}, 1),
    ]
    everything = store.feedback_summary(session=defaults)
    assert len(everything) == len(load_default_profiles()) + 1  # every version, zeros included
    assert sum(s.total for s in everything) == 4
    with pytest.raises(store.ProfileNotFound):
        store.feedback_summary(session=defaults, name="no-such-profile")


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("institution_id", {"institution_id": "pic-000000000"}),
        ("status", {"status": "ignored"}),
        ("profile_version_id", {"profile_version_id": 999}),
        ("programme", {"programme": "moon-programme"}),
    ],
)
def test_feedback_naming_something_unknown_is_refused(defaults: Session, field: str, values: dict[str, object]) -> None:
    key = _key(defaults)
    body: dict[str, object] = {"institution_id": NU, "programme": "horizon-europe", "status": "contacted",
                               "profile_version_id": store.get_version(HE, session=defaults).id, **values}
    with pytest.raises(store.InvalidFeedback) as raised:
        store.record_feedback(session=defaults, key_id=key.id, **body)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert defaults.exec(select(Feedback)).all() == []


def test_metrics_can_be_attached_later(defaults: Session) -> None:
    store.attach_metrics(HE, 1, {"ndcg_at_10": 0.61}, session=defaults)
    defaults.commit()
    assert store.get_version(HE, 1, session=defaults).metrics == {"ndcg_at_10": 0.61}
    assert store.get_version("bri-default", 1, session=defaults).metrics is None


@pytest.mark.postgres
def test_the_store_on_postgresql(pg_engine: Engine) -> None:
    """The whole life of a profile on PostgreSQL: JSON columns, timestamptz, the partial unique index."""
    with Session(pg_engine) as session:
        store.ensure_default_profiles(session=session)
        session.add(Institution(id=NU, name="Nazarbayev University", country="KZ", kind="university"))
        key = _key(session)
        session.commit()
        assert key.id is not None
        v2 = store.update_profile(HE, {"weights": {"thematic": 0.6}, "ties": TiePreference.preferred.value},
                                  session=session, author=key.name, key_id=key.id, comment="v2")
        store.publish(HE, 2, session=session)
        session.commit()
        v2_id = v2.id
        assert store.published_version("horizon-europe", session=session).version == 2
        rolled = store.rollback(HE, 1, session=session, author=key.name, key_id=key.id, comment="back")
        assert rolled.id is not None
        store.record_feedback(session=session, institution_id=NU, programme="horizon-europe",
                              profile_version_id=rolled.id, status="accepted", key_id=key.id)
        session.commit()
    with Session(pg_engine) as session:
        latest = store.get_version(HE, session=session)
        assert (latest.version, latest.published) == (3, True)
        assert store.to_scoring_profile(latest) == store.to_scoring_profile(store.get_version(HE, 1, session=session))
        assert store.get_version(HE, 2, session=session).weights["thematic"] == 0.6
        assert latest.created.tzinfo is not None and latest.created.utcoffset() == dt.timedelta(0)
        assert [s.counts["accepted"] for s in store.feedback_summary(session=session, name=HE)] == [0, 0, 1]
        assert v2_id != latest.id
        other = store.get_version(HE, 2, session=session)
        other.published = True  # a second published version for the programme, behind the store's back
        session.add(other)
        with pytest.raises(IntegrityError):
            session.flush()


def test_changed_defaults_become_a_new_version_published_only_over_the_system_s(session: Session, tmp_path) -> None:
    import json

    from matcher.profiles import DEFAULT_PROFILES_FILE

    store.ensure_default_profiles(session=session)
    # an officer changed the Belt-and-Road default (a version of theirs is the latest)
    store.update_profile("bri-default", {"mmr_lambda": 0.5}, session=session, author="office", key_id=None,
                         comment="more diversity")
    session.commit()
    shipped = json.loads(DEFAULT_PROFILES_FILE.read_text(encoding="utf-8"))
    for programme in ("horizon-europe", "bri"):
        shipped[programme]["weights"] = {**shipped[programme]["weights"], "similar_projects": 0.77}
    changed = tmp_path / "default_profiles.json"
    changed.write_text(json.dumps(shipped), encoding="utf-8")
    created = store.ensure_default_profiles(session=session, path=changed)
    session.commit()
    assert [store.format_ref(r) for r in created] == [f"{HE}:2"]  # bri's latest version is the officer's
    row = store.published_version("horizon-europe", session=session)
    assert (row.name, row.version, row.author) == (HE, 2, "system") and row.weights["similar_projects"] == 0.77
    assert store.ensure_default_profiles(session=session, path=changed) == []  # twice: nothing new
