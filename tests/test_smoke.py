"""The foundation in one breath: discovery and reading through the caldav client library."""

import caldav

from tests.conftest import DEMO_PASSWORD, DEMO_USER


def test_caldav_library_discovers_and_reads(live):
    client = caldav.DAVClient(url=live.base_url, username=DEMO_USER, password=DEMO_PASSWORD)
    principal = client.principal()
    calendars = principal.calendars()
    assert len(calendars) == 1
    assert "Dr. Anna Maier" in calendars[0].get_display_name()
    events = calendars[0].events()
    assert len(events) == 5
    for event in events:
        assert b"BEGIN:VEVENT" in event.data.encode() if isinstance(event.data, str) else event.data
