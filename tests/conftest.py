"""Test configuration.

Under CI (``CI`` set in the environment) hypothesis runs derandomized and
without its example database, so a run is reproducible from the commit alone;
locally it explores new examples on every run.

The model registry's two real back-ends (for tests/deploy and the
``fugue-ppl models`` tests): a SQLite file in a temp directory, and a
PostgreSQL 16 server (the ``pgserver`` wheel of the [test] extra) started once
per session in its own directory and stopped at the end. Each test gets a
fresh SQLite file or a fresh PostgreSQL database.

``backend.outage()`` makes the store unavailable for a while: SQLite's file is
held under an exclusive lock by another connection (writers time out);
PostgreSQL's database refuses connections and its sessions are terminated.
"""

import contextlib
import itertools
import os
import shutil
import sqlite3
import sys
import tempfile
import textwrap

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


PROMTOOL_INSTALL = "apt-get install prometheus"


@pytest.fixture
def promtool():
    """The path of the real ``promtool`` (Debian package ``prometheus``): skipped
    when it is missing, a failure under CI=true (.ci/run installs it)."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"promtool is missing under CI=true (.ci/run installs it: "
                        f"{PROMTOOL_INSTALL})")
        pytest.skip(f"promtool is not installed: {PROMTOOL_INSTALL}")
    return path


# ---------------------------------------------------------------- the registry's back-ends

#: The password every PostgreSQL URL of the tests carries (the server trusts local
#: connections, so it is never checked; it must never be shown).
PASSWORD = "pw-Zq7-never-shown"
BACKENDS = ("sqlite", "postgresql")

_ids = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    pgserver = pytest.importorskip("pgserver", reason='pgserver is in the [test] extra: '
                                   'pip install ".[test]"')
    psycopg = pytest.importorskip("psycopg")
    # pgserver runs useradd and opens the permissions of its directory's parents: its own
    # directory, nothing else in it.
    root = tempfile.mkdtemp(prefix="fugue-registry-pg-", dir="/tmp")
    server = pgserver.get_server(root, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        # a throw-away server: durability only costs time (and its shutdown's checkpoint)
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield server, psycopg
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def pg_url(server, database):
    """The URL of ``database`` on the test server, with the test password in it."""
    uri = server.get_uri(database)
    assert uri.startswith("postgresql://postgres:@")
    return uri.replace("postgresql://postgres:@", f"postgresql://postgres:{PASSWORD}@", 1)


@pytest.fixture
def password():
    return PASSWORD


class Backend:
    """One store for one test: URLs, registries (closed at the end), outages."""

    password = PASSWORD

    def __init__(self, kind, tmp_path, pg=None):
        self.kind = kind
        self.tmp_path = tmp_path
        self.pg = pg
        self.registries = []
        self.databases = []
        self.url = self.fresh_url()

    def fresh_url(self):
        """The URL of a new, empty store."""
        n = next(_ids)
        if self.kind == "sqlite":
            return str(self.tmp_path / f"registry-{n}.sqlite3")
        server, psycopg = self.pg
        name = f"fugue_test_{os.getpid()}_{n}"
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.databases.append(name)
        return pg_url(server, name)

    @property
    def database(self):
        return self.url.split("@/", 1)[1].split("?")[0]

    def registry(self, url=None, **settings):
        from fugue_ppl.deploy import ModelRegistry

        settings.setdefault("timeout_seconds", 2.0)
        reg = ModelRegistry(url=url or self.url, **settings)
        self.registries.append(reg)
        return reg

    def connect(self):
        """A plain DB-API connection to the store (to look under the registry)."""
        if self.kind == "sqlite":
            return sqlite3.connect(self.url, isolation_level=None)
        return self.pg[1].connect(self.url, autocommit=True)

    @contextlib.contextmanager
    def outage(self):
        if self.kind == "sqlite":
            holder = sqlite3.connect(self.url, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            return
        server, psycopg = self.pg
        with psycopg.connect(server.get_uri(), autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {self.database} WITH ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,))
            try:
                yield
            finally:
                admin.execute(f"ALTER DATABASE {self.database} WITH ALLOW_CONNECTIONS true")

    def close(self):
        for reg in self.registries:
            reg.close()
        if self.kind == "postgresql":
            server, psycopg = self.pg
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                for name in self.databases:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    pg = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    b = Backend(request.param, tmp_path, pg)
    yield b
    b.close()


@pytest.fixture
def pg_backend(pg_server, tmp_path):
    b = Backend("postgresql", tmp_path, pg_server)
    yield b
    b.close()


@pytest.fixture(scope="session")
def model_modules():
    """Importable test modules (a directory on sys.path for the session):

    - ``fugue_registry_models``: a factory and a few broken things;
    - ``fugue_registry_sideeffect``: writes a marker file when imported (it never may be);
    - ``fugue_registry_broken``: raises when imported.
    """
    root = tempfile.mkdtemp(prefix="fugue-registry-models-")
    marker = os.path.join(root, "IMPORTED")
    files = {
        "fugue_registry_models.py": """
            import fugue_ppl as fp
            from fugue_ppl.validation import Finite, Schema

            INPUTS = Schema({"reading": Finite()})
            NOT_CALLABLE = 3

            def make(params):
                mean, sd = params["prior"]["mean"], params["prior"]["sd"]
                noise = params["noise"]

                def model(reading):
                    t = fp.sample("temperature", fp.Normal(mean, sd))
                    fp.observe("sensor", fp.Normal(t, noise), reading)
                    return t
                return model

            def failing_factory(params):
                raise ValueError("no prior given")

            def not_a_factory(params):
                return 42
            """,
        "fugue_registry_sideeffect.py": f"""
            open({marker!r}, "w").close()

            def model():
                return 1
            """,
        "fugue_registry_broken.py": """
            raise RuntimeError("broken at import")
            """,
    }
    for name, text in files.items():
        with open(os.path.join(root, name), "w", encoding="utf-8") as fh:
            fh.write(textwrap.dedent(text))
    sys.path.insert(0, root)
    yield {"root": root, "marker": marker}
    sys.path.remove(root)
    for name in files:
        sys.modules.pop(name[:-3], None)
    shutil.rmtree(root, ignore_errors=True)
