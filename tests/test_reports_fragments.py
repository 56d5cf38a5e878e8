"""Cached response fragments (davserver/reports/fragments.py) never cross render policies.

The owner and a pseudonymizing delegate read the same rows; the cached text of a response
is keyed by row, revision, policy and template. Each viewer's warm answer (from the cache)
must equal its cold one, and the delegate must never get the owner's clear text, however
the two interleave. Real server, SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from providers.practice import api
from providers.practice.models import Appointment
from tests.conftest import DEMO_USER
from tests.test_delegation import AS_READER, OWN, READER, team  # noqa: F401 - fixture
from tests.test_reports_support import multiget_body, query_body, time_range, utc, vevent_filter

DATA = "<D:getetag/><C:calendar-data/>"


def _muster(owner_id: int) -> Appointment:
    return next(
        a
        for a in Appointment.select().where(Appointment.practitioner == owner_id)
        if a.patient is not None and a.patient.last_name == "Muster"
    )


@contextlib.contextmanager
def _owner_clear_reader_pseudonymized() -> Iterator[Appointment]:
    """The owner syncs clear names, the delegate pseudonyms; yields the owner's Muster row."""
    owner = api.find_practitioner(DEMO_USER)
    reader = api.find_practitioner(READER)
    api.update_practitioner(owner, pseudonymize=False)
    api.update_practitioner(reader, pseudonymize=True)
    try:
        yield _muster(owner.id)
    finally:
        api.update_practitioner(reader, pseudonymize=False)


def _report(live, path: str, user: str, body: str) -> bytes:
    resp = live.request("REPORT", path, body, user=user, headers={"Depth": "1"})
    assert resp.status_code == 207, resp.text[:300]
    return resp.content


def test_owner_and_pseudonymizing_delegate_get_their_own_cached_answers(team):  # noqa: F811
    live = team
    with _owner_clear_reader_pseudonymized() as appt:
        query = query_body(vevent_filter(time_range(utc(2000, 1, 1), utc(2100, 1, 1))), DATA)
        answers: dict[tuple[str, str], list[bytes]] = {}
        # Interleaved, so each viewer's second answer comes from a cache the other filled.
        for _ in range(2):
            for user, path in ((DEMO_USER, OWN), (READER, AS_READER)):
                multiget = multiget_body([path + appt.resource_name], DATA)
                answers.setdefault((user, "query"), []).append(_report(live, path, user, query))
                answers.setdefault((user, "multiget"), []).append(_report(live, path, user, multiget))
        for (user, kind), (cold, warm) in answers.items():
            assert cold == warm, (user, kind)
            if user == READER:
                assert b"Muster" not in cold and b"MaMu 1042" in cold, kind
            else:
                assert b"Muster" in cold, kind
        assert answers[(DEMO_USER, "query")][0] != answers[(READER, "query")][0]


def test_text_filter_answer_is_not_shared_between_policies(team):  # noqa: F811
    """Which objects a SUMMARY filter matches depends on the viewer's rendering: the cached
    answer of the owner (clear names) must not answer the pseudonymizing delegate."""
    live = team
    with _owner_clear_reader_pseudonymized() as appt:
        text = (
            '<C:prop-filter name="SUMMARY"><C:text-match collation="i;ascii-casemap">'
            "Muster</C:text-match></C:prop-filter>"
        )
        query = query_body(vevent_filter(text), "<D:getetag/>")
        for _ in range(2):
            assert appt.resource_name.encode() in _report(live, OWN, DEMO_USER, query)
            assert appt.resource_name.encode() not in _report(live, AS_READER, READER, query)
