"""Prepared selects give the rows the query itself gives, however often they run.

_Prepared reuses both the SQL and peewee's column-to-model mapping of the first execution;
a mapping reused wrongly would put one practitioner's values into another's object, or
lose the joined practice.
"""

from __future__ import annotations

from providers.practice import api, directory, store
from providers.practice.api import change_log
from providers.practice.models import Change, Practice, Practitioner
from providers.sql.db import open_database


def _as_dict(p: Practitioner) -> dict:
    return {**p.__data__, "practice": p.practice.__data__}


def test_prepared_rows_equal_the_query_rows_on_every_execution(db_url):
    open_database(db_url)
    north = api.get_or_create_practice("Praxis Nord", "prep-north")
    south = api.get_or_create_practice("Praxis Süd", "prep-south")
    people = [
        api.create_practitioner(north, "eva prep", "pw-prep-1"),
        api.create_practitioner(south, "Dr. Jörg Prep", "pw-prep-2"),
        api.create_practitioner(north, "ida prep", "pw-prep-3"),
    ]
    for round_ in range(3):  # the first execution learns the mapping, the later ones reuse it
        for person in people:
            expected = (
                Practitioner.select(Practitioner, Practice)
                .join(Practice)
                .where(Practitioner.login_key == person.login_key)
                .get()
            )
            got = directory.practitioner_by_login_key(person.login_key)
            assert _as_dict(got) == _as_dict(expected), (round_, person.username)
            by_url = directory.practitioner_by_segment(person.url_key)
            assert _as_dict(by_url) == _as_dict(expected)
            assert "practice" in got.__rel__  # joined, not loaded lazily by a second query
    assert directory.practitioner_by_login_key("nobody here") is None


def test_prepared_change_queries_follow_new_changes(db_url):
    open_database(db_url)
    practice = api.get_or_create_practice("Praxis Log", "prep-log")
    owner = api.create_practitioner(practice, "log prep", "pw-prep-4")
    before = store.current_change(owner.id)
    ids = []
    for name in ("a.ics", "b.ics", "a.ics"):
        ids.append(change_log._log_change(owner.id, name))
        assert store.current_change(owner.id) == ids[-1] > before
    rows, truncated = store.changes_since(owner.id, before)
    assert (rows, truncated) == ([("b.ics", ids[1]), ("a.ics", ids[2])], False)
    assert store.changes_since(owner.id, before, limit=1) == ([("b.ics", ids[1])], True)
    assert store.changes_since(owner.id, ids[2]) == ([], False)
    assert Change.select().where(Change.practitioner == owner.id).count() == 3


def test_postgresql_connections_plan_each_execution(db_url):
    """A prepared statement's generic plan, made while the table was empty, would keep
    scanning the whole table as it grows: every connection asks for custom plans."""
    db = open_database(db_url)
    if not db_url.startswith("postgresql"):
        return  # SQLite plans every statement as it runs
    assert db.execute_sql("SHOW plan_cache_mode").fetchone()[0] == "force_custom_plan"
