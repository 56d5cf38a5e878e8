"""Every fast path answers the same bytes as the element path, for every registered property.

Like Xandikos's index-vs-naive double check: the fast paths (PROPFIND Depth 1, the initial
sync-collection listing, calendar-multiget and calendar-query from response templates,
davserver/multistatus.py) copy one member's serialized response into every member's and
fill in only href, ETag and calendar data. Each request below is answered twice by the
real server, once as it runs and once with every fast path off (multistatus.ENABLED), and
the bodies must be equal byte for byte: for every property of the registry, the ones
wsgidav answers, calendar-data and an unknown one; plus a property registered here that
differs per member (the issue's scenario: the first member's value served for all).
SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator

import pytest
from lxml import etree

from davserver import multistatus
from providers import properties, push_properties
from providers.practice import api
from providers.properties import CALDAV, DAV, OBJECT, LiveProperty
from tests import privacy_corpus as corpus
from tests.test_reports_support import (
    PASSWORD,
    Calendar,
    multiget_body,
    new_calendar,
    parse_multistatus,
    query_body,
    sync_body,
    time_range,
    utc,
    vevent_filter,
)

GETETAG, CALENDAR_DATA = f"{{{DAV}}}getetag", f"{{{CALDAV}}}calendar-data"
UNKNOWN = "{urn:praxis-caldav:test}not-a-property"
PER_MEMBER_EXTRA = "{urn:praxis-caldav:test}member-name"
PUSH_NAMES = [push_properties.TRANSPORTS, push_properties.TOPIC, push_properties.TRIGGERS]
# Every property a request may name: the registry (push's too), what wsgidav answers for
# an object, the reports' calendar-data and a name nobody answers.
NAMES = sorted(
    set(properties.REGISTRY)
    | set(PUSH_NAMES)
    | set(properties.WSGIDAV_OBJECT_NAMES)
    | {CALENDAR_DATA, UNKNOWN}
)


def prop_xml(names: list[str]) -> str:
    """<D:prop> children for Clark names, each with a prefix of its own."""
    parts = []
    for i, name in enumerate(names):
        ns, local = name[1:].split("}")
        parts.append(f'<p{i}:{local} xmlns:p{i}="{ns}"/>')
    return "".join(parts)


def propfind_body(names: list[str]) -> str:
    return f'<D:propfind xmlns:D="DAV:"><D:prop>{prop_xml(names)}</D:prop></D:propfind>'


class Scene:
    """A calendar of six varied members and a sync token from before three changes."""

    def __init__(self, cal: Calendar):
        self.cal = cal
        self.token = ""

    def requests(self, names: list[str]) -> dict[str, tuple[str, str, str]]:
        """(method, body, Depth) of every fast path, asking for `names` besides its own."""
        hrefs = self.hrefs()
        week = vevent_filter(time_range(utc(2000, 1, 1), utc(2100, 1, 1)))
        with_data = prop_xml([GETETAG, CALENDAR_DATA, *names])
        with_etag = prop_xml([GETETAG, *names])
        # The hrefs as some clients send them back: absolute URLs (echoed as sent).
        urls = [self.cal.live.url(h) for h in hrefs]
        return {
            "PROPFIND": ("PROPFIND", propfind_body(names), "1"),
            "PROPFIND with getetag": ("PROPFIND", propfind_body([GETETAG, *names]), "1"),
            "sync initial": ("REPORT", sync_body("", props=with_etag), "1"),
            "sync initial, a page of 3": ("REPORT", sync_body("", limit=3, props=with_etag), "1"),
            "sync incremental": ("REPORT", sync_body(self.token, props=with_etag), "1"),
            "multiget": ("REPORT", multiget_body(hrefs, with_data), "1"),
            "multiget of URLs": ("REPORT", multiget_body(urls, with_data), "1"),
            "query": ("REPORT", query_body(week, with_data), "1"),
        }

    def hrefs(self) -> list[str]:
        """The members' hrefs, as a listing gives them."""
        listing = self.cal.request("PROPFIND", propfind_body([GETETAG]), headers={"Depth": "1"})
        return [r.href for r in parse_multistatus(listing)[0][1:]]

    def answers(self, requests: dict[str, tuple[str, str, str]]) -> dict[str, bytes]:
        out = {}
        for label, (method, body, depth) in requests.items():
            resp = self.cal.request(method, body, headers={"Depth": depth, "Content-Type": "application/xml"})
            assert resp.status_code == 207, (label, resp.status_code, resp.text[:300])
            out[label] = resp.content
        return out


def fast_and_slow(scene: Scene, names: list[str], monkeypatch) -> tuple[dict, dict]:
    requests = scene.requests(names)
    fast = scene.answers(requests)
    with monkeypatch.context() as m:
        m.setattr(multistatus, "ENABLED", False)
        slow = scene.answers(requests)
    return fast, slow


@pytest.fixture(scope="module")
def scene(live) -> Scene:
    cal = new_calendar(live, "fast path twin")
    vienna = dt.datetime(2026, 3, 2, 9, 0)
    made = [
        cal.add(vienna, vienna + dt.timedelta(hours=1), name="single", subject="Kontrolle"),
        cal.add(vienna, vienna + dt.timedelta(days=1), name="all day", all_day=True, tzid=None),
        cal.add(vienna, vienna + dt.timedelta(minutes=30), name="serie-ü", rrule="FREQ=WEEKLY;COUNT=5"),
        cal.add(vienna, vienna + dt.timedelta(hours=2), name="floating", tzid=None, notes="a & b < c"),
        cal.add(vienna, vienna + dt.timedelta(hours=1), name="to-change"),
        cal.add(vienna, vienna + dt.timedelta(hours=1), name="to-cancel"),
    ]
    body = sync_body("", props="<D:getetag/>")
    _, token = parse_multistatus(cal.report(body))
    later = vienna + dt.timedelta(days=1)
    api.update_appointment(
        made[4], api.AppointmentFields(start_local=later, end_local=later + dt.timedelta(hours=1))
    )
    api.delete_appointment(made[5])
    cal.add(later, later + dt.timedelta(hours=1), name="added later")
    scene = Scene(cal)
    scene.token = token
    return scene


@pytest.fixture(scope="module")
def push_registered(scene) -> Iterator[None]:
    """The push properties, registered as a server with push enabled registers them."""
    was = set(PUSH_NAMES) <= set(properties.REGISTRY)
    push_properties.enable()
    yield
    if not was:
        push_properties.disable()


def test_the_list_covers_every_registered_property(push_registered):
    assert set(properties.REGISTRY) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fast_and_element_paths_answer_the_same_bytes(scene, push_registered, name, monkeypatch):
    fast, slow = fast_and_slow(scene, [name], monkeypatch)
    for label in fast:
        assert fast[label] == slow[label], label


def test_every_property_at_once(scene, push_registered, monkeypatch):
    fast, slow = fast_and_slow(scene, [n for n in NAMES if n != CALENDAR_DATA], monkeypatch)
    assert fast == slow


def count_template_uses(monkeypatch) -> list[int]:
    uses = [0]
    real: Callable = multistatus.MultistatusTemplate._chunks

    def counting(self, *args):
        uses[0] += 1
        return real(self, *args)

    monkeypatch.setattr(multistatus.MultistatusTemplate, "_chunks", counting)
    return uses


def test_the_fast_paths_are_taken_where_the_registry_allows(scene, monkeypatch):
    """Without this the comparison could pass with both sides on the element path."""
    uses = count_template_uses(monkeypatch)
    # Constant on every object: getcontenttype, resourcetype; displayname is no object's.
    requests = scene.requests([f"{{{DAV}}}getcontenttype", f"{{{DAV}}}resourcetype", f"{{{DAV}}}displayname"])
    for label, request in requests.items():
        before = uses[0]
        scene.answers({label: request})
        assert uses[0] == before + (label != "sync incremental"), label
    # getlastmodified differs per member; a name the registry does not know may.
    for name in (f"{{{DAV}}}getlastmodified", UNKNOWN):
        requests = scene.requests([name])
        before = uses[0]
        scene.answers(requests)
        assert uses[0] == before, name  # every request took the element path


def test_a_new_per_member_property_is_served_per_member(scene, monkeypatch):
    """The issue's scenario: one more live property whose value differs per object, added
    to the registry alone; fast and element paths must both serve each member its own."""
    monkeypatch.setitem(
        properties.REGISTRY,
        PER_MEMBER_EXTRA,
        LiveProperty(PER_MEMBER_EXTRA, frozenset({OBJECT}), lambda res: res.name, per_member=True),
    )
    fast, slow = fast_and_slow(scene, [PER_MEMBER_EXTRA], monkeypatch)
    for label in fast:
        root = etree.fromstring(slow[label])
        values = [el.text for el in root.iter(PER_MEMBER_EXTRA)]
        least = {"sync incremental": 2, "sync initial, a page of 3": 3}.get(label, 5)
        assert len(set(values)) >= least, (label, values)
        assert fast[label] == slow[label], label


# ---------------------------------------------------------------- the hostile practice


class SharedCalendar(Calendar):
    """The owner's calendar as a delegate sees it: opaque names, the stricter policy."""

    def __init__(self, live, delegate, owner):
        super().__init__(live, delegate)
        self.owner = owner

    @property
    def path(self) -> str:
        return f"/{api.url_segment(self.user)}/shared-{api.url_segment(self.owner.username)}/"


@pytest.fixture(scope="module")
def hostile_views(live) -> dict[str, Scene]:
    """The privacy corpus (names in every script, device extras in parameters, base64 and
    components, a device-chosen name that spells a patient) in the owner's clear view and
    in a pseudonymizing delegate's view."""
    practice = api.get_or_create_practice("Praxis Korpus", f"fast-path-corpus-{uuid.uuid4().hex[:8]}")
    owner = api.create_practitioner(practice, f"corpus owner {practice.id}", PASSWORD)
    corpus.build(owner, practice)
    delegate = api.create_practitioner(practice, f"corpus delegate {practice.id}", PASSWORD)
    api.update_practitioner(delegate, pseudonymize=True)
    api.grant_access(owner, delegate, can_write=False)
    return {
        "owner clear": Scene(Calendar(live, owner)),
        "pseudonymizing delegate": Scene(SharedCalendar(live, delegate, owner)),
    }


@pytest.mark.parametrize("view", ["owner clear", "pseudonymizing delegate"])
def test_the_hostile_corpus_answers_the_same_bytes_on_both_paths(
    hostile_views, push_registered, view, monkeypatch
):
    uses = count_template_uses(monkeypatch)
    scene = hostile_views[view]
    for names in ([], [n for n in NAMES if n != CALENDAR_DATA]):
        fast, slow = fast_and_slow(scene, names, monkeypatch)
        assert fast == slow
    assert uses[0] > 0  # the fast paths really ran on this data
