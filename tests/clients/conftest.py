"""One deployment at a time per client module: plain HTTP (SQLite and PostgreSQL), TLS on a
free port with a certificate from `praxis-caldav cert`, and behind the `/kalender` prefix proxy.

The database is process-wide, so deployments never overlap: the fixture is module-scoped and
parametrized, and pytest finishes one parameter before it starts the next.
"""

from __future__ import annotations

import pytest

from tests.clients import replay
from tests.conftest import make_database_url

KINDS = ["http", "http-postgresql", "tls", "proxy"]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[str, str]:
    return replay.make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module", params=KINDS)
def deployment(request, tmp_path_factory, postgres_available, certificate):
    kind = request.param
    backend = "postgresql" if kind.endswith("-postgresql") else "sqlite"
    databases = make_database_url(backend, tmp_path_factory, postgres_available)
    db_url = next(databases)
    try:
        with replay.deploy(kind.split("-")[0], db_url, certificate) as dep:
            yield dep
    finally:
        databases.close()  # drops a PostgreSQL database
