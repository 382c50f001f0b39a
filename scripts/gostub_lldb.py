"""gostub helper commands for lldb.  Load with:  command script import scripts/gostub_lldb.py

The same commands as scripts/gdbinit. The Go commands ask the stub through
`process plugin packet monitor ...`; their output is the stub's text.
"""

import lldb

_RUNTIME_PREFIXES = ("runtime.", "runtime/internal/", "internal/runtime/")


def _monitor(debugger, text, result):
    interp = debugger.GetCommandInterpreter()
    ret = lldb.SBCommandReturnObject()
    interp.HandleCommand("process plugin packet monitor " + text, ret)
    if not ret.Succeeded():
        result.SetError(ret.GetError() or "monitor command failed")
        return
    # lldb echoes the packet and the final OK; keep only what the stub printed.
    lines = [l for l in (ret.GetOutput() or "").splitlines()
             if not l.lstrip().startswith(("packet:", "response:"))]
    result.AppendMessage("\n".join(lines))


def goroutines(debugger, command, result, internal_dict):
    """goroutines [-s STATUS] [-w WAITREASON] [-f FUNC] [-l KEY=VALUE] [-new] [-group top|start|go|wait] [-n LIMIT]: list goroutines (-new: only those created since the previous stop's listing, and how many exited)"""
    _monitor(debugger, ("goroutines " + command).strip(), result)


def goroutine(debugger, command, result, internal_dict):
    """goroutine ID [bt]: the Go runtime's traceback of one goroutine"""
    _monitor(debugger, ("goroutine " + command).strip(), result)


def gtraceback(debugger, command, result, internal_dict):
    """gtraceback [none|single|all|system|crash]: show or set the traceback policy"""
    _monitor(debugger, ("traceback " + command).strip(), result)


def gthreads(debugger, command, result, internal_dict):
    """gthreads [goroutines|os]: show or set what lldb sees as threads (lldb shows a new view from the next stop on)"""
    _monitor(debugger, ("threads " + command).strip(), result)


def gstats(debugger, command, result, internal_dict):
    """gstats: gostub's memory cache and syscall figures"""
    _monitor(debugger, "stats", result)


def go_trim_stack(debugger, command, result, internal_dict):
    """go-trim-stack: select the first frame of user code, past Go runtime frames"""
    thread = debugger.GetSelectedTarget().GetProcess().GetSelectedThread()
    if not thread.IsValid():
        result.SetError("no thread selected")
        return
    start = thread.GetSelectedFrame().GetFrameID()
    for i in range(start, min(thread.GetNumFrames(), 10000)):
        name = thread.GetFrameAtIndex(i).GetFunctionName() or ""
        if name and not name.startswith(_RUNTIME_PREFIXES):
            thread.SetSelectedFrame(i)
            result.AppendMessage("frame #%d: %s" % (i, name))
            return
    result.SetError("no user frame in this thread")


def gostub_connect(debugger, command, result, internal_dict):
    """gostub-connect PORT (or HOST:PORT): connect to a gostub"""
    arg = command.strip()
    if not arg:
        result.SetError("usage: gostub-connect PORT")
        return
    address = arg if ":" in arg else "127.0.0.1:" + arg
    ret = lldb.SBCommandReturnObject()
    debugger.GetCommandInterpreter().HandleCommand("gdb-remote " + address, ret)
    result.AppendMessage(ret.GetOutput() or "")
    if not ret.Succeeded():
        result.SetError(ret.GetError())


def __lldb_init_module(debugger, internal_dict):
    for name, func in [
        ("goroutines", "goroutines"),
        ("goroutine", "goroutine"),
        ("gtraceback", "gtraceback"),
        ("gthreads", "gthreads"),
        ("gstats", "gstats"),
        ("go-trim-stack", "go_trim_stack"),
        ("gostub-connect", "gostub_connect"),
    ]:
        debugger.HandleCommand(
            "command script add -o -f %s.%s %s" % (__name__, func, name))
