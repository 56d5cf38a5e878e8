"""VTIMEZONE components: what a client reads from them must match zoneinfo (tests/vtimezone_oracle.py).

scripts/compare_vtimezone.py runs the same oracle over every IANA zone (too slow for the suite);
these zones cover each shape: yearly rules north and south, half-hour offsets and onsets,
"weekday on or after" rules, zones whose rules change inside the window, and no DST at all.
"""

from __future__ import annotations

import icalendar
import pytest

from davserver.ical.vtimezone import vtimezone
from tests import vtimezone_oracle as oracle

ZONES = [
    "Europe/Vienna",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/St_Johns",  # -03:30, switches at 02:00 local (05:30 UTC)
    "Australia/Lord_Howe",  # 30-minute DST
    "Australia/Adelaide",  # +09:30
    "Pacific/Chatham",  # +12:45
    "Asia/Jerusalem",  # Friday on or after March 23
    "Africa/Casablanca",  # Ramadan suspensions, no yearly rule
    "Asia/Tehran",  # DST abolished in 2022
    "America/Mexico_City",  # DST abolished in 2022
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
]


@pytest.mark.parametrize("tzid", ZONES)
def test_clients_resolve_the_offsets_zoneinfo_gives(tzid):
    probes, wrong = oracle.mismatches(tzid, vtimezone(tzid).to_ical())
    assert probes > 300
    assert wrong == dict.fromkeys(oracle.CLIENTS, [])


def test_oracle_catches_an_onset_an_hour_late():
    """The check can fail: spring-forward written in the offset after the change (icalendar 7.3)."""
    ical = (
        vtimezone("Europe/Vienna").to_ical().replace(b"DTSTART:19700329T020000", b"DTSTART:19700329T030000")
    )
    _, wrong = oracle.mismatches("Europe/Vienna", ical)
    assert all(len(bad) >= 16 for bad in wrong.values())  # at least one probe per year


def test_regular_zone_is_two_yearly_rules():
    ical = vtimezone("Europe/Vienna").to_ical()
    assert b"RDATE" not in ical and len(ical) < 400
    tz = icalendar.Timezone.from_ical(ical)
    rules = {str(sub.name): sub["RRULE"].to_ical() for sub in tz.subcomponents}
    assert rules == {
        "DAYLIGHT": b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
        "STANDARD": b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
    }


def test_weekday_on_or_after_rule():
    ical = vtimezone("Asia/Jerusalem").to_ical()
    assert b"BYDAY=FR;BYMONTHDAY=23,24,25,26,27,28,29;BYMONTH=3" in ical
    assert b"RDATE" not in ical


def test_zone_whose_rules_change_gets_dates_not_a_rule():
    ical = vtimezone("Asia/Tehran").to_ical()
    assert b"RRULE" not in ical
    assert b"RDATE:20170322T000000" in ical.replace(b"\r\n ", b"")


def test_zone_without_changes_is_one_standard_component():
    tz = vtimezone("Asia/Kolkata")
    [sub] = tz.subcomponents
    assert sub.name == "STANDARD"
    assert sub["TZOFFSETFROM"].to_ical() == sub["TZOFFSETTO"].to_ical() == "+0530"
