"""What the ops scripts that run a fleet against a live splitd share (ops/demo, ops/soak).

Standard library only, plus the device client in python/splitd/client (imported from the
checkout): the state-directory rule, an HTTP API client, device registration, a webhook receiver
base that verifies signatures with the device client's own check, fluctuating links, waiting for
/readyz, and psql queries against splitd's database.
"""
import http.server
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
from splitd.client.signature import SignatureError, verify  # noqa: E402 (the device client, standard library only)

# (name, registered compute FLOP/s) of the simulated device kinds.
DEVICE_CLASSES = [("jetson", 1e11), ("phone", 3e10)]
LOCK = threading.Lock()


def say(message):
    """Prints one line at once (threads print whole lines)."""
    with LOCK:
        print(message, flush=True)


def state_directory(requested):
    """The one state-directory rule of every ops script (ops/lib/state-dir)."""
    environment = dict(os.environ)
    if requested:
        environment["SPLITD_STATE_DIR"] = requested
    result = subprocess.run([os.path.join(ROOT, "ops/lib/state-dir")], env=environment, capture_output=True, text=True, check=True)
    if result.stderr.strip():
        say(result.stderr.strip())
    return result.stdout.strip()


def port_is_free(port):
    """Whether 127.0.0.1:`port` can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class API:
    """splitd's HTTP API with a bearer token (admin by default, a device's with `token=`)."""

    def __init__(self, base, token):
        self.base, self.token = base, token

    def call(self, method, path, body=None, token=None, timeout=30):
        """(status, decoded JSON body); raises URLError/ConnectionError when nothing answers."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + (token or self.token))
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


def wait_until_ready(api, daemon, seconds):
    """Polls /readyz until it answers 200: None when ready, else why not (exited, or timed out)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if daemon.poll() is not None:
            return f"splitd exited with {daemon.returncode} before it was ready"
        try:
            if api.call("GET", "/readyz", timeout=5)[0] == 200:
                return None
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    return f"splitd did not become ready within {seconds:.0f} s"


def register_model(api, model):
    """Registers ops/models/<model>.json: (status, body)."""
    with open(os.path.join(ROOT, "ops/models", model + ".json"), "rb") as file:
        return api.call("POST", "/v1/models", file.read())


def register(api, device, body):
    """Registers `device`, or (from an earlier run) rotates its credentials and updates it."""
    status, created = api.call("POST", "/v1/devices", dict(body, id=device))
    if status == 201:
        return created
    if status != 409:
        raise SystemExit(f"registering {device} failed: {status} {created}")
    settings = {key: value for key, value in body.items() if key != "link"}
    status, updated = api.call("PUT", "/v1/devices/" + device, settings)
    if status != 200:
        raise SystemExit(f"updating {device} failed: {status} {updated}")
    # No overlap: this run's receiver knows only the new secret (and a rerun within an overlap would be refused).
    status, rotated = api.call("POST", f"/v1/devices/{device}/credentials",
                               {"token": True, "webhook_secret": True, "secret_overlap_seconds": 0})
    if status != 200:
        raise SystemExit(f"rotating the credentials of {device} failed: {status} {rotated}")
    return rotated


def signature_valid(secret, headers, body):
    """The device client's own check (python/splitd/client): signature and replay window."""
    if secret is None:
        return False
    try:
        verify(secret, dict(headers.items()), body)
        return True
    except SignatureError:
        return False


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    """Base of the webhook receivers: reads the body and hands it to `receive(body)`, which answers."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.receive(body)

    def receive(self, body):
        raise NotImplementedError

    def log_message(self, *arguments):
        pass


def serve(handler, port=0):
    """A threaded HTTP server for `handler` on 127.0.0.1:`port` (0: any), serving in a daemon thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Link:
    """A fluctuating link: a log-space random walk, or a two-state fading channel."""

    def __init__(self, seed, base, markov):
        self.random = random.Random(seed)
        self.base, self.markov, self.level, self.good = base, markov, 1.0, True

    def next(self):
        if self.markov:
            if self.random.random() < (0.1 if self.good else 0.15):
                self.good = not self.good
            self.level = (1.0 if self.good else 1 / 15) * math.exp(0.1 * self.random.gauss(0, 1))
        else:
            self.level = math.exp(max(math.log(1 / 30), min(math.log(3), 0.98 * math.log(self.level) + 0.3 * self.random.gauss(0, 1))))
        return self.base * self.level


def database_url(splitd, state):
    """The URL of the embedded cluster of `state` (splitd db url)."""
    return subprocess.run([splitd, "db", "url", "--state-dir", state], capture_output=True, text=True, check=True).stdout.strip()


def psql(url, query, timeout=120):
    """Runs one statement with psql: CompletedProcess (stdout unaligned, tuples only)."""
    return subprocess.run(["psql", url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query],
                          capture_output=True, text=True, timeout=timeout)


def query_rows(url, query, timeout=300):
    """The rows of a SELECT as dicts (JSON types; NULL is None), through json_agg."""
    result = psql(url, f"SELECT coalesce(json_agg(row_to_json(q)), '[]'::json) FROM ({query}) q", timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr.strip()}")
    return json.loads(result.stdout)
