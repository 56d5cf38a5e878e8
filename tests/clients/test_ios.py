"""iPhone/iPad: "Settings > Calendar > Accounts > Add Account > Other > Add CalDAV Account".

The practitioner types only what `praxis-caldav urls` prints under "iPhone/iPad: Server" and
"User name (all clients)", plus the password. The replay then does what iOS does with it.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.clients import apple
from tests.clients.replay import (
    IOS_SERVER,
    PREFIX,
    USER_NAME,
    device_event,
    local,
    multistatus,
    new_uid,
    practice_cancels,
    practice_creates,
    summary_of,
    uid_of,
)


@pytest.fixture(scope="module")
def account(deployment):
    urls = deployment.urls()
    server, login = urls[IOS_SERVER], urls[USER_NAME]
    assert login == "anna maier" and "anna_maier" not in login
    device = deployment.device(
        login, deployment.device_password("iPhone"), user_agent="iOS/17.4 (21E219) dataaccessd/1.0"
    )
    acc = apple.AppleAccount(device)
    acc.typed = server
    yield acc
    device.close()


def test_anna_maier_sets_up_ios_from_the_urls_output_alone(deployment, account):
    d = account.device
    server = account.typed
    origin = f"{urlparse(server).scheme}://{urlparse(server).netloc}"
    # RFC 6764 probe at the host root, before credentials: a 301 into the DAV root.
    via_well_known = account.find_principal(origin + "/.well-known/caldav")
    assert d.log[0][1] == "/.well-known/caldav" and d.log[0][2] == 301, d.conversation()
    # Then the URL as typed.
    account.principal = account.find_principal(server)
    assert via_well_known == account.principal
    expected = (PREFIX if deployment.kind == "proxy" else "") + "/anna_maier/"
    assert account.principal == expected, d.conversation()

    account.load_principal()
    account.list_home()
    assert account.calendar == expected + "calendar/"
    account.set_colour_and_order()

    # Initial sync: poll, sync-collection from nothing, multiget everything.
    assert account.poll()
    changed, removed = account.sync()
    assert len(changed) == 5 and not removed, d.conversation()
    assert all(h.startswith(account.calendar) for h in changed)

    # Nothing changed: the ctag says so and an incremental sync is empty.
    assert not account.poll()
    assert account.sync() == (set(), set())


def test_ios_creates_edits_and_deletes_an_appointment(account):
    d = account.device
    uid = new_uid()
    href = f"{account.calendar}{uid}.ics"
    created = d.put(href, device_event(uid, "Supervision", local(2, 13)), new=True)
    assert created.status_code == 201, (created.status_code, created.text)
    account.poll()
    changed, _ = account.sync()
    assert changed == {href}, "the new event stays at the URL it was PUT to"
    assert uid_of(account.data[href]) == uid and summary_of(account.data[href]) == "Supervision"

    # Edit with If-Match (the ETag from the sync), then a stale If-Match is refused with 412.
    old = account.etags[href]
    edited = d.put(href, device_event(uid, "Supervision (verschoben)", local(2, 15)), etag=old)
    assert edited.status_code in (200, 204), (edited.status_code, edited.text)
    stale = d.put(href, device_event(uid, "Supervision alt", local(2, 16)), etag=old)
    assert stale.status_code == 412
    assert account.poll()
    changed, _ = account.sync()
    assert changed == {href} and summary_of(account.data[href]) == "Supervision (verschoben)"

    gone = d.delete(href, etag=account.etags[href])
    assert gone.status_code == 204, gone.status_code
    assert account.poll()
    assert account.sync() == (set(), {href})


def test_ios_incremental_sync_sees_practice_side_changes(account):
    booked = practice_creates("Neuer Termin aus der Praxis")
    assert account.poll(), "a practice-side change must move getctag/sync-token"
    changed, removed = account.sync()
    (href,) = changed
    assert not removed and summary_of(account.data[href]) == "Neuer Termin aus der Praxis"
    practice_cancels(booked)
    assert account.poll()
    assert account.sync() == (set(), {href})


def test_ios_proppatch_answers_207_with_a_status_per_property(account):
    """A flat 403 would stop Apple syncing: every property gets its own status."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<A:propertyupdate {apple.NS}><A:set><A:prop>'
        f"<D:calendar-order>4</D:calendar-order>"
        f"<B:schedule-calendar-transp><B:opaque/></B:schedule-calendar-transp>"
        f"</A:prop></A:set></A:propertyupdate>"
    )
    resp = account.device.request("PROPPATCH", account.calendar, body)
    item = multistatus(resp)[account.calendar]
    statuses = {tag.split("}")[1]: status for tag, (status, _) in item.props.items()}
    assert set(statuses) == {"calendar-order", "schedule-calendar-transp"}, resp.text
    assert all(s in (200, 403, 409, 424) for s in statuses.values()), statuses


def test_ios_resyncs_from_scratch_after_an_invalid_sync_token(account):
    """403 <D:valid-sync-token/> makes the device drop its token and list everything again."""
    d = account.device
    resp = d.report(account.calendar, apple.sync_collection(account.token + "-gone"), depth="0")
    assert resp.status_code == 403 and "valid-sync-token" in resp.text, resp.text
    known = set(account.etags)
    account.token = ""
    account.etags.clear()
    changed, removed = account.sync()
    assert changed == known and not removed
