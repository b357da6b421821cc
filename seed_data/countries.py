"""Country codes: the ISO 3166-1 alpha-2 list, and the mapping of CORDIS's own codes onto it."""

from __future__ import annotations

# The 249 officially assigned ISO 3166-1 alpha-2 codes (ISO 3166-1:2020 as maintained by the ISO 3166
# Maintenance Agency; checked against Debian's iso-codes 4.15 `iso_3166-1.json` and tzdata's `iso3166.tab`),
# plus XK: Kosovo has no ISO code, but the European Commission, ROR and the Erasmus charter list use the
# user-assigned XK for it.
ISO_3166_ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """.split()
)
COUNTRY_CODES = ISO_3166_ALPHA2 | {"XK"}

# EU institutions (CORDIS, the Erasmus charter list) write Greece and the United Kingdom with their
# EU protocol codes; ISO 3166-1, ROR and Hipo use GR and GB.
_EU_TO_ISO = {"EL": "GR", "UK": "GB"}


def normalise_country(code: str) -> str:
    """The ISO 3166-1 alpha-2 form of ``code``: stripped, upper-cased, CORDIS ``EL``/``UK`` -> ``GR``/``GB``.

    The result is not checked against the list; use ``is_country`` for that.

    >>> normalise_country(" el ")
    'GR'
    >>> normalise_country("KZ")
    'KZ'
    """
    upper = code.strip().upper()
    return _EU_TO_ISO.get(upper, upper)


def is_country(code: str) -> bool:
    """Whether ``code`` (already normalised) is an ISO 3166-1 alpha-2 code or XK (Kosovo)."""
    return code in COUNTRY_CODES
