"""Shared plumbing of scripts/bench-packets, bench-lldb and bench-dap: one server (gostub,
gdbserver or lldb-server) launched on a loopback port for one session, and killed with its
debuggee when the session ends; medians and ratios for the tables.

The process bookkeeping (every process started is killed by its pid on exit or on a signal)
and the gostub build come from scripts/bench, loaded as a module. GOSTUB=/path/to/gostub
benchmarks another gostub binary than target/release/gostub.

Quirks met:
  * gdbserver (not --multi) stays until the program it launched exits, and lldb-server's
    debuggee may outlive a dropped connection: the session end kills the debuggee by pid
    (read from /proc/SERVER/task/SERVER/children), then the server.
  * A server prints "Listening on port" before it accepts; the port is taken as ready when
    /proc/net/tcp shows it in LISTEN state.
"""

import atexit
import importlib.machinery
import importlib.util
import os
import shutil
import signal
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_bench():
    """scripts/bench (no .py suffix) as a module, for its process helpers."""
    path = os.path.join(HERE, "bench")
    loader = importlib.machinery.SourceFileLoader("gostub_bench", path)
    spec = importlib.util.spec_from_loader("gostub_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


B = _load_bench()
ROOT, GDBSERVER = B.ROOT, B.GDBSERVER
# GOSTUB=/path/to/gostub benchmarks another build (e.g. one from before a change)
GOSTUB = os.environ.get("GOSTUB") or B.GOSTUB
LLDB_SERVER = shutil.which("lldb-server-19") or "/usr/bin/lldb-server-19"
FIXTURE_SECONDS = B.FIXTURE_SECONDS


def install_cleanup():
    """Kill everything started, on exit and on SIGINT/SIGTERM/SIGHUP."""
    atexit.register(B._cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, B._on_signal)


def server_argv(server, port, program, args):
    """argv of SERVER (gdbserver, lldb-server, gostub, gostub-os) serving PROGRAM ARGS."""
    comm = "127.0.0.1:%d" % port
    if server == "gdbserver":
        return [GDBSERVER, "--once", comm, program] + args
    if server == "lldb-server":
        return [LLDB_SERVER, "gdbserver", comm, program] + args
    view = ["--threads", "os"] if server == "gostub-os" else []
    return [GOSTUB, "--once"] + view + [comm, program] + args


class Server:
    """One server on a free loopback port, for a `with` block; `pid` is the server's, `port`
    the port to connect to. Leaving the block kills the debuggee and the server."""

    def __init__(self, server, program, args, log_path):
        self.name = server
        self.port = B.free_port()
        self._log = open(log_path, "w")
        self.proc = B.popen(server_argv(server, self.port, program, args),
                            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        B.wait_for(lambda: B.listening(self.port) or self.proc.poll() is not None, 20,
                   "%s to listen" % server)
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited with %s before listening (see %s)"
                               % (server, self.proc.returncode, log_path))

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        for pid in children(self.pid):
            B._kill_pid(pid)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()

    def cpu_seconds(self):
        """(CPU time, of it in user mode) the server's main thread has used: the total is
        ns-precise (schedstat), the user part counted in clock ticks (/proc/PID/stat)."""
        with open("/proc/%d/schedstat" % self.pid) as f:
            total = int(f.read().split()[0]) / 1e9
        with open("/proc/%d/stat" % self.pid) as f:
            utime = int(f.read().rsplit(")", 1)[1].split()[11])
        return total, utime / os.sysconf("SC_CLK_TCK")


def children(pid):
    """The child processes of PID's main thread."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v):
    return B.fmt(v)


def ratio(value, reference):
    """value / reference as text ("1.25x"), "-" when either is missing."""
    if not isinstance(value, (int, float)) or not isinstance(reference, (int, float)) or not reference:
        return "-"
    return "%.2fx" % (value / reference)


def print_table(title, names, rows, reference, note):
    """rows: [(figure, {server: value})]; every column after the reference also shows
    value / reference."""
    others = [n for n in names if n != reference]
    head = "%-40s %14s" % (title, reference) + "".join(
        " %14s %9s" % (n, "/" + reference[:8]) for n in others)
    print(head)
    print("-" * len(head))
    for fig, vals in rows:
        ref = vals.get(reference)
        line = "%-40s %14s" % (fig, fmt(ref))
        for n in others:
            line += " %14s %9s" % (fmt(vals.get(n)), ratio(vals.get(n), ref))
        print(line)
    print(note)
    print()
