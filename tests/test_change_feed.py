"""The change feed: a device's create, move and delete through the real server appear in
`praxis-caldav changes` with their fields in the import format; imports are not echoed; fed
back with `import` (server_id) they link without a second appointment on any device."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from providers.practice import api, change_feed, store
from providers.practice.importer import import_data
from providers.practice.models import ApiToken, Appointment, Change, DeletedAppointment, Practitioner
from tests.test_cli import assert_one_line_error, cli
from tests.two_way import ICAL, PASSWORD, event, settings_of

USER = "feed user"
CAL = "/feed_user/calendar/"


def _practice(appointments: list[dict]) -> dict:
    return {
        "practice": {"id": "feed-practice", "name": "Feed-Praxis"},
        "practitioners": [{"id": "feed-p1", "username": USER, "password": PASSWORD}],
        "appointments": appointments,
    }


IMPORTED = {
    "id": "f-a1",
    "practitioner": "feed-p1",
    "subject": "Kontrolle",
    "start": "2031-07-01T09:00:00",
    "end": "2031-07-01T09:30:00",
}


def feed(db_url: str, *args: str) -> list[dict]:
    result = cli("--database", db_url, "changes", "--practice", "feed-practice", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def put(live, name: str, body: str) -> int:
    return live.request("PUT", CAL + name, body, user=USER, password=PASSWORD, headers=ICAL).status_code


@pytest.fixture(scope="module")
def device_changes(live):
    import_data(_practice([IMPORTED]))
    assert feed(live.db_url) == []  # the practice's own import is not echoed back
    imported = Appointment.get(Appointment.external_id == "f-a1").resource_name
    assert put(live, "dev1.ics", event("dev1", start="20310702T100000", end="20310702T110000")) == 201
    assert put(live, "dev1.ics", event("dev1", start="20310703T120000", end="20310703T130000")) == 204
    deleted = live.request("DELETE", CAL + imported, user=USER, password=PASSWORD)
    assert deleted.status_code == 204
    return feed(live.db_url)


def test_device_changes_in_order_with_their_fields(device_changes):
    created, cancelled = device_changes
    assert created["kind"] == "created" and created["practitioner"] == "feed-p1"
    assert created["id"] is None and isinstance(created["server_id"], int)
    record = created["appointment"]
    assert (record["start"], record["end"]) == ("2031-07-03T12:00:00", "2031-07-03T13:00:00")  # moved
    assert (record["subject"], record["tzid"], record["status"]) == ("Termin", "Europe/Vienna", "confirmed")
    assert cancelled["kind"] == "cancelled" and cancelled["id"] == "f-a1"
    assert cancelled["appointment"]["status"] == "cancelled"
    assert created["cursor"] < cancelled["cursor"]
    assert created["time"].endswith("Z")


def test_reading_from_a_cursor(live, device_changes):
    first = device_changes[0]["cursor"]
    assert [e["kind"] for e in feed(live.db_url, "--since", str(first))] == ["cancelled"]
    assert feed(live.db_url, "--since", str(device_changes[-1]["cursor"])) == []
    assert [e["kind"] for e in feed(live.db_url, "--limit", "1")] == ["created"]


def test_feeding_back_links_without_a_duplicate(live, device_changes):
    created, cancelled = device_changes
    back = [
        {**cancelled["appointment"], "id": "f-a1"},
        {**created["appointment"], "id": "f-dev1", "subject": "Termin (bestätigt)"},
    ]
    owner = Practitioner.get(Practitioner.username == USER).id
    served_before = len(store.list_members(owner))
    summary = import_data(_practice(back))
    assert summary.by_type["appointments"].created == 0
    assert summary.by_type["appointments"].updated == 1  # the subject the practice changed
    assert Appointment.select().where(Appointment.practitioner == owner).count() == 2
    assert len(store.list_members(owner)) == served_before == 1
    assert Appointment.get_by_id(created["server_id"]).external_id == "f-dev1"
    assert feed(live.db_url, "--since", str(cancelled["cursor"])) == []  # the import is not echoed
    again = import_data(_practice(back[1:]))  # idempotent: the server id names the same row
    assert again.by_type["appointments"].unchanged == 1


def test_unknown_server_id_is_refused(live, device_changes):
    bad = {**IMPORTED, "id": "f-x", "server_id": 10**9}
    with pytest.raises(Exception, match=r"appointments\[0\]\.server_id"):
        import_data(_practice([bad]))


def test_expired_cursor_is_one_line(live, device_changes):
    cursor = str(device_changes[0]["cursor"])
    result = cli("--database", live.db_url, "changes", "--since", cursor, "--retention-days", "0")
    assert_one_line_error(result, "cursor", "older")


def test_http_feed_with_an_api_token(live, device_changes):
    made = cli("--database", live.db_url, "api-token", "add", "--practice", "feed-practice")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert ApiToken.select().where(ApiToken.token_hash.contains(token)).count() == 0  # stored hashed

    def get(query: str = "", auth: str | None = f"Bearer {token}", **kwargs):
        headers = {"Authorization": auth} if auth else {}
        return requests.get(live.url("/api/v1/changes" + query), headers=headers, timeout=10, **kwargs)

    answer = get()
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["entries"] == feed(live.db_url) and body["cursor"] == device_changes[-1]["cursor"]
    assert get(f"?since={body['cursor']}").json() == {"entries": [], "cursor": body["cursor"]}
    assert [e["kind"] for e in get("?since=0&limit=1").json()["entries"]] == ["created"]
    assert get(auth=None).status_code == 401
    assert get(auth="Bearer pcf_wrong").status_code == 401
    practitioner_login = requests.get(live.url("/api/v1/changes"), auth=(USER, PASSWORD), timeout=10)
    assert practitioner_login.status_code == 401  # a device login is not an API token
    assert get("?since=soon").status_code == 400
    assert requests.post(live.url("/api/v1/changes"), timeout=10).status_code == 405
    other = api.get_or_create_practice("Andere Praxis", "feed-other")
    assert get(auth=f"Bearer {api.create_api_token(other)}").json()["entries"] == []  # scoped
    first = device_changes[0]["cursor"]
    kept = Change.get_by_id(first).changed_at
    Change.update(changed_at=kept - dt.timedelta(days=31)).where(Change.id == first).execute()
    try:
        assert get(f"?since={first}").status_code == 410
    finally:
        Change.update(changed_at=kept).where(Change.id == first).execute()


def test_unknown_practice_is_one_line(live):
    for args in (("changes", "--practice", "nope"), ("api-token", "add", "--practice", "nope")):
        assert_one_line_error(cli("--database", live.db_url, *args), "--practice", "nope")


def test_an_alarm_only_edit_is_not_in_the_feed(live, device_changes):
    """The issue: alarm changes are the device's own; a move still is the practice's.
    Last in this module: it moves the device's appointment."""
    last = str(device_changes[-1]["cursor"])
    moved = {"start": "20310703T120000", "end": "20310703T130000"}
    alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM"
    owner = Practitioner.get(Practitioner.username == USER).id
    before = store.current_change(owner)
    subject = Appointment.get(Appointment.external_id == "f-dev1").subject  # as fed back above
    assert put(live, "dev1.ics", event("dev1", summary=subject, extra=alarm, **moved)) == 204
    assert store.current_change(owner) > before  # devices see the new alarm
    assert feed(live.db_url, "--since", last) == []
    later = {"start": "20310704T120000", "end": "20310704T130000"}
    assert put(live, "dev1.ics", event("dev1", summary=subject, extra=alarm, **later)) == 204
    (entry,) = feed(live.db_url, "--since", last)
    assert entry["kind"] == "changed" and entry["appointment"]["start"] == "2031-07-04T12:00:00"


def test_a_deletion_names_the_appointment(live, device_changes):
    """sync.device_delete: delete removes the row; the feed entry still says which appointment
    it was (external id, server id, practitioner), from what the DELETE recorded with its
    change, so the practice software deletes it too. After the alarm test: it reads from the
    newest cursor."""
    start = feed(live.db_url)[-1]["cursor"]
    import_data(
        _practice(
            [{**IMPORTED, "id": "f-del1", "start": "2031-07-08T09:00:00", "end": "2031-07-08T09:30:00"}]
        )
    )
    imported = Appointment.get(Appointment.external_id == "f-del1")
    assert put(live, "dev-del.ics", event("dev-del", start="20310709T100000", end="20310709T110000")) == 201
    made = Appointment.get(
        (Appointment.practitioner == imported.practitioner_id) & (Appointment.uid == "dev-del")
    )
    settings = settings_of(live)
    settings.delete_mode = "delete"
    try:
        stale = {"If-Match": '"stale"'}
        refused = live.request(
            "DELETE", CAL + imported.resource_name, user=USER, password=PASSWORD, headers=stale
        )
        assert refused.status_code == 412
        assert DeletedAppointment.select().count() == 0  # recorded only with the deletion itself
        for name in (imported.resource_name, "dev-del.ics"):
            assert live.request("DELETE", CAL + name, user=USER, password=PASSWORD).status_code == 204
        # A device creates a new appointment under the URL of the one it deleted.
        assert (
            put(live, "dev-del.ics", event("dev-new", start="20310710T100000", end="20310710T110000")) == 201
        )
    finally:
        settings.delete_mode = "cancel"
    entries = feed(live.db_url, "--since", str(start))
    assert [e["kind"] for e in entries] == ["deleted", "deleted", "created"]
    first, second, again = entries
    assert (first["id"], first["server_id"], first["practitioner"]) == ("f-del1", imported.id, "feed-p1")
    assert (second["id"], second["server_id"], second["practitioner"]) == (None, made.id, "feed-p1")
    assert "appointment" not in first and again["server_id"] != made.id
    assert first["cursor"] < second["cursor"] < again["cursor"]
    token = api.create_api_token(change_feed.practice_by_external_id("feed-practice"))
    over_http = requests.get(
        live.url(f"/api/v1/changes?since={start}"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert over_http.json()["entries"] == entries
