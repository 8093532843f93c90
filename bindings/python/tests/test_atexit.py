"""Interpreter exit with servers still open and connections in flight.

A native connection thread that calls into Python while the interpreter
finalizes aborts the process; nhttps's atexit hook closes servers (and
agents) first. Each scenario runs in a subprocess that exits without closing
anything and must exit 0 cleanly."""

import os
import subprocess
import sys
import textwrap
import unittest

from helpers import PACKAGE_ROOT

PRELUDE = textwrap.dedent("""
    import http.client, socket, ssl, sys, threading, time
    import nhttps

    def url(server, path="/"):
        return "https://127.0.0.1:%d%s" % (server.port, path)
""")

IN_FLIGHT = PRELUDE + textwrap.dedent("""
    slow_entered = threading.Event()
    open_entered = threading.Event()
    kept = []

    def handler(req, res):
        if req.url == "/slow":
            slow_entered.set()
            time.sleep(0.5)            # still running Python when main exits
            res.end(b"slow done")
        elif req.url == "/open":
            kept.append(res)           # returns without ending: left open
            open_entered.set()
        else:
            res.end(b"hi")

    server = nhttps.create_server(handler, dev_certificate=True).listen(0)
    ca = server.certificate_pem
    ctx = ssl.create_default_context(cadata=ca)

    # An idle kept-alive connection.
    idle = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx)
    idle.request("GET", "/")
    assert idle.getresponse().read() == b"hi"

    # A TCP connection that never starts its handshake.
    raw = socket.create_connection(("127.0.0.1", server.port))

    # A request in flight through the binding's client, in a daemon thread.
    def slow():
        try:
            print("slow:", nhttps.get(url(server, "/slow"), ca=ca).read(), flush=True)
        except Exception as e:
            print("slow failed:", e, flush=True)
    threading.Thread(target=slow, daemon=True).start()

    # A request whose handler returned without ending its response.
    def left_open():
        c = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx)
        c.request("GET", "/open")
        print("open:", c.getresponse().status, flush=True)
    threading.Thread(target=left_open, daemon=True).start()

    # An agent with a pooled connection, never closed.
    agent = nhttps.Agent(max_sockets=2)
    nhttps.get(url(server), ca=ca, agent=agent).read()

    assert slow_entered.wait(5) and open_entered.wait(5)
    print("exiting", flush=True)
    # ...and exit without closing anything.
""")

BUSY = PRELUDE + textwrap.dedent("""
    count = [0]
    def handler(req, res):
        count[0] += 1
        sum(range(2000))               # some Python work on the native thread
        res.end(req.read() or b"x")

    server = nhttps.create_server(handler, dev_certificate=True).listen(0)
    ca = server.certificate_pem
    agent = nhttps.Agent(max_sockets=4)

    def hammer(i):
        while True:
            try:
                if i % 2:
                    nhttps.request(url(server), method="POST", body=b"y" * 100,
                                   ca=ca, agent=agent).read()
                else:
                    c = http.client.HTTPSConnection(
                        "127.0.0.1", server.port,
                        context=ssl.create_default_context(cadata=ca), timeout=5)
                    c.request("GET", "/")
                    c.getresponse().read()
                    c.close()
            except Exception:
                time.sleep(0.01)       # the server is closing: keep trying

    for i in range(8):
        threading.Thread(target=hammer, args=(i,), daemon=True).start()
    deadline = time.monotonic() + 5
    while count[0] < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    print("served", count[0] >= 40, flush=True)
    sys.exit(0)                        # requests are still arriving
""")


def run(script):
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=60, env=env)


class AtExitTest(unittest.TestCase):
    def assert_clean_exit(self, p):
        detail = "rc=%s\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 0, detail)
        for bad in ("Fatal Python error", "panicked", "Aborted", "Segmentation",
                    "Traceback"):
            self.assertNotIn(bad, p.stderr, detail)

    def test_exit_with_connections_in_flight_and_open(self):
        p = run(IN_FLIGHT)
        self.assert_clean_exit(p)
        self.assertIn("exiting", p.stdout)
        # The response its handler left open was answered at exit.
        self.assertIn("ending a response left open", p.stderr)

    def test_exit_while_requests_keep_arriving(self):
        for _ in range(2):
            p = run(BUSY)
            self.assert_clean_exit(p)
            self.assertIn("served True", p.stdout)


if __name__ == "__main__":
    unittest.main()
