"""Given names, and whether each is a man's or a woman's, from the ``gender-guesser`` package.

Its dictionary (about 45,000 given names from some 50 countries, Jörg Michael's ``nam_dict``)
tells a name the model mislabelled as an organisation ("Stefano Conti") from a company's
("Kessler Motoren"), and "he" from "she" when quotes look for who said them. It is read once per
process and kept as a plain dict (about a third of the detector's memory).
"""

from __future__ import annotations

from functools import cache
from typing import Literal

Gender = Literal["male", "female", "either"]
_GENDERS: dict[str, Gender] = {
    "male": "male",
    "mostly_male": "male",
    "female": "female",
    "mostly_female": "female",
    "andy": "either",
}

_CALENDAR = frozenset({
    "january", "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
    "sunday",
})  # fmt: skip


@cache
def given_names() -> dict[str, Gender]:
    """Case-folded given name → its gender (built on first call, then shared)."""
    from gender_guesser.detector import Detector
    from spacy.lang.en.stop_words import STOP_WORDS

    detector = Detector(case_sensitive=False)
    names: dict[str, Gender] = {}
    for name in detector.names:
        if name in STOP_WORDS or name in _CALENDAR:
            continue  # "The", "Will", "May": in the list, but in news text mostly the word
        # the detector keeps each name's gender per country; get_gender picks the most frequent
        gender = detector.get_gender(name)
        if gender in _GENDERS:
            names[name] = _GENDERS[gender]
    return names


def gender_of(first_word: str) -> Gender | None:
    """The gender of a given name ("Hana" → female), ``None`` when it is no given name we know."""
    return given_names().get(first_word.casefold())
