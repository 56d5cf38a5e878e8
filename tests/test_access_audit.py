"""The access audit through the real server, on SQLite and PostgreSQL: one row per device
and hour with requests by kind, shown by `praxis-caldav audit`, on the settings page and in
the admin view (German and English), never a path or patient datum; old rows are pruned."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from providers.practice import access_audit, api
from providers.practice.models import AccessAudit, LoginCounter
from tests.conftest import COLLEAGUE, DEMO_USER, wait_until
from tests.test_cli import cli
from tests.test_device_passwords import add_device

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20261201T080000Z\r
DTSTART:20261201T090000Z\r
DTEND:20261201T100000Z\r
SUMMARY:Audit test\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture(autouse=True)
def flush_every_request(live, monkeypatch):
    LoginCounter.delete().execute()
    AccessAudit.delete().execute()
    monkeypatch.setattr(access_audit, "FLUSH_SECONDS", -1.0)


def test_requests_of_a_device_are_counted_by_kind_in_one_row_per_hour(live):
    device_id, phone = add_device(live.db_url, "Audit-Handy")
    agent = {"User-Agent": "DAVx5/4.4.2-ose"}
    cal = "/anna_maier/calendar/"
    assert live.request("PROPFIND", cal, password=phone, headers={"Depth": "1", **agent}).status_code == 207
    uid = uuid.uuid4().hex
    put = live.request("PUT", f"{cal}{uid}.ics", EVENT.format(uid=uid), password=phone, headers=agent)
    assert put.status_code == 201
    assert live.request("GET", f"{cal}{uid}.ics", password=phone, headers=agent).status_code == 200
    stale = live.request(
        "PUT",
        f"{cal}{uid}.ics",
        EVENT.format(uid=uid),
        password=phone,
        headers={"If-Match": '"alt"', **agent},
    )
    assert stale.status_code == 412
    # Counted once each response is sent: the last one may still be on its way.
    query = AccessAudit.select().where(AccessAudit.device_key == device_id)
    wait_until(lambda: sum(r.refused for r in query.clone()) == 1)  # clone: run the query again
    rows = list(query.clone())
    assert len(rows) == 1
    row = rows[0]
    assert (row.sync, row.read, row.write, row.refused, row.objects_written) == (1, 1, 1, 1, 1)
    assert row.family == "davx5" and row.address == "127.0.0.1"
    assert row.hour == access_audit.current_hour()
    out = cli("--database", live.db_url, "audit", DEMO_USER).stdout
    assert "Audit-Handy\tdavx5\t127.0.0.1\t1\t1\t1\t1\t1" in out
    assert uid not in out


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_settings_page_shows_the_audit(live, lang):
    _, phone = add_device(live.db_url, f"Audit {lang}")
    assert live.request("PROPFIND", "/anna_maier/", password=phone, headers={"Depth": "0"}).status_code == 207
    page = live.request("GET", f"/settings/?lang={lang}").text
    heading = {"de": "Zugriffe Ihrer Geräte", "en": "Access by your devices"}[lang]
    assert heading in page and f"Audit {lang}" in page


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_admin_view_shows_the_practices_audit(live, lang):
    other = api.get_or_create_practice("Audit Nachbarpraxis")
    if api.find_practitioner("audit nachbar") is None:
        api.create_practitioner(other, "audit nachbar", "Nachbar-Passwort-7", display_name="Nora Nachbar")
    _, phone = add_device(live.db_url, f"Bernds Handy {lang}", user=COLLEAGUE)
    resp = live.request("PROPFIND", "/bernd_huber/", user=COLLEAGUE, password=phone, headers={"Depth": "0"})
    assert resp.status_code == 207
    assert (
        live.request("PROPFIND", "/", user="audit nachbar", password="Nachbar-Passwort-7").status_code == 207
    )
    wait_until(lambda: AccessAudit.select().count() == 2)  # written after the answers: wait, then write
    anna = api.find_practitioner(DEMO_USER)
    api.update_practitioner(anna, is_admin=True)
    try:
        page = live.request("GET", f"/settings/admin?lang={lang}").text
    finally:
        api.update_practitioner(api.find_practitioner(DEMO_USER), is_admin=False)
    heading = {"de": "Zugriffe der Geräte", "en": "Access by devices"}[lang]
    audit = page[page.index(heading) :]
    bernd = api.find_practitioner(COLLEAGUE)
    assert f"Bernds Handy {lang}" in audit and bernd.display_name in audit
    assert "Nora Nachbar" not in page  # another practice's rows are not the admin's to see


def test_rows_older_than_the_retention_are_pruned(live):
    anna = AccessAudit._meta.fields["practitioner"].rel_model.get(
        AccessAudit._meta.fields["practitioner"].rel_model.login_key == DEMO_USER
    )
    now = dt.datetime(2030, 6, 1, 12, 30)
    for days in (0, 89, 91):
        AccessAudit.create(
            practitioner=anna, device_key=0, hour=access_audit.current_hour(now) - dt.timedelta(days=days)
        )
    assert access_audit.prune(90, now=now) == 1
    assert AccessAudit.select().count() == 2
