"""The live view on a real terminal, read back through a terminal emulator.

``opsflow-run`` draws on a pseudo-terminal (its stderr) of a set size while
its stdout goes to a pipe, as in ``opsflow-run FLOW > report.txt``; pyte
plays what it wrote and the test reads the final screen: the bars redrawn
in place (one line for the run, one for its revert), nothing stale left.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import pyte


def run_on_terminal(cli, *args: str, columns: int = 120, rows: int = 40):
    """Run opsflow-run with stderr on a ``columns`` x ``rows`` terminal;
    (exit code, the screen's non-blank lines, stdout)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {key: value for key, value in cli.env.items() if key not in ("COLUMNS",)}
    proc = subprocess.Popen(
        cli.cmd(*args),
        stdin=child,
        stdout=subprocess.PIPE,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(main, 65536)
            except OSError:  # every writer of the terminal is gone
                break
            if not data:
                break
            stream.feed(data)
        stdout = proc.stdout.read().decode()
        proc.wait(timeout=30)
    finally:
        proc.stdout.close()
        os.close(main)
    lines = [line.rstrip() for line in screen.display]
    started = [
        i for i, line in enumerate(lines) if line.startswith("opsflow-run: run ")
    ]
    assert started, lines
    # The line naming the run wraps on a narrow terminal: the bars come after
    # its end, the command to resume the run.
    body = [line for line in lines[started[0] :] if line]
    shown = ""
    for end, line in enumerate(body, start=1):
        shown += line
        if re.search(r"--resume [0-9a-f-]{36}$", shown):
            return proc.returncode, body[end:], stdout
    raise AssertionError(lines)


def test_a_successful_run_leaves_one_full_bar(cli):
    code, screen, stdout = run_on_terminal(
        cli, "fixture-slow", "--store", "steps=3", "--store", "delay=0.3"
    )
    assert code == 0, screen
    assert screen == ["fixture-slow [########################] 3/3 done  SUCCESS"]
    assert stdout.startswith("flow fixture-slow: SUCCESS")


def demo_store(tmp_path, fail_at: str) -> list[str]:
    return [
        "--store",
        f"workdir={tmp_path / 'demo'}",
        "--store",
        f"inventory={tmp_path / 'inventory.jsonl'}",
        "--store",
        f"fail_at={fail_at}",
    ]


def test_a_revert_redraws_its_own_bar_in_place(cli, tmp_path):
    # Seven steps run, the eighth fails, then every one of them is undone.
    # The second time past runs give ETAs: none may be left on the screen.
    for _ in range(2):
        code, screen, stdout = run_on_terminal(
            cli, "demo-provision", *demo_store(tmp_path, "record_inventory")
        )
        assert code == 1, screen
        assert screen == [
            "demo-provision [#####################---] 7/8 done  failed: "
            "fail_after_record_inventory",
            "demo-provision revert [<<<<<<<<<<<<<<<<<<<<<<<<] 8/8 undone  REVERTED",
        ]
        assert "REVERTED" in stdout.splitlines()[0]
        assert not (tmp_path / "demo").exists()


def test_a_failed_revert_shows_which_revert_failed(cli):
    code, screen, stdout = run_on_terminal(cli, "fixture-revert-fails")
    assert code == 2, screen
    assert screen == [
        "fixture-revert-fails [############------------] 1/2 done  failed: boom",
        "fixture-revert-fails revert [<<<<<<<<<<<<------------] 1/2 undone  "
        "revert failed: stubborn  FAILURE",
    ]
    assert "not reverted (needs a person): stubborn" in stdout


def test_the_bar_fits_the_terminal_it_is_drawn_on(cli):
    # 100 characters on a 120-column terminal: whole, though stdout is a
    # pipe; on narrower ones the bar narrows, then the name shortens, and the
    # failed revert and the final state stay in sight, with no line wrapped.
    wide = run_on_terminal(cli, "fixture-revert-fails", columns=120)[1]
    assert wide[-1].endswith("revert failed: stubborn  FAILURE")
    assert len(wide[-1]) > 80
    code, at_80, _ = run_on_terminal(cli, "fixture-revert-fails", columns=80)
    assert code == 2
    assert at_80 == [
        "fixture-revert-fails [############------------] 1/2 done  failed: boom",
        "fixture-revert-fails revert [<<--] 1/2 undone  "
        "revert failed: stubborn  FAILURE",
    ]
    code, at_60, _ = run_on_terminal(cli, "fixture-revert-fails", columns=60)
    assert code == 2
    assert at_60 == [
        "fixture-revert-fails [######-------] 1/2 done  failed: boom",
        "fixtu.. revert 1/2 undone  revert failed: stubborn  FAILURE",
    ]
    code, at_40, _ = run_on_terminal(cli, "fixture-revert-fails", columns=40)
    assert code == 2
    assert at_40 == [
        "fixture-revert.. 1/2 done  failed: boom",
        "revert failed: stubborn  FAILURE",
    ]


def test_a_revert_on_a_narrow_terminal_still_ends_reverted(cli, tmp_path):
    code, screen, stdout = run_on_terminal(
        cli,
        "demo",
        "--store",
        f"workdir={tmp_path / 'demo'}",
        "--fail-at",
        "step_1",
        columns=40,
    )
    assert code == 1, screen
    assert len(screen) == 2, screen
    assert all(len(line) < 40 for line in screen), screen
    assert screen[0].endswith("failed: fail_at_step_1"), screen
    assert screen[1].startswith("demo revert ["), screen
    assert screen[1].endswith("undone  REVERTED"), screen
