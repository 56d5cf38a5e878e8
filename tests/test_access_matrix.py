"""The access matrix: every method x every resource x every actor -> the expected answer.

Runs against the real server, once per backend (`live`: SQLite and PostgreSQL). The matrix is
data: ACCESS says what each actor may do with each place, EXPECT (and EVENT_EXPECT) what each
method answers at each access level, and `build` how a client sends each method. A new
method, resource or actor is one row (plus a branch in `build` for a new method). Test ids
name the cell: `test_cell[sqlite-PUT-create|event@shared:anna|read-delegate]`.

Every cell also checks:
- the database is unchanged (a digest of every row of appointment, override, change, patient,
  practitioner and grant) unless the cell is a permitted write, which must touch only the
  calendar owner's rows;
- no response carries the UID of an appointment the actor may not read;
- a foreign or absent resource answers exactly like the same path with the owner's name
  replaced by one nobody has: same status, same error element, so not even existence is
  revealed.

The world (on top of the demo practice "Praxis am Park"):
    anna maier     owner of the delegated calendar (two-way)
    clara lesen    read delegate of anna          (grant --read)
    david schreiben read-write delegate of anna   (grant --read-write)
    bernd huber    colleague in the same practice, no grant
    eva fremd      practitioner of another practice ("Praxis Nord")
    frieda einweg  same practice, direction server-to-device (own calendar read-only)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import pytest
from lxml import etree

from providers.practice import api, opaque_names
from providers.practice.api import AppointmentFields
from providers.practice.models import (
    Appointment,
    AppointmentOverride,
    Change,
    Grant,
    Patient,
    Practitioner,
)
from tests.conftest import COLLEAGUE, DEMO_PASSWORD, DEMO_USER

DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
NS = {"D": DAV, "C": CALDAV}


def table(text: str) -> dict[str, dict[str, str]]:
    """A whitespace-aligned table: {row name: {column name: cell}}."""
    lines = [line.split("#")[0].split() for line in text.strip().splitlines()]
    lines = [line for line in lines if line]
    header, rows = lines[0], lines[1:]
    assert all(len(r) == len(header) + 1 for r in rows), "ragged table"
    return {r[0]: dict(zip(header, r[1:], strict=True)) for r in rows}


# ---------------------------------------------------------------- the world

ACTORS = {  # actor -> login (None: anonymous)
    "anonymous": None,
    "owner": DEMO_USER,
    "read-delegate": "clara lesen",
    "rw-delegate": "david schreiben",
    "colleague": COLLEAGUE,
    "other-practice": "eva fremd",
    "one-way": "frieda einweg",
}


@dataclass(frozen=True)
class Place:
    path: str  # {me}: the actor's own URL segment (anonymous: anna's)
    owner: str | None  # login of the calendar's owner
    has_events: bool


# Principal and calendar home are one collection on this server (README "URLs"), so the
# principal of anna is probed as `home:anna`.
PLACES = {
    "root": Place("/", None, False),
    "home:anna": Place("/anna_maier/", DEMO_USER, False),
    "cal:anna": Place("/anna_maier/calendar/", DEMO_USER, True),
    "shared:anna": Place("/{me}/shared-anna_maier/", DEMO_USER, True),
    "cal:bernd": Place("/bernd_huber/calendar/", COLLEAGUE, True),
    "cal:eva": Place("/eva_fremd/calendar/", "eva fremd", True),
    "shared:eva": Place("/{me}/shared-eva_fremd/", "eva fremd", True),
    "cal:frieda": Place("/frieda_einweg/calendar/", "frieda einweg", True),
    "nowhere": Place("/niemand/calendar/", None, True),  # names no practitioner at all
}

# What each actor may do with each place:
#   root/home: the DAV root and the actor's own principal+home (readable, not a calendar)
#   own: own two-way calendar; rw / ro: calendar writable / read-only for this actor
#   absent: a name inside a collection the actor sees (the root, the own home) that does not
#           exist for them: another's home, a delegation that was never granted
#   none: inside someone else's tree (or nobody's)
ACCESS = table("""
                 root  home:anna  cal:anna  shared:anna  cal:bernd  cal:eva  shared:eva  cal:frieda  nowhere
anonymous        401   401        401       401          401        401      401         401         401
owner            root  home       own       absent       none       none     absent      none        none
read-delegate    root  absent     none      ro           none       none     absent      none        none
rw-delegate      root  absent     none      rw           none       none     absent      none        none
colleague        root  absent     none      absent       own        none     absent      none        none
other-practice   root  absent     none      absent       none       own      absent      none        none
one-way          root  absent     none      absent       none       none     absent      ro          none
""")

# What each method answers at each access level. `STATUS:check` names an extra check (CHECKS).
# An event inherits its calendar's level as ev-own / ev-rw / ev-ro (EVENT_EXPECT); events of
# absent or foreign calendars are `none`.
#
# Explained cells:
# - OPTIONS is 200 with the same static headers on every path, also one that names nothing
#   (Thunderbird asks the parent of a calendar, Apple asks `/`): it reveals nothing, and the
#   `nowhere` comparison asserts that.
# - MKCALENDAR in `absent`: the parent (root or own home) is visible, so the refusal is the
#   same 403 as for any new name there; it is a 404 where the parent is hidden too.
# - PROPPATCH of the owner's calendar by the rw delegate: the delegate may write events, not
#   the owner's calendar properties (no write-properties): 207 with a 403 propstat.
# - GET/HEAD of a collection: wsgidav's answer for collections without a directory browser.
# - DELETE of a collection needs DAV:unbind on its parent, which nobody has: need-privileges
#   for root, home and every calendar alike.
# - COPY/MOVE/MKCALENDAR are refused for everyone (appointments change with PUT, calendars
#   are made by the practice): a 403 with a reason, the same for every visible resource.
EXPECT = table("""
                    root      home      own        rw         ro         absent  none
OPTIONS             200       200       200        200        200        200     200
PROPFIND-0          207:privs 207:privs 207:privs  207:privs  207:privs  404     404
PROPFIND-1          207:tree  207:tree  207:tree   207:tree   207:tree   404     404
PROPPATCH           207:x     207:x     207:ok     207:x      403:np     404     404
GET                 COLL      COLL      COLL       COLL       COLL       404     404
HEAD                COLL      COLL      COLL       COLL       COLL       404     404
PUT-create          405       405       201        201        403:np     404     404
PUT-update          405       405       405        405        405        404     404
DELETE              403:np    403:np    403:np     403:np     403:np     404     404
calendar-query      403:sr    403:sr    207:query  207:query  207:query  404     404
multiget            403:sr    403:sr    207:mget   207:mget   207:mget   404     404
multiget-foreign    403:sr    403:sr    207:mgetf  207:mgetf  207:mgetf  404     404
sync-collection     403:sr    403:sr    207:sync   207:sync   207:sync   404     404
sync-foreign-token  403:sr    403:sr    403:vst    403:vst    403:vst    404     404
free-busy           403:sr    403:sr    200:fb     200:fb     200:fb     404     404
MKCALENDAR          403       403       403        403        403        403     404
COPY                403       403       403        403        403        404     404
MOVE                403       403       403        403        403        404     404
""")
EVENT_EXPECT = table("""
                    ev-own     ev-rw      ev-ro
OPTIONS             200        200        200
PROPFIND-0          207:privs  207:privs  207:privs
PROPFIND-1          207:tree   207:tree   207:tree
PROPPATCH           207:x      207:x      403:np
GET                 200:ical   200:ical   200:ical
HEAD                200        200        200
PUT-create          412        412        403:np
PUT-update          204        204        403:np
DELETE              204        204        403:np
calendar-query      403:sr     403:sr     403:sr
multiget            403:sr     403:sr     403:sr
multiget-foreign    403:sr     403:sr     403:sr
sync-collection     403:sr     403:sr     403:sr
sync-foreign-token  403:sr     403:sr     403:sr
free-busy           403:sr     403:sr     403:sr
MKCALENDAR          403        403        403
COPY                403        403        403
MOVE                403        403        403
""")
for _method, _row in EVENT_EXPECT.items():
    EXPECT[_method].update(_row)
for _row in EXPECT.values():
    _row["401"] = "401"  # anonymous: every method on every path asks for a login first


# Successful writes: they must change the calendar owner's rows and nobody else's.
WRITES = {
    ("PROPPATCH", "own"),
    ("PUT-create", "own"),
    ("PUT-create", "rw"),
    ("PUT-update", "ev-own"),
    ("PUT-update", "ev-rw"),
    ("DELETE", "ev-own"),
    ("DELETE", "ev-rw"),
}

PRIVILEGES = {
    "read": ["read", "read-current-user-privilege-set"],
    "own": [
        "read",
        "read-current-user-privilege-set",
        "write",
        "write-content",
        "write-properties",
        "bind",
        "unbind",
    ],
    "rw": ["read", "read-current-user-privilege-set", "write", "write-content", "bind", "unbind"],
}
PRIVILEGES_BY_LEVEL = {
    "root": "read",
    "home": "read",
    "own": "own",
    "rw": "rw",
    "ro": "read",
    "ev-own": "own",
    "ev-rw": "rw",
    "ev-ro": "read",
}


@dataclass(frozen=True)
class Resource:
    name: str
    place: str
    event: bool


RESOURCES = [Resource(p, p, False) for p in PLACES] + [
    Resource(f"event@{p}", p, True) for p, place in PLACES.items() if place.has_events
]


def level(actor: str, resource: Resource) -> str:
    lvl = ACCESS[actor][resource.place]
    if not resource.event or lvl == "401":
        return lvl
    return {"own": "ev-own", "rw": "ev-rw", "ro": "ev-ro"}.get(lvl, "none")


CELLS = [(m, r, a) for m in EXPECT for r in RESOURCES for a in ACTORS]


# ---------------------------------------------------------------- fixtures


@dataclass
class World:
    live: object
    ids: dict[str, int]  # login -> practitioner id
    events: dict[str, tuple[str, str]]  # owner login -> (resource name, UID) of its event
    tokens: dict[str, str] = field(default_factory=dict)  # owner login -> its sync token
    counter: int = 0
    # The digest after the last cell that changed nothing (None: something may have changed
    # since), so a cell needs one digest, not two.
    unchanged: str | None = None

    def me(self, actor: str) -> str:
        login = ACTORS[actor] or DEMO_USER
        return api.url_segment(login)

    def path(self, actor: str, resource: Resource, name: str | None = None) -> str:
        place = PLACES[resource.place]
        base = place.path.format(me=self.me(actor))
        if not resource.event:
            return base
        name = name or self.event_name(place)
        if "/shared-" in place.path:  # a delegated view names others' objects opaquely
            name = opaque_names.shown_name(self.ids[place.owner], name)
        return base + name

    def event_name(self, place: Place) -> str:
        return self.events[place.owner][0] if place.owner else "nichts.ics"

    def fresh(self) -> int:
        self.counter += 1
        return self.counter

    def fresh_event(self, owner: str | None) -> tuple[str, str]:
        """A new appointment of `owner` for a cell that changes or deletes one."""
        n = self.fresh()
        if owner is None:
            return f"fresh-{n}.ics", f"fresh-{n}@matrix"
        self.unchanged = None
        practitioner = Practitioner.get_by_id(self.ids[owner])
        appt = api.create_appointment(
            practitioner, _fields(n), uid=f"fresh-{n}@matrix", resource_name=f"fresh-{n}.ics"
        )
        return appt.resource_name, appt.uid


def _fields(n: int) -> AppointmentFields:
    start = dt.datetime(2026, 6, 1, 8) + dt.timedelta(hours=n % 200)
    return AppointmentFields(start, start + dt.timedelta(minutes=30), subject=f"Matrix {n}")


@pytest.fixture(scope="module")
def world(live) -> World:
    park = Practitioner.get(Practitioner.username == DEMO_USER).practice
    nord = api.get_or_create_practice("Praxis Nord", external_id="matrix-nord")
    for login, practice in (
        ("clara lesen", park),
        ("david schreiben", park),
        ("eva fremd", nord),
        ("frieda einweg", park),
    ):
        api.create_practitioner(practice, login, DEMO_PASSWORD)
    anna = api.find_practitioner(DEMO_USER)
    api.grant_access(anna, api.find_practitioner("clara lesen"), can_write=False)
    api.grant_access(anna, api.find_practitioner("david schreiben"), can_write=True)
    api.update_practitioner(api.find_practitioner("frieda einweg"), direction="server-to-device")
    ids = {p.username: p.id for p in Practitioner.select()}
    for owner in ("eva fremd", "frieda einweg"):
        api.create_appointment(
            Practitioner.get_by_id(ids[owner]), _fields(0), uid=f"{owner.split()[0]}-standard@matrix"
        )
    events = {}
    for owner in (DEMO_USER, COLLEAGUE, "eva fremd", "frieda einweg"):
        appt = (
            Appointment.select()
            .where(Appointment.practitioner == ids[owner])
            .order_by(Appointment.id)
            .first()
        )
        events[owner] = (appt.resource_name, appt.uid)
    w = World(live, ids, events)
    for owner in events:
        resp = live.request(
            "PROPFIND",
            f"/{api.url_segment(owner)}/calendar/",
            PROPFIND_BODY,
            user=owner,
            headers={"Depth": "0"},
        )
        w.tokens[owner] = etree.fromstring(resp.content).findtext(".//D:sync-token", None, NS)
        assert w.tokens[owner], resp.text
    return w


# ---------------------------------------------------------------- requests

PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">'
    "<D:prop><D:current-user-privilege-set/><D:displayname/><D:resourcetype/>"
    "<D:getetag/><D:sync-token/></D:prop></D:propfind>"
)
PROPPATCH_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:">'
    "<D:set><D:prop><D:displayname>Matrix</D:displayname></D:prop></D:set>"
    "</D:propertyupdate>"
)
RANGE = '<C:time-range start="20000101T000000Z" end="20400101T000000Z"/>'
QUERY_BODY = (
    f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/>'
    '<C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
    f'<C:comp-filter name="VEVENT">{RANGE}</C:comp-filter></C:comp-filter>'
    "</C:filter></C:calendar-query>"
)
FREEBUSY_BODY = f'<C:free-busy-query xmlns:C="{CALDAV}">{RANGE}</C:free-busy-query>'


def multiget_body(hrefs: list[str]) -> str:
    refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (
        f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/>'
        f"<C:calendar-data/></D:prop>{refs}</C:calendar-multiget>"
    )


def sync_body(token: str) -> str:
    return (
        '<D:sync-collection xmlns:D="DAV:"><D:sync-token>' + token + "</D:sync-token>"
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


def vevent(uid: str, summary: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//matrix//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260701T080000Z\r\n"
        f"DTEND:20260701T083000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@dataclass
class Request:
    method: str
    path: str
    body: str | None = None
    headers: dict = field(default_factory=dict)
    # Filled in for the checks:
    control_href: str | None = None  # a member the multiget must find
    foreign_hrefs: list[str] = field(default_factory=list)  # members it must not find
    extra_uids: set[str] = field(default_factory=set)  # UIDs of rows made for this cell


def build(world: World, method: str, resource: Resource, actor: str) -> Request:
    """The request of one cell: the method as a client would send it to this resource."""
    path = world.path(actor, resource)
    place = PLACES[resource.place]
    report = {"Depth": "1", "Content-Type": "application/xml"}
    ics = {"Content-Type": "text/calendar; charset=utf-8"}
    if method == "OPTIONS":
        return Request("OPTIONS", path)
    if method in ("PROPFIND-0", "PROPFIND-1"):
        return Request("PROPFIND", path, PROPFIND_BODY, {"Depth": method[-1]})
    if method == "PROPPATCH":
        return Request("PROPPATCH", path, PROPPATCH_BODY)
    if method in ("GET", "HEAD"):
        return Request(method, path)
    if method == "PUT-create":
        if resource.event:  # a create over an existing object: If-None-Match must hold
            uid = world.events[place.owner][1] if place.owner else "nichts@matrix"
            return Request("PUT", path, vevent(uid, "Neu"), {**ics, "If-None-Match": "*"})
        n = world.fresh()
        return Request(
            "PUT",
            f"{path}matrix-{n}.ics",
            vevent(f"matrix-{n}@matrix", "Neu"),
            {**ics, "If-None-Match": "*"},
            extra_uids={f"matrix-{n}@matrix"},
        )
    if method in ("PUT-update", "DELETE"):
        if not resource.event:
            body = vevent("collection@matrix", "Neu") if method == "PUT-update" else None
            return Request(method.split("-")[0], path, body, ics if body else {})
        name, uid = world.fresh_event(place.owner)
        target = world.path(actor, resource, name)
        if method == "DELETE":
            return Request("DELETE", target, extra_uids={uid})
        return Request("PUT", target, vevent(uid, "Verlegt"), ics, extra_uids={uid})
    if method == "calendar-query":
        return Request("REPORT", path, QUERY_BODY, report)
    if method in ("multiget", "multiget-foreign"):
        control = path if resource.event else path + world.event_name(place)
        hrefs = [control]
        foreign = []
        if method == "multiget-foreign":
            for other in RESOURCES:
                other_path = world.path(actor, other)
                if other.event and other_path != control:
                    foreign.append(other_path)
            foreign.append(world.live.url(foreign[0]))  # the same, as an absolute URL
            hrefs += foreign
        return Request(
            "REPORT", path, multiget_body(hrefs), report, control_href=control, foreign_hrefs=foreign
        )
    if method == "sync-collection":
        return Request("REPORT", path, sync_body(""), report)
    if method == "sync-foreign-token":
        other = "eva fremd" if place.owner != "eva fremd" else DEMO_USER
        return Request("REPORT", path, sync_body(world.tokens[other]), report)
    if method == "free-busy":
        return Request("REPORT", path, FREEBUSY_BODY, report)
    if method == "MKCALENDAR":
        return Request("MKCALENDAR", path)
    if method in ("COPY", "MOVE"):
        dest_owner = "eva fremd" if ACTORS[actor] != "eva fremd" else COLLEAGUE
        dest = world.live.url(f"/{api.url_segment(dest_owner)}/calendar/copy.ics")
        return Request(method, path, headers={"Destination": dest, "Overwrite": "T"})
    raise AssertionError(method)


def send(world: World, actor: str, req: Request):
    login = ACTORS[actor]
    return world.live.request(
        req.method, req.path, req.body, user=login, password=DEMO_PASSWORD, headers=req.headers
    )


# ---------------------------------------------------------------- checks


def error_condition(resp) -> str | None:
    """Local name of the precondition element of an error body, if any."""
    if not resp.content or "xml" not in resp.headers.get("Content-Type", ""):
        return None
    root = etree.fromstring(resp.content)
    if root.tag != f"{{{DAV}}}error":
        return None
    names = [etree.QName(c).localname for c in root if etree.QName(c).namespace != "urn:praxis-caldav"]
    return names[0] if names else None


def responses(resp) -> dict[str, list[str]]:
    """href -> every status inside its <D:response> (bare status and propstat statuses)."""
    root = etree.fromstring(resp.content)
    assert root.tag == f"{{{DAV}}}multistatus", resp.text[:300]
    return {
        r.findtext("D:href", "", NS): [s.text for s in r.iter(f"{{{DAV}}}status")]
        for r in root.findall("D:response", NS)
    }


def check_privs(world, actor, req, resp, lvl):
    root = etree.fromstring(resp.content)
    first = root.find("D:response", NS)
    privs = first.find(".//D:current-user-privilege-set", NS)
    got = sorted(etree.QName(p[0]).localname for p in privs.findall("D:privilege", NS))
    assert got == sorted(PRIVILEGES[PRIVILEGES_BY_LEVEL[lvl]]), got


def check_tree(world, actor, req, resp, lvl):
    """A listing never leaves the actor's own tree."""
    me = "/" + world.me(actor) + "/"
    for href in responses(resp):
        assert href == "/" or href.startswith(me), href


def check_proppatch(expected: str):
    def check(world, actor, req, resp, lvl):
        statuses = [s for ss in responses(resp).values() for s in ss]
        assert statuses and all(expected in s for s in statuses), statuses

    return check


def check_ical(world, actor, req, resp, lvl):
    assert resp.content.startswith(b"BEGIN:VCALENDAR"), resp.content[:100]


def check_query(world, actor, req, resp, lvl):
    found = responses(resp)
    assert found and all(h.startswith(req.path) for h in found), list(found)


def check_multiget(world, actor, req, resp, lvl):
    found = responses(resp)
    assert all("200" in s for s in found[req.control_href]), found[req.control_href]
    for href in req.foreign_hrefs:
        assert href in found, href
        assert found[href] == ["HTTP/1.1 404 Not Found"], (href, found[href])


def check_sync(world, actor, req, resp, lvl):
    found = responses(resp)
    assert found and all(h.startswith(req.path) for h in found), list(found)
    assert etree.fromstring(resp.content).findtext("D:sync-token", None, NS)


def check_freebusy(world, actor, req, resp, lvl):
    assert b"BEGIN:VFREEBUSY" in resp.content


def condition(name: str):
    def check(world, actor, req, resp, lvl):
        assert error_condition(resp) == name, resp.text[:300]

    return check


CHECKS = {
    "privs": check_privs,
    "tree": check_tree,
    "ok": check_proppatch("200 OK"),
    "x": check_proppatch("403 Forbidden"),
    "ical": check_ical,
    "query": check_query,
    "mget": check_multiget,
    "mgetf": check_multiget,
    "sync": check_sync,
    "fb": check_freebusy,
    "np": condition("need-privileges"),
    "sr": condition("supported-report"),
    "vst": condition("valid-sync-token"),
}

TABLES = {
    "appointment": Appointment,
    "appointmentoverride": AppointmentOverride,
    "change": Change,
    "patient": Patient,
    "practitioner": Practitioner,
    "grant": Grant,
}


def digest() -> str:
    h = hashlib.sha256()
    for name, model in TABLES.items():
        h.update(name.encode())
        for row in model.select().order_by(model.id).tuples():
            h.update(repr(row).encode())
    return h.hexdigest()


def newest_changes() -> dict[int, int]:
    import peewee as pw

    return dict(
        Change.select(Change.practitioner, pw.fn.MAX(Change.id)).group_by(Change.practitioner).tuples()
    )


def hidden_uids(world: World, actor: str) -> set[str]:
    """UIDs of every calendar the actor may not read."""
    readable = {PLACES[p].owner for p, lvl in ACCESS[actor].items() if lvl in ("own", "rw", "ro")}
    return {uid for owner, (_, uid) in world.events.items() if owner not in readable}


def control(req: Request, place: Place) -> Request:
    """The same request with the owner's name replaced by one nobody has."""
    path = req.path
    if place.owner:
        seg = api.url_segment(place.owner)
        if f"/shared-{seg}/" in path:
            path = path.replace(f"/shared-{seg}/", "/shared-niemand/")
        elif path.startswith(f"/{seg}/"):
            path = "/niemand/" + path[len(seg) + 2 :]
    return Request(req.method, path, req.body, req.headers)


# ---------------------------------------------------------------- the matrix


@pytest.mark.parametrize(
    ("method", "resource", "actor"), CELLS, ids=[f"{m}|{r.name}|{a}" for m, r, a in CELLS]
)
def test_cell(world, method, resource, actor):
    lvl = level(actor, resource)
    spec = EXPECT[method][lvl]
    req = build(world, method, resource, actor)
    before = world.unchanged or digest()
    world.unchanged = None
    changes_before = newest_changes() if (method, lvl) in WRITES else {}
    resp = send(world, actor, req)
    if spec == "COLL":
        spec = COLLECTION_GET
    status, _, check = spec.partition(":")
    assert resp.status_code == int(status), (req.method, req.path, resp.status_code, resp.text[:300])
    if check:
        CHECKS[check](world, actor, req, resp, lvl)
    for uid in hidden_uids(world, actor) | (req.extra_uids if lvl in ("none", "401") else set()):
        assert uid.encode() not in resp.content, uid
    if (method, lvl) in WRITES:
        owner_id = world.ids[PLACES[resource.place].owner]
        after = newest_changes()
        moved = {p for p in after if after[p] != changes_before.get(p)}
        assert moved == {owner_id}, moved
    else:
        assert digest() == before, "a refused or read-only request changed the database"
        world.unchanged = before
    if lvl in ("none", "absent"):
        twin = send(world, actor, control(req, PLACES[resource.place]))
        assert (twin.status_code, error_condition(twin)) == (resp.status_code, error_condition(resp))


# GET/HEAD of a collection: wsgidav without a directory browser forbids reading a collection
# as a document; the same 403 for root, home and every calendar the actor may read.
COLLECTION_GET = "403"


# ---------------------------------------------------------------- UIDs are scoped per calendar


@pytest.mark.parametrize("foreign", [COLLEAGUE, "eva fremd"])
def test_put_with_a_uid_used_in_another_calendar_creates_a_new_appointment(world, foreign):
    """The UID of a colleague's or another practice's appointment is no conflict in one's own
    calendar (no no-uid-conflict, no foreign href): the PUT creates, the other row stays."""
    world.unchanged = None
    name, uid = world.events[foreign]
    other = Appointment.get((Appointment.practitioner == world.ids[foreign]) & (Appointment.uid == uid))
    for target in (f"same-uid-{world.fresh()}.ics", name):  # a new name, and the foreign name
        resp = world.live.request(
            "PUT",
            f"/anna_maier/calendar/{target}",
            vevent(uid, "Eigen"),
            headers={"Content-Type": "text/calendar"},
        )
        assert resp.status_code == 201, resp.text
        assert b"no-uid-conflict" not in resp.content and b"/bernd" not in resp.content
        assert b"/eva" not in resp.content
        mine = Appointment.get(
            (Appointment.practitioner == world.ids[DEMO_USER]) & (Appointment.resource_name == target)
        )
        assert (
            mine.uid == uid and mine.practice_id == Practitioner.get_by_id(world.ids[DEMO_USER]).practice_id
        )
        api.delete_appointment(mine, cancel=False)  # the next target may reuse the UID
    assert Appointment.get_by_id(other.id).revision == other.revision
