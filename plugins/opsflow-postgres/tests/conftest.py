"""PostgreSQL for these tests: ``OPSFLOW_TEST_PG`` or 127.0.0.1:5432, database ``test``.

Without a server the tests skip with the reason; with
``OPSFLOW_REQUIRE_SERVICES=1`` they fail instead.
"""

from __future__ import annotations

import os
import sys
import uuid

import psycopg
import pytest

# pgcheck.py sits beside the tests; make it importable however pytest runs.
sys.path.insert(0, os.path.dirname(__file__))

DSN = os.environ.get("OPSFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def dsn() -> str:
    try:
        psycopg.connect(DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"needs PostgreSQL at {DSN}: {exc}".strip()
        if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return DSN


@pytest.fixture
def name() -> str:
    """A role/database name no other test uses."""
    return "opsflow_t_" + uuid.uuid4().hex[:10]
