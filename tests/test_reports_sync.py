"""sync-collection (RFC 6578) against the live server: tokens, removals, paging, clients."""

from __future__ import annotations

import dataclasses
import datetime as dt

import caldav
import pytest
from lxml import etree

from providers.practice import api
from providers.practice.api import AppointmentFields
from providers.practice.models import Appointment
from tests.test_reports_support import (
    NS,
    PASSWORD,
    new_calendar,
    parse_multistatus,
    sync_body,
)

D = dt.datetime


@pytest.fixture(scope="module")
def cal(live):
    c = new_calendar(live, "sync tests")
    for day in range(1, 6):
        c.add(D(2026, 3, day, 9), D(2026, 3, day, 10), f"a{day}")
    return c


def names(responses, with_status=None):
    return [r.href.rsplit("/", 1)[1] for r in responses if r.status == with_status]


def sync(cal, token="", depth="1", **kw):
    return parse_multistatus(cal.report(sync_body(token, **kw), depth=depth))


def row(cal, name: str) -> Appointment:
    return Appointment.get(
        (Appointment.practitioner == cal.practitioner.id) & (Appointment.resource_name == name)
    )


def test_initial_sync_lists_every_member_and_ends_with_the_ctag_token(cal):
    resp = cal.report(sync_body(""))
    responses, token = parse_multistatus(resp)
    assert etree.fromstring(resp.content)[-1].tag == "{DAV:}sync-token"
    assert sorted(names(responses)) == [f"a{d}.ics" for d in range(1, 6)]
    assert all(r.props["{DAV:}getetag"].text.startswith('"') for r in responses)
    assert token == cal.ctag()


def test_practice_side_changes_and_deletes_appear_once_and_move_the_ctag(cal):
    _, token = sync(cal)
    assert sync(cal, token)[0] == []  # nothing changed: nothing listed
    fields = AppointmentFields(D(2026, 3, 1, 11), D(2026, 3, 1, 12), subject="verlegt")
    a1 = api.update_appointment(row(cal, "a1.ics"), fields)
    api.update_appointment(a1, dataclasses.replace(fields, subject="nochmal"))
    api.delete_appointment(row(cal, "a2.ics"), cancel=True)
    api.delete_appointment(row(cal, "a3.ics"), cancel=False)
    new = cal.add(D(2026, 3, 9, 9), D(2026, 3, 9, 10), "new")
    assert cal.ctag() != token
    responses, token2 = sync(cal, token)
    assert token2 == cal.ctag()
    hrefs = [r.href for r in responses]
    assert len(hrefs) == len(set(hrefs)) == 4
    assert sorted(names(responses)) == ["a1.ics", "new.ics"]
    assert sorted(names(responses, "HTTP/1.1 404 Not Found")) == ["a2.ics", "a3.ics"]
    for r in responses:
        if r.status:
            assert not r.props
    get = cal.request("GET", path=cal.href(new))
    assert {r.props["{DAV:}getetag"].text for r in responses if r.href.endswith("new.ics")} == {
        get.headers["ETag"]
    }
    assert sync(cal, token2)[0] == []


def test_limit_pages_with_507_and_a_token_that_continues(cal):
    for i in range(5):
        cal.add(D(2026, 4, 1 + i, 9), D(2026, 4, 1 + i, 10), f"page{i}")
    _, full_token = sync(cal)
    expected = sorted(names(sync(cal)[0]))
    seen, token, pages = [], "", 0
    while True:
        responses, token = sync(cal, token, limit=3)
        pages += 1
        members = [r for r in responses if not r.href.endswith("/calendar/")]
        truncated = [r for r in responses if r.href.endswith("/calendar/")]
        assert len(members) <= 3
        seen += [r.href.rsplit("/", 1)[1] for r in members if r.status is None]
        if not truncated:
            break
        assert truncated[0].status == "HTTP/1.1 507 Insufficient Storage"
        assert pages < 10
    assert pages > 1 and sorted(set(seen)) == expected
    assert token == full_token


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "urn:praxis-caldav:sync:1:1",
        "urn:praxis-caldav:sync:x:1",
        "http://example.com/sync/1",
        "urn:praxis-caldav:sync:{owner}:99999999",
    ],
)
def test_invalid_foreign_or_future_tokens_are_403_valid_sync_token(cal, token):
    token = token.format(owner=cal.practitioner.id)
    resp = cal.report(sync_body(token))
    assert resp.status_code == 403
    assert etree.fromstring(resp.content).find("D:valid-sync-token", NS) is not None


def test_depth_zero_absent_and_thunderbirds_depth_one_work_infinity_does_not(cal):
    thunderbird = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<sync-collection xmlns="DAV:">'
        "<sync-token/><sync-level>1</sync-level><prop><getcontenttype/><getetag/>"
        "</prop></sync-collection>"
    )
    results = [cal.report(thunderbird, depth=d) for d in ("1", "0", None)]
    assert all(r.status_code == 207 for r in results), [r.text for r in results]
    assert len({len(parse_multistatus(r)[0]) for r in results}) == 1
    assert cal.report(thunderbird, depth="infinity").status_code == 400


def test_bad_limit_is_400(cal):
    assert (
        cal.report(
            sync_body("", props="<D:getetag/>").replace(
                "<D:prop>", "<D:limit><D:nresults>0</D:nresults></D:limit><D:prop>"
            )
        ).status_code
        == 400
    )


def test_calendar_data_in_a_sync_report(cal):
    responses, _ = sync(cal, props="<D:getetag/><C:calendar-data/>")
    for r in responses:
        data = r.props["{urn:ietf:params:xml:ns:caldav}calendar-data"].text
        assert data == cal.request("GET", path=r.href).text


def test_caldav_library_objects_by_sync_token(cal):
    client = caldav.DAVClient(url=cal.live.url(cal.path), username=cal.user, password=PASSWORD)
    calendar = client.calendar(url=cal.live.url(cal.path))
    initial = calendar.objects_by_sync_token(load_objects=True, disable_fallback=True)
    assert initial.sync_token == cal.ctag()
    before = {str(o.url).rsplit("/", 1)[1] for o in initial}
    assert before == set(names(sync(cal)[0]))
    api.delete_appointment(row(cal, "a4.ics"), cancel=True)
    cal.add(D(2026, 5, 1, 9), D(2026, 5, 1, 10), "lib-new")
    changed = calendar.objects_by_sync_token(
        sync_token=initial.sync_token, load_objects=True, disable_fallback=True
    )
    got = {str(o.url).rsplit("/", 1)[1] for o in changed}
    assert got == {"a4.ics", "lib-new.ics"}
    assert {str(u).rsplit("/", 1)[1] for u in changed.deleted_urls} == {"a4.ics"}
    updated, deleted = initial.sync()
    assert {str(o.url).rsplit("/", 1)[1] for o in updated} == {"lib-new.ics"}
    assert {str(o.url).rsplit("/", 1)[1] for o in deleted} == {"a4.ics"}
    assert initial.sync_token == cal.ctag()
