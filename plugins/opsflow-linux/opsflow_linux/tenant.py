"""``provision-tenant`` and ``deprovision-tenant``: root and PostgreSQL needed.

A tenant is a network namespace joined to the host by a veth pair (the
network and port), a PostgreSQL database and login role (the volume), an
HTTP server started inside the namespace (the server), checked from the host
through the veth, and an inventory record. The database tasks come from the
``opsflow-postgres`` plugin, looked up by entry-point name
(``postgres.role``, ...), so that plugin must be installed too.

Store keys: ``tenant`` (required: a lowercase letter then up to 9 lowercase
letters or digits), ``subnet`` (an IPv4 network of at least 4 addresses;
default: a /30 in 10.250.0.0/16 derived from the name), ``port`` (default
8080), ``pg_dsn`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``;
may be a ``--secret``), ``db_password`` (give it with ``--secret``),
``workdir`` (default ``<state_path>/tenants/<tenant>``), ``inventory``
(default ``<state_path>/inventory.jsonl``), ``fail_at``.
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import os
import re
import sys
import zlib
from collections.abc import Collection
from typing import Any

from opsflow.patterns import linear_flow
from opsflow.plugins.tasks import load_task
from opsflow_linux import faults, files, network, paths, services
from opsflow_linux.demo import template
from opsflow_linux.fill import literal
from opsflow_linux.inventory import InventoryRecord, InventoryRemove

__all__ = [
    "PostgresPluginMissing",
    "TenantNames",
    "check_postgres_plugin",
    "deprovision_tenant",
    "provision_tenant",
    "tenant_names",
]

TENANT_NAME = re.compile(r"[a-z][a-z0-9]{0,9}")
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TENANT_RANGE = ipaddress.ip_network("10.250.0.0/16")


class PostgresPluginMissing(RuntimeError):
    """The tenant flows need task plugins of ``opsflow-postgres``, not installed."""


def check_postgres_plugin(flow: str, needed: Collection[str]) -> None:
    """Refuse to build ``flow`` when a ``postgres.*`` task it needs is not
    installed, before any step runs and naming the package to install.

    :raises PostgresPluginMissing: naming the missing task plugins.
    """
    installed = importlib.metadata.entry_points(group="opsflow.tasks").names
    missing = [
        f"postgres.{kind}" for kind in needed if f"postgres.{kind}" not in installed
    ]
    if missing:
        raise PostgresPluginMissing(
            f"{flow} needs the opsflow-postgres plugin for its database steps "
            f"({', '.join(missing)} not installed): pip install opsflow-postgres "
            "(in this repository: plugins/opsflow-postgres), or "
            "pip install 'opsflow-linux[tenant]'"
        )


class TenantNames(dict):
    """The names and addresses of one tenant (a dict, for templates)."""


def tenant_names(
    tenant: str, subnet: str | None = None, port: int = 8080
) -> TenantNames:
    """Every name and address ``provision-tenant`` uses for ``tenant``.

    :raises ValueError: a tenant name, subnet or port that cannot be used.
    """
    if not isinstance(tenant, str) or not TENANT_NAME.fullmatch(tenant):
        raise ValueError(
            f"tenant must be a lowercase letter then up to 9 lowercase letters or "
            f"digits (it names links, limited to 15 characters), got {tenant!r}"
        )
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"port must be a TCP port number, got {port!r}")
    if subnet is None:
        index = zlib.crc32(tenant.encode()) % (TENANT_RANGE.num_addresses // 4)
        network_ = ipaddress.ip_network(
            (int(TENANT_RANGE.network_address) + 4 * index, 30)
        )
    else:
        network_ = ipaddress.ip_network(str(subnet), strict=False)
        if network_.version != 4 or network_.num_addresses < 4:
            raise ValueError(f"subnet must be IPv4 with room for 2 hosts: {subnet!r}")
    host_ip, tenant_ip = list(network_.hosts())[:2]
    prefix = network_.prefixlen
    return TenantNames(
        tenant=tenant,
        netns=f"opsflow-{tenant}",
        host_link=f"vth-{tenant}",
        tenant_link=f"vtn-{tenant}",
        host_ip=str(host_ip),
        tenant_ip=str(tenant_ip),
        host_address=f"{host_ip}/{prefix}",
        tenant_address=f"{tenant_ip}/{prefix}",
        port=port,
        database=f"tenant_{tenant}",
        role=f"tenant_{tenant}",
        url=f"http://{tenant_ip}:{port}/",
    )


def _paths(
    tenant: str, workdir: str | None, inventory_path: str | None
) -> tuple[str, str]:
    state = paths.state_path() if not (workdir and inventory_path) else ""
    workdir = os.path.abspath(workdir or os.path.join(state, "tenants", tenant))
    inventory_path = os.path.abspath(
        inventory_path or os.path.join(state, "inventory.jsonl")
    )
    return workdir, inventory_path


def provision_tenant(
    tenant: str,
    subnet: str | None = None,
    port: int = 8080,
    pg_dsn: str | None = None,
    workdir: str | None = None,
    inventory: str | None = None,
    fail_at: str | None = None,
) -> linear_flow.Flow:
    """The ``provision-tenant`` flow."""
    names = tenant_names(tenant, subnet, port)
    workdir, inventory_path = _paths(tenant, workdir, inventory)
    here = literal(workdir)
    kinds = ("role", "database", "grant")
    check_postgres_plugin("provision-tenant", kinds)
    role, database, grant = (load_task(f"postgres.{kind}") for kind in kinds)
    postgres: dict[str, Any] = {}
    if pg_dsn is None:  # not in the store: the default, baked into the tasks
        postgres["inject"] = {"pg_dsn": DEFAULT_DSN}
    netns = names["netns"]
    context = {**names, "workdir": workdir}
    steps = [
        network.Namespace(netns, name="create_netns"),
        network.VethPair(
            names["host_link"], names["tenant_link"], netns, name="create_veth"
        ),
        network.Address(names["host_link"], names["host_address"], name="host_address"),
        network.Address(
            names["tenant_link"],
            names["tenant_address"],
            netns=netns,
            name="tenant_address",
        ),
        network.LinkUp(names["host_link"], name="host_link_up"),
        network.LinkUp(names["tenant_link"], netns=netns, name="tenant_link_up"),
        network.LinkUp("lo", netns=netns, name="tenant_loopback_up"),
        role(names["role"], name="create_role", **postgres),
        database(names["database"], name="create_database", **postgres),
        grant(names["database"], names["role"], name="grant_database", **postgres),
        files.Directory(here, mode=0o750, name="create_workdir"),
        files.Template(
            f"{here}/tenant.conf",
            template("tenant.conf.j2"),
            variables=context,
            name="render_config",
        ),
        files.Template(
            f"{here}/index.html",
            template("tenant-index.html.j2"),
            variables=context,
            name="write_page",
        ),
        services.Service(
            [
                sys.executable,
                "-m",
                "http.server",
                str(port),
                "--bind",
                names["tenant_ip"],
            ],
            pidfile=f"{here}/service.pid",
            logfile=f"{here}/service.log",
            cwd=here,
            netns=netns,
            name="start_service",
        ),
        services.HttpHealthCheck(
            names["url"], expect_text=f"tenant {tenant}", name="health_check"
        ),
        InventoryRecord(
            literal(inventory_path),
            {
                "kind": "tenant",
                "tenant": tenant,
                "netns": netns,
                "address": names["tenant_address"],
                "database": names["database"],
                "url": names["url"],
                "workdir": here,
            },
            name="record_inventory",
        ),
    ]
    return faults.linear_with_failure_at("provision-tenant", steps, fail_at)


def deprovision_tenant(
    tenant: str,
    pg_dsn: str | None = None,
    workdir: str | None = None,
    inventory: str | None = None,
    fail_at: str | None = None,
) -> linear_flow.Flow:
    """The ``deprovision-tenant`` flow: everything a tenant had, removed."""
    names = tenant_names(tenant)
    workdir, inventory_path = _paths(tenant, workdir, inventory)
    kinds = ("drop_database", "drop_role")
    check_postgres_plugin("deprovision-tenant", kinds)
    drop_database, drop_role = (load_task(f"postgres.{kind}") for kind in kinds)
    postgres: dict[str, Any] = {}
    if pg_dsn is None:
        postgres["inject"] = {"pg_dsn": DEFAULT_DSN}
    steps = [
        services.StopService(os.path.join(workdir, "service.pid"), name="stop_service"),
        InventoryRemove(
            inventory_path, {"kind": "tenant", "tenant": tenant}, name="remove_record"
        ),
        files.RemoveTree(workdir, name="remove_workdir"),
        drop_database(names["database"], name="drop_database", **postgres),
        drop_role(names["role"], name="drop_role", **postgres),
        network.RemoveNamespace(names["netns"], name="remove_netns"),
    ]
    return faults.linear_with_failure_at("deprovision-tenant", steps, fail_at)
