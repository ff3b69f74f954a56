"""The tenant flows name the opsflow-postgres plugin they need, before any step."""

from __future__ import annotations

import pytest
from opsflow_linux import tenant


def test_the_installed_postgres_tasks_are_accepted():
    tenant.check_postgres_plugin("provision-tenant", ("role", "database", "grant"))


def test_a_missing_postgres_task_names_the_plugin_to_install():
    with pytest.raises(tenant.PostgresPluginMissing) as caught:
        tenant.check_postgres_plugin("provision-tenant", ("role", "no_such_task"))
    message = str(caught.value)
    assert "postgres.no_such_task not installed" in message
    assert "postgres.role" not in message
    assert "pip install opsflow-postgres" in message


def test_provision_tenant_builds_with_the_plugin_installed():
    flow = tenant.provision_tenant("acme")
    assert "create_role" in [atom.name for atom in flow]
