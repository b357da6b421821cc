"""Resolve a named organisation (a partner in a partnership, a curated record) to one catalogue institution.

Used by the catalogue build (kz_public_web facts) and by the office imports (partnerships files), so a
partner name resolves the same way whichever way it arrives. The evidence, strongest first:

1. **ROR id**, when the record gives one and a catalogue row carries it;
2. **website**: the host of the given address (without ``www.``), then its parent domains down to the
   registrable one (``cas.cn``, never a public suffix such as ``edu.cn`` or ``gov.kz``, by the Public Suffix
   List), against the catalogue rows' domains — within the given country, since a branch campus may share its
   parent's site; a new institution's own record asks for its exact host only (``parent_domains=False``);
3. **name**: the exact normalised name (``names.match_key``: folded, noise words dropped, tokens sorted) of
   the name or an alternative in brackets, against every row's name and aliases — within the given country.

It never guesses: no row, or two rows at the first level that finds any, leave ``institution_id`` None and
``how`` says which ("unresolved" or "ambiguous", with the candidates). Acronyms ("ENU", "KATU") are not
matched at all: one acronym names several institutions (two "ENU"s in Kazakhstan alone).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from publicsuffixlist import PublicSuffixList
from sqlalchemy import select
from sqlmodel import Session

from seed_data.names import match_key, web_host
from seed_data.tables import Institution

# Keys shorter than this ("university", "institute" alone are longer, but "uni"…) say too little to match on.
MIN_NAME_KEY_LENGTH = 6
_ACRONYM = re.compile(r"^[^\s]{1,10}$")
_BRACKETS = re.compile(r"\(([^()]*)\)")
# Brackets that annotate a name rather than give another one: "(historical)", "(former name)", "(1957, until 2016)".
_ANNOTATION_WORDS = frozenset("historical historic former formerly old previous previously name names until since "
                              "from to renamed current official abbreviation short".split())


@dataclass(frozen=True)
class PartnerMatch:
    """What a name resolved to: one institution id, or None with the reason in ``how``."""

    institution_id: str | None
    how: str  # "ror", "website", "name", "unresolved", "ambiguous"
    candidates: tuple[str, ...] = ()  # the ids found, when ambiguous


def is_acronym(name: str) -> bool:
    """A single short token with two or more capitals ("ENU", "KazNU", "AlmaU"): an abbreviation, too
    ambiguous to match a row on."""
    name = name.strip()
    return bool(_ACRONYM.match(name)) and sum(c.isupper() for c in name) >= 2


def name_variants(name: str) -> list[str]:
    """The spellings a name stands for: the name itself, the name without its brackets, and each bracket's
    content ("CEA (Commissariat à l'énergie atomique)" -> both), acronyms left out."""
    name = " ".join(name.split())
    variants = [name]
    outside = " ".join(_BRACKETS.sub(" ", name).split())
    if outside and outside != name:
        variants.append(outside)
    variants.extend(inner.strip() for inner in _BRACKETS.findall(name) if _is_name(inner))
    out: list[str] = []
    for variant in variants:
        if variant not in out and not is_acronym(variant):
            out.append(variant)
    return out


def _is_name(text: str) -> bool:
    """Whether bracketed ``text`` is another name: a capital and two words besides annotations and years
    (one word in brackets is a place, "(Beijing)", "(Kazakhstan)", or an acronym)."""
    words = [w for w in re.findall(r"[^\W_]+", text.casefold()) if w not in _ANNOTATION_WORDS and not w.isdigit()]
    return any(c.isupper() for c in text) and len(words) >= 2


def _ror(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    return value.strip().rstrip("/").rsplit("/", 1)[-1].lower()


# The ICANN section of the Public Suffix List (its private section lists some universities' own domains).
_SUFFIXES = PublicSuffixList(only_icann=True)


def is_public_suffix(host: str) -> bool:
    """Whether ``host`` is a public suffix (``edu.cn``, ``gov.kz``, ``ac.uk``): a domain no institution owns."""
    return bool(_SUFFIXES.is_public(host))


class PartnerResolver:
    """An index of catalogue institutions by ROR id, web domain and normalised name (per country)."""

    def __init__(self) -> None:
        self._country: dict[str, str] = {}
        self._by_ror: dict[str, set[str]] = defaultdict(set)
        self._by_domain: dict[str, set[str]] = defaultdict(set)
        self._by_name: dict[str, set[str]] = defaultdict(set)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> PartnerResolver:
        """Index institution rows (mappings with id, name, aliases, short_name, country, ror_id, domains)."""
        resolver = cls()
        for row in rows:
            resolver.add(row)
        return resolver

    @classmethod
    def from_session(cls, session: Session) -> PartnerResolver:
        """Index every institution in the database ``session`` reads."""
        keys = ("id", "name", "aliases", "short_name", "country", "ror_id", "domains", "kind")
        table = Institution.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
        statement = select(*(table.c[k] for k in keys)).order_by(table.c.id)
        return cls.from_rows(dict(zip(keys, values, strict=True)) for values in session.execute(statement).all())

    def add(self, row: Mapping[str, Any]) -> None:
        """Index one more institution row (the build adds the institutions it creates)."""
        institution_id = str(row["id"])
        self._country[institution_id] = str(row.get("country") or "")
        ror = _ror(row.get("ror_id"))
        if ror:
            self._by_ror[ror].add(institution_id)
        for domain in row.get("domains") or ():
            host = web_host(domain)
            if host and not is_public_suffix(host):  # a source that lists "edu.cn" names no site
                self._by_domain[host].add(institution_id)
        for name in [row.get("name") or "", *(row.get("aliases") or ())]:
            for variant in name_variants(str(name)):
                key = match_key(variant)
                if len(key) >= MIN_NAME_KEY_LENGTH:
                    self._by_name[key].add(institution_id)

    def _in_country(self, ids: Iterable[str], country: str | None) -> set[str]:
        return {i for i in ids if country is None or self._country.get(i) == country}

    def _by_website(self, website: str, country: str | None, *, parent_domains: bool) -> set[str]:
        host = web_host(website)
        if not host:
            return set()
        labels = host.split(".")
        for start in range(len(labels) - 1 if parent_domains else 1):  # the host, then its parent domains
            domain = ".".join(labels[start:])
            if is_public_suffix(domain):
                break
            found = self._in_country(self._by_domain.get(domain, ()), country)
            if found:
                return found
        return set()

    def _by_names(self, names: Sequence[str], country: str | None) -> set[str]:
        found: set[str] = set()
        for name in names:
            for variant in name_variants(name):
                found |= self._in_country(self._by_name.get(match_key(variant), ()), country)
        return found

    def resolve(self, name: str, country: str | None, *, ror_id: str | None = None,
                website: str | None = None, other_names: Sequence[str] = (),
                parent_domains: bool = True) -> PartnerMatch:
        """The catalogue institution ``name`` (in ``country``, if given) is, by ROR id, website, then name.

        ``other_names`` are further spellings of the same organisation; every one that matches counts, so
        spellings that match two different rows make the result ambiguous. ``parent_domains=False``: the
        website's exact host only (an institute at ``nieer.cas.cn`` is not the academy at ``cas.cn``).
        """
        ror = _ror(ror_id)
        if ror and len(found := self._by_ror.get(ror, set())) == 1:
            return PartnerMatch(next(iter(found)), "ror")
        names = [name, *other_names]
        if website:
            found = self._by_website(website, country, parent_domains=parent_domains)
            if len(found) == 1:
                return PartnerMatch(next(iter(found)), "website")
            if len(found) > 1:
                # several rows share the site (Hipo lists some faculties apart): a name may still single one out
                narrowed = self._by_names(names, country) & found
                if len(narrowed) == 1:
                    return PartnerMatch(next(iter(narrowed)), "name")
                return PartnerMatch(None, "ambiguous", tuple(sorted(found)))
        found = self._by_names(names, country)
        if len(found) == 1:
            return PartnerMatch(next(iter(found)), "name")
        if found:
            return PartnerMatch(None, "ambiguous", tuple(sorted(found)))
        return PartnerMatch(None, "unresolved")
