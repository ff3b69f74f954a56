"""``opsflow-web``: serve the run store as a live, read-only web view.

Reads ``opsflow.conf`` as ``opsflow-run`` does (``--config-file``,
``--config-dir``; ``--host``/``--port`` win over ``[web]``), checks the
bind rule (a non-loopback address needs ``[web] auth_token_file``), binds
the socket, then serves :func:`opsflow.web.create_app` under uvicorn until
SIGINT/SIGTERM. Every error before serving is one line on stderr with the
exit code of the README's table: 78 configuration (a non-loopback address
without a token, a token file others can read), 69 unavailable (the
address is in use, the store cannot be reached), 64 usage. The store is
read once before opsflow-web says it serves.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from collections.abc import Sequence

from opsflow.cli.exits import ExitCode, report_error

__all__ = ["main"]

PROG = "opsflow-web"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the opsflow run store as a live, read-only web view "
        "(runs, their steps and pictures, flows and their plans; JSON under "
        "/api/v1/).",
    )
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="opsflow.conf to read (repeatable; default: oslo.config's search "
        "path, ~/.opsflow/opsflow.conf then /etc/opsflow/opsflow.conf)",
    )
    parser.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of *.conf files read after --config-file (repeatable)",
    )
    parser.add_argument("--host", help="address to listen on (default: [web] host)")
    parser.add_argument(
        "--port", type=int, help="TCP port to listen on (default: [web] port)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="tracebacks for errors, access log"
    )
    return parser


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, so a taken port is one clear error.

    :raises Unavailable: it cannot be bound (exit 69).
    """
    from opsflow.exceptions import Unavailable

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise Unavailable(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    return sock


def serve(argv: Sequence[str] | None = None) -> int:
    """Parse, configure, check, bind, then serve until stopped."""
    import uvicorn

    from opsflow.conf import loader
    from opsflow.plugins.catalog import Catalog
    from opsflow.runs import store
    from opsflow.runs.service import plugin_environment
    from opsflow.web import create_app, security

    args = _parser().parse_args(argv)
    conf = loader.load(
        args.config_file,
        args.config_dir,
        overrides={
            ("web", "host"): ("--host", args.host),
            ("web", "port"): ("--port", args.port),
        },
    )
    host, port = str(conf.web.host), int(conf.web.port)
    token = security.check_bind(host, conf.web.auth_token_file)
    sock = _listen(host, port)
    catalog = Catalog(conf.flow_dirs)
    with contextlib.closing(sock), plugin_environment(conf):
        app = create_app(conf, catalog, token)  # reads the store: 69 if it cannot
        config = uvicorn.Config(
            app,
            log_level="info" if args.debug else "warning",
            access_log=args.debug,
            lifespan="on",
            server_header=False,
        )
        shown_host = f"[{host}]" if ":" in host else host
        bound_port = sock.getsockname()[1]
        print(
            f"{PROG}: serving {store.describe(conf)} on "
            f"http://{shown_host}:{bound_port}/"
            + (" (token required)" if token else ""),
            file=sys.stderr,
            flush=True,
        )
        uvicorn.Server(config).run(sockets=[sock])
    return ExitCode.SUCCESS


def main(argv: Sequence[str] | None = None) -> int:
    """The ``opsflow-web`` console script."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return serve(argv)
    except KeyboardInterrupt:
        return ExitCode.SUCCESS
    except ImportError as exc:
        print(
            f"{PROG}: error: {exc.name or exc} is not installed: "
            "pip install 'opsflow[web]'",
            file=sys.stderr,
        )
        return int(ExitCode.UNAVAILABLE)
    except Exception as exc:
        return report_error(exc, debug, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
