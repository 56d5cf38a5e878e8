"""Fuzz (issue 22): hypothesis-generated iCalendar and XML bodies for PUT, PROPFIND,
PROPPATCH and every REPORT against the real server, SQLite and PostgreSQL. Never a 5xx,
never slower than 2 s, a refused write changes nothing, server memory grows < 100 MB.
A short budget here (PRAXIS_FUZZ_EXAMPLES, default 60); scripts/fuzz.py runs long ones.
"""

from __future__ import annotations

import datetime as dt
import os
import resource

import pytest
from hypothesis import HealthCheck, given, settings

from providers.practice import api
from tests import fuzz
from tests.two_way import PASSWORD, new_practitioner, snapshot

EXAMPLES = int(os.environ.get("PRAXIS_FUZZ_EXAMPLES", "60"))


@pytest.fixture(scope="module")
def user(live):
    user = new_practitioner("fuzz")
    start = dt.datetime(2026, 3, 2, 9)
    hour = dt.timedelta(hours=1)
    api.create_appointment(
        user, api.AppointmentFields(start, start + hour, rrule="FREQ=DAILY"), uid="fuzz-series"
    )
    api.create_appointment(
        user, api.AppointmentFields(start, start + hour, subject="einmal"), uid="fuzz-single"
    )
    return user


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def test_no_request_breaks_the_server(live, user):
    findings = fuzz.Findings()
    start_rss = _rss_mb()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=fuzz.request_case())
    def check(case):
        fuzz.run_case(live, user, PASSWORD, case, snapshot, findings)

    check()
    assert findings.cases >= EXAMPLES
    assert _rss_mb() - start_rss < 100
