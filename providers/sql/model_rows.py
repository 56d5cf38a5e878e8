"""Copies of peewee model instances that peewee itself does not offer.

Reads peewee's per-instance internals (`__data__`, `__rel__`, `_dirty`):
tests/test_sql_adapters.py pins the peewee version this was checked against.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import peewee as pw

M = TypeVar("M", bound=pw.Model)


def detached_copy(row: M) -> M:
    """A copy of a loaded row whose field values and loaded relations can be changed without
    touching the original, and which counts as unchanged (saving it would write nothing)."""
    clone = copy.copy(row)
    clone.__data__ = dict(row.__data__)
    clone.__rel__ = dict(row.__rel__)
    clone._dirty = set()
    return clone
