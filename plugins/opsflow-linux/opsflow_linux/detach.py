"""Start a program detached from opsflow: ``python -m opsflow_linux.detach``.

Usage: ``python -m opsflow_linux.detach LOGFILE CWD -- PROGRAM ARG...``.

This launcher forks once more; the child starts a new session, sends its
output to LOGFILE, and becomes PROGRAM. The launcher prints the child's pid
and exits, so the program is adopted by init and outlives the opsflow run,
its executor workers and their pools. The fork happens here, in a small
single-threaded process, never inside opsflow's multi-threaded engine.
An ``exec`` that fails is reported on stderr with exit status 127.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    logfile, cwd, program = argv[0], argv[1], argv[3:]
    read_end, write_end = os.pipe()  # closed by a successful exec (O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the program
        os.close(read_end)
        try:
            os.setsid()
            log = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            if cwd:
                os.chdir(cwd)
            os.execvp(program[0], program)
        except OSError as exc:
            os.write(write_end, f"{program[0]}: {exc.strerror}".encode())
        os._exit(127)
    os.close(write_end)
    error = os.read(read_end, 4096)
    if error:
        os.waitpid(pid, 0)
        print(error.decode(errors="replace"), file=sys.stderr)
        return 127
    print(pid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
