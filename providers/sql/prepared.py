"""Selects whose SQL is built once, and on PostgreSQL also parsed and planned once.

Building the SQL of a three-table select costs peewee more than SQLite needs to run it;
PostgreSQL spent more time parsing and planning a select of 100 names than running it. A
Prepared select is built once per database; on PostgreSQL it is a server-side prepared
statement per connection (PREPARE once, then EXECUTE with the values).
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections.abc import Callable

import peewee as pw

from providers.practice.models import database_proxy
from providers.sql.dialect import dialect_of

_NUMBERS = itertools.count(1)


def _placeholder(kind: type, position: int) -> object:
    """A value no caller passes, one per argument position: it survives the field's
    conversion to a parameter, so its place among the query's parameters marks the argument's."""
    if kind is int:
        return -918_273_645 - position
    if kind is str:
        return f"\x00prepared-{position}\x00"
    raise TypeError(f"prepared arguments are int or str, not {kind.__name__}")


# Statements prepared on each PostgreSQL connection (a new connection prepares again).
_PG_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PG_PARAM = re.compile(r"%%|%s")
# The SELECT each prepared statement name stands for (tests count selects by their text).
STATEMENTS: dict[str, str] = {}


class Prepared:
    """A select whose SQL peewee builds once per database; a call only binds new values.

    Building the SQL of a three-table select costs peewee more than SQLite needs to run it
    (docs/benchmarks/code-decisions.md): the per-request lookups use this instead. `build`
    gets placeholders (values no caller passes) and returns the query; each placeholder
    marks where the matching argument goes in the parameter list. Rows come back as the
    same model instances (joins included) the query itself would give.

    `kinds`: the type (int or str) of each argument, in order; `build` is called once with a
    placeholder value of each kind that no caller passes.
    """

    def __init__(self, build: Callable[..., pw.ModelSelect], *kinds: type):
        self._build = build
        self._placeholders = tuple(_placeholder(kind, i) for i, kind in enumerate(kinds))
        self._by_db: dict[int, tuple[pw.Database, pw.ModelSelect, str, list, list]] = {}
        self._name = f"praxis_{next(_NUMBERS)}"
        # How peewee maps this query's columns onto models: the same for every execution of
        # the same SQL, but peewee works it out again per cursor (a large share of a GET).
        self._row_mapping: dict[str, dict] = {}  # by SQL text: the same text, the same columns

    def _prepare(self, db: pw.Database) -> tuple[pw.Database, pw.ModelSelect, str, list, list]:
        query = self._build(*self._placeholders)
        sql, params = query.sql()
        slots = [
            next((i for i, ph in enumerate(self._placeholders) if type(ph) is type(p) and ph == p), None)
            for p in params
        ]
        entry = (db, query, sql, list(params), slots)
        self._by_db[id(db)] = entry
        return entry

    def _execute(self, args: tuple) -> tuple[pw.ModelSelect, str, object]:
        db = database_proxy.obj
        entry = self._by_db.get(id(db))
        if entry is None or entry[0] is not db:
            entry = self._prepare(db)
        _, query, sql, params, slots = entry
        bound = [p if slot is None else args[slot] for p, slot in zip(params, slots, strict=True)]
        if dialect_of(db).prepares_statements:
            return query, sql, _execute_on_pg(db, self._name, sql, bound)
        return query, sql, db.execute_sql(sql, bound)

    def wrapper(self, *args: object):
        """Execute; peewee's cursor wrapper over the rows, its column mapping already set."""
        query, sql, cursor = self._execute(args)
        wrapper = query._get_cursor_wrapper(cursor)
        mapping = self._row_mapping.get(sql)
        if mapping is None:
            wrapper.initialize()
            self._row_mapping[sql] = {k: v for k, v in vars(wrapper).items() if k not in _PER_CURSOR}
        else:
            wrapper.__dict__.update(mapping)
        wrapper.initialized = True
        return wrapper

    def rows(self, *args: object) -> list:
        return list(self.wrapper(*args))

    def rows_unless(
        self, args: tuple, columns: tuple[str, ...], value_of: Callable[..., object]
    ) -> tuple[list, list[tuple[tuple, object]]]:
        """(models, [(column values, value)]): each row becomes a model unless
        `value_of(*its values of columns)` gives a value (not None); such a row is never
        built (building joined models is the cost this saves). A column name appearing
        twice (a join) means the first: the queried model's columns come first."""
        wrapper = self.wrapper(*args)
        names = [d[0] for d in wrapper.cursor.description]
        at = [names.index(c) for c in columns]
        models, values = [], []
        for row in wrapper.cursor.fetchall():
            picked = tuple(row[i] for i in at)
            value = value_of(*picked)
            if value is None:
                models.append(wrapper.process_row(row))
            else:
                values.append((picked, value))
        return models, values

    def raw_tuples(self, *args: object) -> list[tuple]:
        """The rows as the driver returns them: for columns that need no conversion."""
        return self._execute(args)[2].fetchall()

    def raw_cursor(self, *args: object):
        """The driver's cursor over the rows, to read them one at a time."""
        return self._execute(args)[2]


def execute(db: pw.Database, sql: str, params: list):
    """Run a statement built once (a write); on PostgreSQL prepared once per connection.

    A device's create is one INSERT of some forty values, which PostgreSQL would otherwise
    parse anew each time (docs/benchmarks/code-decisions.md).
    """
    if not dialect_of(db).prepares_statements:
        return db.execute_sql(sql, params)
    name = _NAMES.get(sql)
    if name is None:
        name = _NAMES.setdefault(sql, f"praxis_{next(_NUMBERS)}")
    return _execute_on_pg(db, name, sql, params)


_NAMES: dict[str, str] = {}  # statement name of each SQL text passed to execute()


def _execute_on_pg(db: pw.PostgresqlDatabase, name: str, sql: str, bound: list):
    conn = db.connection()
    prepared = _PG_PREPARED.get(conn)
    if prepared is None:
        prepared = _PG_PREPARED[conn] = set()
    if name not in prepared:
        numbered = iter(range(1, len(bound) + 1))
        text = _PG_PARAM.sub(lambda m: "%%" if m.group(0) == "%%" else f"${next(numbered)}", sql)
        db.execute_sql(f"PREPARE {name} AS {text}")
        prepared.add(name)
        STATEMENTS[name] = sql
    if not bound:
        return db.execute_sql(f"EXECUTE {name}")
    return db.execute_sql(f"EXECUTE {name} ({', '.join(['%s'] * len(bound))})", bound)


# What a peewee cursor wrapper holds about one execution, not about the query's columns.
_PER_CURSOR = frozenset({"cursor", "count", "index", "initialized", "populated", "row_cache"})
