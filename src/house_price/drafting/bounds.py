"""Readable bounds and numbers: the data's range widened by MARGIN, not across 0, rounded
outwards; dates as the whole years covering the widened range."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from house_price.drafting.rules import MARGIN


def all_whole(numbers: pd.Series) -> bool:
    return bool((numbers == np.round(numbers)).all())


def readable_bounds(low: float, high: float, whole: bool) -> tuple[float, float]:
    """min/max widened by MARGIN of the range, not across 0, rounded outwards to the power of
    ten below the margin. Whole numbers: the margin rounded up to a whole number, so at least 1
    (1-6 bedrooms: 0-7; rounded down, a small count's margin was 0 and the API refused the
    next house up), and a step of at least 1; a 0/1 flag stays 0-1 (a 2 is no flag), also one
    that is always 0 or always 1. One value c: c widened by MARGIN of c; 0 alone as if it had
    no negative values (0-1)."""
    if whole and low >= 0 and high <= 1:
        return 0, 1
    span = high - low
    margin = MARGIN * span or MARGIN * max(abs(low), abs(high)) or 1.0
    if whole:  # rounded first: 0.1 * 30 is 3.0000000000000004, a margin of 3
        margin = math.ceil(round(margin, 9))
    exponent = math.floor(math.log10(margin)) if margin else 0
    if whole:
        exponent = max(exponent, 0)
    step = 10.0**exponent
    digits = max(0, -exponent)
    lo = round(math.floor((low - margin) / step) * step, digits)
    hi = round(math.ceil((high + margin) / step) * step, digits)
    if low >= 0:
        lo = max(lo, 0.0)
    if high <= 0 and low < 0:
        hi = min(hi, 0.0)
    return tidy(lo), tidy(hi)


def readable_date_bounds(first: date, last: date) -> tuple[str, str]:
    """(Jan 1st, Dec 31st) of the years of first/last widened by MARGIN of their distance."""
    margin_days = MARGIN * (last - first).days
    low_year = (pd.Timestamp(first) - pd.Timedelta(days=margin_days)).year
    high_year = (pd.Timestamp(last) + pd.Timedelta(days=margin_days)).year
    return date(low_year, 1, 1).isoformat(), date(high_year, 12, 31).isoformat()


def tidy(value: float) -> float:
    """1100.0 -> 1100 (an int reads better and the schema takes it); 0.0 for -0.0."""
    value = value + 0.0
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else value


def readable_number(value: float, whole: bool) -> float:
    return round(value) if whole else tidy(float(f"{value:.6g}"))
