"""What a column holds, decided from its values and its name the way a careful person would.

`python -m data.init` asks this module about each feature column; every answer carries the
reason it prints and writes beside the column in dataset.yaml:
- numbers written with thousands separators, currency signs or a decimal comma ("3,195",
  "$1,200.50", "3,5") are refused with the fix: CsvExampleGen would read them as text and
  the model would learn a vocabulary of prices instead of a quantity;
- dates and free text (long values with spaces, or a different value in most rows) are
  ignored by default: a vocabulary of them learns nothing that carries to new rows;
- integer columns (also written as 1.0, 2.0, as pandas writes them) stay quantities unless
  they have few values AND their name (code, type, zone, month ...) or their values (codes
  of one length, like 101/202/303) say they are categories.
"""
from __future__ import annotations

import re
from typing import Optional

import pandas as pd

from data.csv_checks import DECIMAL_COMMA, DataError, as_number

# Integer columns with at most this many distinct values may be categories (if name or values say so).
MAX_CATEGORY_INTEGERS = 24
# Text with a different value in at least this share of its rows is not a category.
MOSTLY_DISTINCT_SHARE = 0.5
MIN_DISTINCT_TEXT = 20
# Values this long on average, mostly with spaces, are free text.
FREE_TEXT_LENGTH = 30
# Name words that say an integer is a category, not a quantity.
CATEGORY_WORDS = frozenset({
    "code", "codes", "id", "type", "kind", "class", "category", "cat", "group", "status", "zone", "region",
    "zip", "postcode", "postal", "district", "sex", "gender", "state", "country", "segment", "month", "weekday",
    "dow", "hour", "day", "quarter", "brand", "model", "color", "colour",
})
# "3,195", "-1,200.50"; "$1,200", "€ 12.50", "12 €".
_CURRENCY = "$€£¥₹"
THOUSANDS = re.compile(r"\s*[-+]?\d{1,3}(,\d{3})+(\.\d+)?\s*")
CURRENCY = re.compile(rf"\s*[-+]?\s*[{_CURRENCY}]\s*[-+]?[\d,]*\d(\.\d+)?\s*|\s*[-+]?[\d,]*\d(\.\d+)?\s*[{_CURRENCY}]\s*")
DATE = re.compile(
    r"\s*(\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[AP]M|[+-]\d{2}:?\d{2})?)?\s*", re.IGNORECASE)
_WRITTEN = ((THOUSANDS, "thousands separators", "3195"), (CURRENCY, "currency signs", "1200.50"),
            (DECIMAL_COMMA, "a decimal comma", "3.5"))
# Pattern checks look at this many values of a column (a sample: the decision is about the kind of value).
SAMPLE = 2000


def _written_number(text: str) -> bool:
    return any(p.fullmatch(text) for p, _, _ in _WRITTEN)


def check_numbers_as_text(source: str, name: str, values) -> None:
    """DataError when every value is a number but some are written the way only people read them."""
    if not _sample(values).map(lambda t: _written_number(t) or as_number(t) is not None).all():
        return  # a quick look first: most text columns hold words, and parsing a million of them costs seconds
    numbers = pd.to_numeric(values, errors="coerce")
    odd = values[values.notna() & numbers.isna()]
    if odd.empty or not odd.drop_duplicates().map(_written_number).all():
        return
    for pattern, what, plain in _WRITTEN:
        first = next((f"{t!r} on line {i + 2}" for i, t in odd.items() if pattern.fullmatch(t)), None)
        if first:
            raise DataError(f"{source}: column '{name}' holds numbers written with {what} ({first}), which the "
                            f"pipeline would read as text: rewrite them as plain numbers (like {plain}), or pass "
                            f"--ignore '{name}'")


def _sample(values):
    present = values.dropna()
    return present.sample(n=SAMPLE, random_state=0) if len(present) > SAMPLE else present


_KEEP = "remove it from ignore_columns to use each value as a category"


def is_date(values) -> bool:
    return bool(_sample(values).map(lambda t: bool(DATE.fullmatch(t))).all())


def date_reason(values) -> str:
    return (f"dates (like {values.dropna().iloc[0]!r}): to use them, add calendar columns (month, weekday) to "
            f"the CSV, or {_KEEP}")


def free_text_reason(values) -> Optional[str]:
    """Why a text column is free text (long values, mostly with spaces), or None."""
    sample = _sample(values)
    length = sample.str.len().mean()
    if length >= FREE_TEXT_LENGTH and sample.str.contains(" ").mean() > 0.5:
        return f"free text (values {length:.0f} characters long on average): {_KEEP}"
    return None


def mostly_distinct_reason(values, present: int) -> Optional[str]:
    """Why a text column with a different value in most rows is no category, or None."""
    distinct = values.nunique()
    if distinct >= max(MIN_DISTINCT_TEXT, MOSTLY_DISTINCT_SHARE * present):
        return (f"a different value in most rows ({distinct} distinct values in {present} rows), too few rows "
                f"per value to learn from: {_KEEP}")
    return None


def _name_words(name: str):
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w}


def category_reason(name: str, numbers) -> Optional[str]:
    """Why an integer column is a category (few values, and a name or values that say so), or None."""
    distinct = sorted(int(v) for v in numbers.dropna().unique())
    if not 1 < len(distinct) <= MAX_CATEGORY_INTEGERS:
        return None
    words = sorted(_name_words(name) & CATEGORY_WORDS)
    if words:
        return f"integer with {len(distinct)} distinct values, and its name says category ({words[0]!r})"
    digits = {len(str(abs(v))) for v in distinct}
    contiguous = distinct[-1] - distinct[0] + 1 == len(distinct)
    if len(digits) == 1 and min(digits) >= 3 and not contiguous:
        return f"integer codes: {len(distinct)} distinct values, all {min(digits)} digits long"
    return None


def few_integers(numbers) -> bool:
    """An integer column with few values, which a person might take for a category."""
    return 1 < numbers.nunique() <= MAX_CATEGORY_INTEGERS
