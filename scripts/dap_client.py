"""A minimal Debug Adapter Protocol client (Python stdlib only), for scripts/bench-dap.

It speaks DAP as VS Code does: `Content-Length: N\\r\\n\\r\\n` framed JSON messages over an
adapter's stdin/stdout (lldb-dap) or a TCP socket (`dlv dap --listen`). A reader thread
queues every message; `request` sends one and waits for its response, keeping the events
that arrive meanwhile for `wait_event`.

Quirks met: adapters send events (output, module, thread, ...) between a request and its
response, and some send `initialized` only after `launch`/`attach`; every wait has a
timeout so a stuck adapter cannot hang the bench.
"""

import json
import queue
import socket
import threading
import time


class DapError(Exception):
    pass


class DapClient:
    def __init__(self, reader, writer, timeout=60):
        """READER/WRITER: binary file objects (an adapter's stdout/stdin, or a socket's
        makefile)."""
        self._reader = reader
        self._writer = writer
        self._seq = 0
        self._messages = queue.Queue()
        self._events = []
        self.timeout = timeout
        threading.Thread(target=self._read_loop, daemon=True).start()

    @classmethod
    def over_tcp(cls, port, timeout=60):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        client = cls(sock.makefile("rb"), sock.makefile("wb"), timeout)
        client._sock = sock
        return client

    def _read_loop(self):
        try:
            while True:
                length = None
                while True:
                    line = self._reader.readline()
                    if not line:
                        raise EOFError
                    line = line.strip()
                    if not line:
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = self._reader.read(length)
                self._messages.put(json.loads(body))
        except (EOFError, OSError, ValueError, TypeError):
            self._messages.put(None)

    def _next(self, deadline):
        try:
            msg = self._messages.get(timeout=max(0.01, deadline - time.time()))
        except queue.Empty:
            raise DapError("timed out")
        if msg is None:
            raise DapError("adapter closed the connection")
        return msg

    def send(self, command, arguments=None):
        self._seq += 1
        msg = {"seq": self._seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self._write(msg)
        return self._seq

    def _write(self, msg):
        data = json.dumps(msg).encode()
        self._writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        self._writer.flush()

    def request(self, command, arguments=None, timeout=None):
        """Send COMMAND and return its response's body; a failed response raises."""
        seq = self.send(command, arguments)
        deadline = time.time() + (timeout or self.timeout)
        while True:
            msg = self._next(deadline)
            if msg.get("type") == "response" and msg.get("request_seq") == seq:
                if not msg.get("success"):
                    raise DapError("%s failed: %s" % (command, msg.get("message")))
                return msg.get("body") or {}
            if msg.get("type") == "event":
                self._events.append(msg)
            elif msg.get("type") == "request":
                self._answer_reverse_request(msg)

    def wait_event(self, name, timeout=None, match=None):
        """The first event NAME (kept or still to come) that MATCH(body) accepts."""
        deadline = time.time() + (timeout or self.timeout)
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("event") == name and (match is None or match(ev.get("body") or {})):
                    del self._events[: i + 1]
                    return ev.get("body") or {}
            msg = self._next(deadline)
            if msg.get("type") == "event":
                self._events.append(msg)
            elif msg.get("type") == "request":
                self._answer_reverse_request(msg)

    def _answer_reverse_request(self, msg):
        """runInTerminal and the like: this client supports none."""
        self._seq += 1
        reply = {"seq": self._seq, "type": "response", "request_seq": msg.get("seq"),
                 "command": msg.get("command"), "success": False, "message": "not supported"}
        self._write(reply)

    def close(self):
        for f in (self._writer, self._reader):
            try:
                f.close()
            except OSError:
                pass
        sock = getattr(self, "_sock", None)
        if sock:
            sock.close()
