"""DAVx5 (and through it the Google Calendar app on Android): "Login with URL and user name".

The practitioner types "DAVx5 ... Base URL" and "User name (all clients)" from
`praxis-caldav urls`. The replay follows DAVx5's resource finder (PROPFIND on the base URL,
then /.well-known/caldav, OPTIONS on the principal, calendar-user-address-set for the account
name), its collection refresh, and its default sync (calendar-query with a start and no end,
then calendar-multiget in bunches of 10; PUT `<uid>.ics` with If-None-Match: *, If-Match for
updates and deletes, and a re-download after a 412). okhttp follows 301/302/307/308, not 303.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote, urlparse

import pytest

from providers.practice import api
from providers.practice.models import Appointment
from tests.clients.replay import (
    CALDAV,
    DAV,
    DAVX5_BASE,
    ICAL,
    LOGIN,
    PREFIX,
    USER_NAME,
    Device,
    clark,
    dav_header,
    device_event,
    local,
    multistatus,
    new_uid,
    privileges,
    summary_of,
    uid_of,
)

NS = (
    'xmlns="DAV:" xmlns:CAL="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/" '
    'xmlns:ICAL="http://apple.com/ns/ical/"'
)
UA = "DAVx5/4.4.1-ose (2024/05/07; dav4jvm; okhttp/4.12.0) Android/14"
MULTIGET_BUNCH = 10
PAST_DAYS = 90  # DAVx5's default "sync only events of the last 90 days"


def propfind(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return f"<?xml version='1.0' encoding='UTF-8' ?><propfind {NS}><prop>{inner}</prop></propfind>"


CHECK_BASE = propfind(
    "resourcetype",
    "displayname",
    "ICAL:calendar-color",
    "CAL:calendar-description",
    "CAL:calendar-timezone",
    "current-user-privilege-set",
    "CAL:supported-calendar-component-set",
    "CS:source",
    "CAL:calendar-home-set",
    "current-user-principal",
)
PRINCIPAL_CUP = propfind("current-user-principal")
HOME_SET = propfind("CAL:calendar-home-set", "displayname")
EMAILS = propfind("CAL:calendar-user-address-set")
COLLECTIONS = propfind(
    "resourcetype",
    "displayname",
    "owner",
    "current-user-privilege-set",
    "ICAL:calendar-color",
    "CAL:calendar-description",
    "CAL:calendar-timezone",
    "CAL:supported-calendar-component-set",
    "CS:source",
)
CAPABILITIES = propfind("CAL:max-resource-size", "supported-report-set", "CS:getctag", "sync-token")


def calendar_query(start: dt.datetime) -> str:
    return (
        f"<?xml version='1.0' encoding='UTF-8' ?><CAL:calendar-query {NS}><prop><getetag/></prop>"
        f'<CAL:filter><CAL:comp-filter name="VCALENDAR"><CAL:comp-filter name="VEVENT">'
        f'<CAL:time-range start="{start:%Y%m%dT%H%M%SZ}"/></CAL:comp-filter></CAL:comp-filter>'
        f"</CAL:filter></CAL:calendar-query>"
    )


def multiget(hrefs: list[str]) -> str:
    refs = "".join(f"<href>{h}</href>" for h in hrefs)
    return (
        f"<?xml version='1.0' encoding='UTF-8' ?><CAL:calendar-multiget {NS}><prop><getcontenttype/>"
        f"<getetag/><CAL:schedule-tag/><CAL:calendar-data/></prop>{refs}</CAL:calendar-multiget>"
    )


class Davx5:
    """The account DAVx5 creates and the local calendar it keeps (href -> ETag, data)."""

    def __init__(self, device: Device, base_url: str):
        self.device = device
        self.base_url = base_url
        self.principal = ""
        self.account_name = ""
        self.calendar = ""
        self.ctag = None
        self.etags: dict[str, str | None] = {}
        self.data: dict[str, str] = {}

    def discover(self) -> None:
        d = self.device
        # 1. The user-given URL, Depth 0.
        item = next(iter(multistatus(d.propfind(self.base_url, "0", CHECK_BASE)).items.values()))
        (principal,) = item.hrefs(clark(DAV, "current-user-principal"))
        # 2. RFC 6764 well-known on the same host.
        origin = f"{urlparse(self.base_url).scheme}://{urlparse(self.base_url).netloc}"
        wk = d.propfind(origin + "/.well-known/caldav", "0", PRINCIPAL_CUP)
        (via_wk,) = next(iter(multistatus(wk).items.values())).hrefs(clark(DAV, "current-user-principal"))
        assert via_wk == principal, d.conversation()
        assert all(s != 303 for _, _, s in d.log), "DAVx5 does not follow 303"
        # 3. Only a principal whose OPTIONS says calendar-access counts.
        opts = d.options(principal)
        assert opts.status_code == 200 and "calendar-access" in dav_header(opts), d.conversation()
        self.principal = principal
        # 4. The account name: the first mailto: of calendar-user-address-set.
        cuas = multistatus(d.propfind(principal, "0", EMAILS))[principal].hrefs(
            clark(CALDAV, "calendar-user-address-set")
        )
        mails = [h for h in cuas if h.lower().startswith("mailto:")]
        self.account_name = unquote(mails[0][len("mailto:") :]) if mails else LOGIN

    def refresh_collections(self) -> None:
        d = self.device
        ms = multistatus(d.propfind(self.principal, "0", HOME_SET))
        (home,) = ms[self.principal].hrefs(clark(CALDAV, "calendar-home-set"))
        listing = multistatus(d.propfind(home, "1", COLLECTIONS))
        calendars = {
            h: i
            for h, i in listing.items.items()
            if clark(CALDAV, "calendar") in i.children(clark(DAV, "resourcetype"))
        }
        ((href, cal),) = calendars.items()
        assert {"write", "write-content", "all"} & privileges(cal), "would be read-only"
        comps = cal.ok(clark(CALDAV, "supported-calendar-component-set"))
        assert "VEVENT" in {c.get("name") for c in comps}
        assert cal.props[clark(ICAL, "calendar-color")][0] in (200, 404)
        self.calendar = href

    def sync(self) -> tuple[set[str], set[str]]:
        """One sync run; returns (downloaded hrefs, hrefs removed locally)."""
        d = self.device
        caps = multistatus(d.propfind(self.calendar, "0", CAPABILITIES))[self.calendar]
        ctag = caps.text("{http://calendarserver.org/ns/}getctag")
        if ctag is not None and ctag == self.ctag:
            return set(), set()
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=PAST_DAYS)
        listed = multistatus(d.report(self.calendar, calendar_query(start)))
        remote = {}
        for href, item in listed.members(self.calendar).items():
            etag = item.text(clark(DAV, "getetag"))
            assert etag, f"{href} has no getetag: DAVx5 cannot sync it"
            remote[href] = etag
        removed = set(self.etags) - set(remote)
        for href in removed:
            self.etags.pop(href)
            self.data.pop(href, None)
        stale = sorted(h for h, e in remote.items() if self.etags.get(h) != e)
        for i in range(0, len(stale), MULTIGET_BUNCH):
            bunch = stale[i : i + MULTIGET_BUNCH]
            got = multistatus(d.report(self.calendar, multiget(bunch)))
            for href in bunch:
                item = got[href]
                assert item.text(clark(DAV, "getcontenttype")).startswith("text/calendar")
                assert item.text(clark(DAV, "getetag")) == remote[href]
                self.data[href] = item.text(clark(CALDAV, "calendar-data"))
                self.etags[href] = remote[href]
        self.ctag = ctag
        return set(stale), removed

    def upload_new(self, summary: str, start: dt.datetime) -> str:
        uid = new_uid()
        href = f"{self.calendar}{uid}.ics"
        body = device_event(uid, summary, start, prodid=f"-//{UA}//EN")
        resp = self.device.put(href, body, new=True)
        assert resp.status_code == 201, (resp.status_code, resp.text)
        self.etags[href] = resp.headers.get("ETag")  # None: downloaded again on the next sync
        if self.etags[href] is not None:  # stored as sent: the local copy is the server's
            self.data[href] = body
        return href


@pytest.fixture(scope="module")
def davx5(deployment):
    urls = deployment.urls()
    device = deployment.device(urls[USER_NAME], deployment.device_password("Pixel"), user_agent=UA)
    yield Davx5(device, urls[DAVX5_BASE])
    device.close()


@pytest.fixture(scope="module")
def series(deployment):
    """Practice rows that only a correct start-only time-range finds (or leaves out)."""
    anna = api.find_practitioner(LOGIN)
    endless = api.create_appointment(
        anna,
        api.AppointmentFields(
            start_local=local(-200, 7),
            end_local=local(-200, 7, 30),
            subject="Teamsitzung",
            rrule="FREQ=WEEKLY",
        ),
    )
    ended = api.create_appointment(
        anna,
        api.AppointmentFields(
            start_local=local(-300, 7),
            end_local=local(-300, 7, 30),
            subject="Alter Kurs",
            rrule="FREQ=WEEKLY;COUNT=3",
        ),
    )
    return endless, ended


def test_anna_maier_sets_up_davx5_from_the_urls_output_alone(deployment, davx5, series):
    d = davx5.device
    davx5.discover()
    expected = (PREFIX if deployment.kind == "proxy" else "") + "/anna_maier/"
    assert davx5.principal == expected, d.conversation()
    assert davx5.account_name == "anna.maier@example.org"
    davx5.refresh_collections()
    assert davx5.calendar == expected + "calendar/"

    downloaded, _ = davx5.sync()
    endless, ended = series
    by_uid = {uid_of(data): href for href, data in davx5.data.items()}
    # Five demo appointments plus the endless weekly series that began 200 days ago; the
    # series that ended long before the window is not listed.
    assert len(downloaded) == 6 and endless.uid in by_uid and ended.uid not in by_uid
    assert davx5.sync() == (set(), set()), "unchanged ctag: nothing to do"


def test_davx5_creates_edits_and_deletes_with_preconditions(davx5):
    d = davx5.device
    href = davx5.upload_new("Hausbesuch (Handy)", local(6, 11))
    assert davx5.etags[href] is not None  # stored as sent (RFC 4791 §5.3.4)
    downloaded, _ = davx5.sync()
    assert href not in downloaded and summary_of(davx5.data[href]) == "Hausbesuch (Handy)"
    uid = uid_of(davx5.data[href])
    assert href.endswith(f"/{uid}.ics")

    # Creating the same resource again is refused: If-None-Match: * on an existing URL.
    again = d.put(href, davx5.data[href], new=True)
    assert again.status_code == 412

    body = device_event(uid, "Hausbesuch 12 Uhr", local(6, 12))
    edited = d.put(href, body, etag=davx5.etags[href])
    assert edited.status_code in (200, 204)
    davx5.etags[href] = edited.headers.get("ETag")
    if davx5.etags[href] is not None:  # stored as sent: the local copy is the server's
        davx5.data[href] = body
    davx5.sync()
    assert summary_of(davx5.data[href]) == "Hausbesuch 12 Uhr"

    gone = d.delete(href, etag=davx5.etags[href])
    assert gone.status_code == 204
    davx5.etags.pop(href)
    davx5.data.pop(href)
    assert href not in davx5.sync()[0]


def test_davx5_412_after_a_practice_edit_then_redownloads(davx5):
    d = davx5.device
    href = davx5.upload_new("Befundbesprechung", local(7, 9))
    davx5.sync()
    uid = uid_of(davx5.data[href])
    # Meanwhile the practice moves the appointment.
    row = Appointment.get(Appointment.uid == uid)
    api.update_appointment(
        row,
        api.AppointmentFields(
            start_local=local(7, 10), end_local=local(7, 10, 50), subject="Befundbesprechung (Praxis)"
        ),
    )
    stale = d.put(href, device_event(uid, "Befundbesprechung (Handy)", local(7, 8)), etag=davx5.etags[href])
    assert stale.status_code == 412
    # DAVx5 forgets its ETag and downloads the server's version on the next sync.
    davx5.etags[href] = None
    downloaded, _ = davx5.sync()
    assert href in downloaded and summary_of(davx5.data[href]) == "Befundbesprechung (Praxis)"


def test_davx5_sees_a_practice_side_cancellation_as_a_removal(davx5, series):
    endless, _ = series
    api.delete_appointment(endless, cancel=True)
    downloaded, removed = davx5.sync()
    assert not downloaded and len(removed) == 1
    (href,) = removed
    assert href.startswith(davx5.calendar)
