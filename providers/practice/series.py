"""UTC bounds of an appointment or series, for SQL time-range push-down.

The bounds are conservative (never narrower than the true instance set): the SQL
prefilter may let through a series that has no instance in the range, which the
report then post-filters, but must never drop one that has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from dateutil import rrule as du_rrule

from providers.practice.models import FAR_FUTURE

# Floating and all-day times mean "wherever the device is": widen by the largest UTC offset.
FLOATING_SLACK = dt.timedelta(hours=14)


def to_utc_naive(local: dt.datetime, tzid: str | None) -> dt.datetime:
    """UTC (naive, as stored) of a wall-clock time in `tzid`; floating times are left as they are."""
    if tzid is None:
        return local
    aware = local.replace(tzinfo=ZoneInfo(tzid))
    return aware.astimezone(dt.UTC).replace(tzinfo=None)


def _last_start(rrule_text: str, dtstart: dt.datetime, tzid: str | None) -> dt.datetime | None:
    """Last instance start of a finite rule, or None when the rule is open-ended."""
    upper = rrule_text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        return None
    rule = du_rrule.rrulestr(_until_as_local(rrule_text, tzid), dtstart=dtstart, ignoretz=True)
    last = None
    for last in rule:  # noqa: B007 - we need the final element of a finite rule
        pass
    return last


def _until_as_local(rrule_text: str, tzid: str | None) -> str:
    """dateutil refuses a UTC UNTIL with a naive DTSTART: express UNTIL in the series' wall clock."""
    parts = []
    for part in rrule_text.split(";"):
        if part.upper().startswith("UNTIL=") and part.upper().endswith("Z"):
            until = dt.datetime.strptime(part[6:-1], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
            if tzid:
                until = until.astimezone(ZoneInfo(tzid))
            else:  # floating: the widest wall clock the instant can be anywhere
                until = until + FLOATING_SLACK
            part = "UNTIL=" + until.strftime("%Y%m%dT%H%M%S")
        parts.append(part)
    return ";".join(parts)


def series_bounds(
    start_local: dt.datetime,
    end_local: dt.datetime,
    tzid: str | None,
    all_day: bool,
    rrule_text: str | None,
    rdates: Iterable[dt.datetime],
    overrides: Iterable[tuple[dt.datetime, dt.datetime, str | None]],
) -> tuple[dt.datetime, dt.datetime]:
    """(first_start_utc, last_end_utc) over every instance; FAR_FUTURE for open-ended series."""
    duration = end_local - start_local
    first_local = start_local
    last_start: dt.datetime | None = start_local
    if rrule_text:
        last_start = _last_start(rrule_text, start_local, None if all_day else tzid)
    if last_start is not None:
        for rdate in rdates:
            first_local = min(first_local, rdate)
            last_start = max(last_start, rdate)
    zone = None if all_day else tzid
    slack = FLOATING_SLACK if zone is None else dt.timedelta(0)
    first_utc = to_utc_naive(first_local, zone) - slack
    if last_start is None:
        last_utc = FAR_FUTURE
    else:
        last_utc = to_utc_naive(last_start + duration, zone) + slack
    for o_start, o_end, o_tzid in overrides:
        o_zone = None if all_day else o_tzid
        o_slack = FLOATING_SLACK if o_zone is None else dt.timedelta(0)
        first_utc = min(first_utc, to_utc_naive(o_start, o_zone) - o_slack)
        if last_utc != FAR_FUTURE:
            last_utc = max(last_utc, to_utc_naive(o_end, o_zone) + o_slack)
    # A zero-length appointment still occupies its instant: keep last_end > first_start.
    if last_utc <= first_utc:
        last_utc = first_utc + dt.timedelta(seconds=1)
    return first_utc, last_utc
