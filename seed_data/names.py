"""Name and web-address normalisation shared by the catalogue build (identity resolution) and search."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# Legal-form and filler words that say nothing about *which* organisation a name means. Dropping them lets
# "NON COMMERCIAL JOINT STOCK COMPANY KAZAKH NATIONAL UNIVERSITY NAMES AFTER AL-FARABI" meet
# "Al-Farabi Kazakh National University". Words that distinguish institutions (university, technical,
# agrarian, medical, ...) are deliberately kept.
_NOISE_WORDS = frozenset(
    """
    the of and for in at on a an
    de di da do du des del della delle degli dei la le les lo el il los las y e i et und der die das fur
    zu van von voor het en och og ve
    named names name after imeni im
    gmbh ggmbh mbh ag kg ug ev sa sas sasu sarl srl spa scarl sl slu sll ltd limited llc llp lp inc plc
    bv nv vzw asbl aisbl cv oy oyj ab as asa aps ohg sp zoo sro spol doo dd ad ead ood jsc ojsc cjsc pjsc
    ao pao oao zao nao rgp rse too tov pp kft zrt nyrt bt ehf hf ehf ik ltda lda sc scs ssc sgps
    non noncommercial nonprofit profit commercial joint stock company partnership public
    nekommercheskoe akcionernoe obshchestvo
    """.split()
)
# Short words kept lower-case when an ALL-CAPS registry name is title-cased for display.
_SMALL_WORDS = frozenset(
    "of and for the in at on de di da do du des del della delle degli dei la le les el il y e i et und der "
    "die das fur zu van von voor het en".split()
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents ("Università" -> "universita"); scripts other than Latin stay."""
    if text.isascii():  # most names: nothing to strip, and this runs for every name at every start
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_tokens(name: str) -> list[str]:
    """The distinctive tokens of an organisation name: folded, punctuation split, noise words dropped."""
    return [t for t in _TOKEN.findall(fold(name)) if t not in _NOISE_WORDS]


def match_key(name: str) -> str:
    """The key fuzzy name matching compares: distinctive tokens, sorted and joined by spaces."""
    return " ".join(sorted(name_tokens(name)))


def web_host(url: str | None) -> str | None:
    """The host of a web address without ``www.`` and port, lower-cased; ``None`` for an empty value.

    >>> web_host("https://WWW.unicam.it/en/")
    'unicam.it'
    >>> web_host("www.ph-noe.ac.at")
    'ph-noe.ac.at'
    """
    if not url or not url.strip():
        return None
    url = url.strip()
    if "//" not in url:
        url = "//" + url
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host or None


def smart_title(name: str) -> str:
    """Title-case an ALL-CAPS registry name for display, leaving mixed-case names alone.

    >>> smart_title("UNIVERSITA DEGLI STUDI DI CAMERINO")
    'Universita degli Studi di Camerino'
    """
    if name != name.upper():
        return name
    words = name.lower().split(" ")
    out = [w if (i and w in _SMALL_WORDS) else w[:1].upper() + w[1:] for i, w in enumerate(words)]
    return " ".join(out)
