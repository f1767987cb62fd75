#!/usr/bin/env python3
"""pty_run.py COLS ANSWER OUTFILE -- CMD ARGS...: runs CMD on a pseudo-terminal of COLS
columns (stdin, stdout and stderr all the terminal), types ANSWER and Enter when it asks
"type yes to send" (ANSWER "-" = never answer: the terminal is closed instead), writes
everything the terminal showed to OUTFILE, and exits with CMD's exit status."""
import fcntl, os, pty, select, struct, sys, termios, time

cols, answer, outfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmd = sys.argv[sys.argv.index('--') + 1:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, cols, 0, 0))
    os.execvp(cmd[0], cmd)
out, asked, deadline = b'', False, time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if not r:
        continue
    try:
        chunk = os.read(fd, 65536)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    out += chunk
    if not asked and b'type yes to send' in out:
        asked = True
        if answer != '-':
            os.write(fd, answer.encode() + b'\n')
_, status = os.waitpid(pid, 0)
open(outfile, 'wb').write(out)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status >> 8)
