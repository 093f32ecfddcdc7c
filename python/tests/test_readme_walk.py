"""The README's walk ("Your own model in ten minutes"), run from the README's own text.

The ```sh and ```python blocks of that section are read from README.md at run time (if the README
changes, this runs the new text) and run in order in a temporary directory, against a real
``splitd`` on its embedded PostgreSQL. Each block runs in its own ``bash`` with ``set -a``, and the
variables it sets (TOKEN, DEVICE_TOKEN, SECRET) carry over to the next block, as in one terminal.

Substitutions, all explicit (``SUBSTITUTIONS`` below; each must match the README or the test fails):

- ``ops/splitctl`` -> the built splitctl (``$SPLITD_BIN_DIR``, default ``<repo>/.build/debug``:
  under ``ops/test`` the binaries just built), so nothing is built here; the other ``ops/...``
  commands (``ops/export-torch``, ``ops/lib/state-dir``) -> the checkout's, as the temporary
  directory has no ``ops/``;
- the ports 8080 (splitd), 8787 (the webhook receiver) and 9000 (split training) -> free ports;
- ``pip install ./python`` is not run (ops/test installs the package); ``splitd-client`` runs as
  written, in the background, with the checkout's ``python/`` first on PYTHONPATH so the
  checkout's client is what runs (``python3 -m splitd.client.example`` where the console script
  is not installed);
- step 1's ONNX alternative runs on the checkout's ResNet-18 export
  (Tests/SplitImportTests/Fixtures/resnet18.ts.onnx, copied as ``mynet.onnx``) in a directory of
  its own, so its ``mynet.json`` does not replace the torch export the later steps train with;
- the ``dot`` command is dropped only when graphviz's ``dot`` is not installed.

The walk assumes ``ops/demo`` runs: this starts ``splitd`` as ops/demo does (same environment,
in a temporary state directory), writes the admin token to ``<state dir>/admin-token`` as the demo
does, runs the README's own ``TOKEN=$(cat "$(ops/lib/state-dir)/admin-token")`` line against it
(``SPLITD_STATE_DIR`` set, so ops/lib/state-dir names that directory) and registers the demo's edge
server ``edge-1``. ``curl`` is the real curl behind a wrapper that only records each answer's HTTP
status (``curl -D``), so the statuses are checked without changing the commands.

The python blocks import torchvision, whose compiled operators may not load against the installed
torch ("operator torchvision::nms does not exist"): a ``sitecustomize`` in the temporary directory
imports torchvision as is, or else with the registration modules stubbed (the model definitions
are pure Python; python/tests/support.py and ops/models/torchvision_shim.py do the same). Every
process gets OMP_NUM_THREADS=1 (the results do not depend on it; threads spinning on a shared
2-core machine make everything slower).

SPLITD_WALK_KEEP=1 keeps the temporary directory (the blocks' files, every process's log).
Skipped when the binaries are absent and SPLITD_PY_SKIP_SPLITCTL=1, as the other splitctl tests.
"""

import json
import math
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from typing import Dict, List, Optional, Tuple

from .support import ROOT

README = os.path.join(ROOT, "README.md")
WALK = "## Your own model in ten minutes"
SETUP = "## Set up, run, test"
ONNX_FIXTURE = os.path.join(ROOT, "Tests", "SplitImportTests", "Fixtures", "resnet18.ts.onnx")
DEVICE = "my-device"

# Generous: the machine is shared and has two cores.
READY_SECONDS = 240
DELIVERY_SECONDS = 200  # covers splitd's retries 5 s, 30 s and 2 min after a first miss
STEP_SECONDS = 300

SITECUSTOMIZE = '''\
"""torchvision's model definitions whatever torch is installed (see tests/test_readme_walk.py)."""
import sys
import types

try:
    import torchvision  # noqa: F401 - a torchvision built for this torch imports as is
except (RuntimeError, ImportError):
    for name in [key for key in sys.modules if key == "torchvision" or key.startswith("torchvision.")]:
        del sys.modules[name]
    for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules[name] = types.ModuleType(name)
    import torchvision  # noqa: F401
'''

# Records each answer's HTTP status (the last status line of the headers curl dumps), then
# returns curl's own exit status; stdout, stderr and the arguments are untouched.
CURL_WRAPPER = '''#!/bin/sh
headers=$(mktemp "$CURL_LOG.XXXXXX")
"$REAL_CURL" -D "$headers" "$@"
status=$?
url=
for argument in "$@"; do case "$argument" in http://*|https://*) url=$argument ;; esac; done
code=$(grep -a '^HTTP/' "$headers" | tail -n 1 | cut -d ' ' -f 2)
printf '%s %s\\n' "${code:-none}" "$url" >> "$CURL_LOG"
rm -f "$headers"
exit $status
'''


def binary_dir() -> str:
    return os.environ.get("SPLITD_BIN_DIR") or os.path.join(ROOT, ".build", "debug")


def find_binaries(*names: str) -> Optional[List[str]]:
    """The binaries in SPLITD_BIN_DIR, or None; looked for twice when the directory exists (a
    rebuild may be replacing one just then)."""
    paths = [os.path.join(binary_dir(), name) for name in names]
    for attempt in range(2):
        if all(os.access(path, os.X_OK) for path in paths):
            return paths
        if attempt == 0 and os.path.isdir(binary_dir()):
            time.sleep(5)
    return None


def section(text: str, heading: str) -> str:
    start = text.index("\n" + heading + "\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def code_blocks(text: str) -> List[Tuple[str, str]]:
    """The (language, code) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


def commands(block: str) -> List[str]:
    """The block's commands: lines joined at trailing backslashes (blocks with quoted newlines,
    like the device registration, are never split with this)."""
    joined, current = [], ""
    for line in block.splitlines():
        current += line + "\n"
        if not line.endswith("\\"):
            if current.strip():
                joined.append(current)
            current = ""
    if current.strip():
        joined.append(current)
    return joined


def free_ports(count: int) -> List[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def listening(port: int) -> bool:
    """Whether a socket listens on ``port`` (read from /proc: connecting would use up the
    training server's one session)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as file:
                rows = file.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def http(method: str, url: str, token: str, body: Optional[dict] = None, timeout: float = 30) -> Tuple[int, bytes]:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    request.add_header("Authorization", "Bearer " + token)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def tail(path: str, characters: int = 4000) -> str:
    try:
        with open(path, errors="replace") as file:
            return file.read()[-characters:]
    except OSError:
        return ""


class ReadmeWalkTest(unittest.TestCase):
    def setUp(self):
        binaries = find_binaries("splitctl", "splitd")
        if binaries is None:
            message = f"no splitd/splitctl in {binary_dir()} (set SPLITD_BIN_DIR, or build them)"
            if os.environ.get("SPLITD_PY_SKIP_SPLITCTL") == "1":
                self.skipTest(message + "; SPLITD_PY_SKIP_SPLITCTL=1")
            self.fail(message + ", or set SPLITD_PY_SKIP_SPLITCTL=1")
        self.splitctl, self.splitd = binaries
        self.curl = shutil.which("curl")
        self.assertIsNotNone(self.curl, "the walk needs curl (ops/install-deps installs it)")
        with open(README, encoding="utf-8") as file:
            text = file.read()
        self.walk = section(text, WALK)
        self.blocks = code_blocks(self.walk)
        token_lines = [line for language, block in code_blocks(section(text, SETUP)) if language == "sh"
                       for line in block.splitlines() if line.startswith("TOKEN=")]
        self.assertEqual(len(token_lines), 1, f"the README's '{SETUP}' section should set TOKEN once")
        self.token_line = token_lines[0]

        # Readable by the 'postgres' user, which runs the embedded cluster when the tests run as
        # root (ops/lib/state-dir would otherwise pick /var/tmp/splitd).
        self.work = tempfile.mkdtemp(prefix="splitd-walk-")
        os.chmod(self.work, 0o755)
        if os.environ.get("SPLITD_WALK_KEEP") != "1":  # =1 keeps the directory and its logs
            self.addCleanup(shutil.rmtree, self.work, True)
        self.state = os.path.join(self.work, "state")
        self.api_port, self.hook_port, self.train_port = free_ports(3)
        self.processes: List[subprocess.Popen] = []
        self.addCleanup(self.stop_processes)

        bin_dir = os.path.join(self.work, "bin")
        os.makedirs(bin_dir)
        self.curl_log = os.path.join(self.work, "curl.log")
        self.write_executable(os.path.join(bin_dir, "curl"), CURL_WRAPPER)
        if shutil.which("splitd-client") is None:
            self.write_executable(os.path.join(bin_dir, "splitd-client"),
                                  f'#!/bin/sh\nexec "{sys.executable}" -m splitd.client.example "$@"\n')
        site = os.path.join(self.work, "site")
        os.makedirs(site)
        with open(os.path.join(site, "sitecustomize.py"), "w") as file:
            file.write(SITECUSTOMIZE)
        python_path = os.path.join(ROOT, "python")
        self.env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
                        PYTHONPATH=os.pathsep.join(filter(None, [python_path, os.environ.get("PYTHONPATH")])),
                        SPLITD_STATE_DIR=self.state, REAL_CURL=self.curl, CURL_LOG=self.curl_log,
                        OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.env.pop("SPLITD_DATABASE_URL", None)
        self.python_env = dict(self.env, PYTHONPATH=site + os.pathsep + self.env["PYTHONPATH"])

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def write_executable(path: str, text: str) -> None:
        with open(path, "w") as file:
            file.write(text)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def substitute(self, code: str) -> str:
        """The README's text with the substitutions of the module doc (and nothing else)."""
        code = re.sub(r"(?<![\w./-])ops/splitctl\b", self.splitctl, code)
        code = re.sub(r"(?<![\w./-])ops/", ROOT + "/ops/", code)
        code = code.replace("127.0.0.1:8080", f"127.0.0.1:{self.api_port}")
        code = code.replace("127.0.0.1:8787", f"127.0.0.1:{self.hook_port}")
        code = code.replace("port=9000", f"port={self.train_port}")
        code = code.replace('("127.0.0.1", 9000)', f'("127.0.0.1", {self.train_port})')
        for port in ("8080", "8787", "9000"):
            self.assertNotIn(port, code, f"port {port} left in a README block after the substitutions:\n{code}")
        return code

    def start(self, arguments: List[str], log: str, **options) -> subprocess.Popen:
        output = open(os.path.join(self.work, log), "wb")
        self.addCleanup(output.close)
        process = subprocess.Popen(arguments, stdout=output, stderr=subprocess.STDOUT, **options)
        self.processes.append(process)
        return process

    def stop_processes(self) -> None:
        """After a failure: stops what is still running; a splitd that had to be killed leaves its
        PostgreSQL running, which ``splitd db stop`` stops."""
        killed = False
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    killed = True
        if killed and getattr(self, "daemon", None) is not None:
            subprocess.run([self.splitd, "db", "stop", "--state-dir", self.state], capture_output=True, timeout=120)

    def run_sh(self, code: str, cwd: Optional[str] = None, timeout: float = STEP_SECONDS) -> subprocess.CompletedProcess:
        """Runs one block as one terminal would (its variables carry over to the next block)."""
        dump = os.path.join(self.work, "env.dump")
        script = f"set -euo pipefail\nset -a\n{code}\nenv -0 > {dump}\n"
        with open(self.curl_log, "a"):
            pass
        logged = os.path.getsize(self.curl_log)
        run = subprocess.run(["bash", "-c", script], cwd=cwd or self.work, env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        self.assertEqual(run.returncode, 0, f"README block failed ({run.returncode}):\n{code}\n"
                                            f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}")
        with open(dump, "rb") as file:
            for entry in file.read().split(b"\0"):
                name, _, value = entry.decode().partition("=")
                if name and name not in ("_", "SHLVL", "PWD", "OLDPWD"):
                    self.env[name] = value
        self.python_env.update({key: value for key, value in self.env.items() if key != "PYTHONPATH"})
        with open(self.curl_log) as file:
            file.seek(logged)
            run.statuses = [line.split(" ", 1) for line in file.read().splitlines()]  # type: ignore[attr-defined]
        return run

    def deliveries(self) -> Dict[str, int]:
        """splitd's webhook delivery outcomes so far (its /metrics counter), by outcome."""
        status, body = http("GET", f"http://127.0.0.1:{self.api_port}/metrics", self.admin_token)
        self.assertEqual(status, 200)
        counts: Dict[str, int] = {}
        for line in body.decode().splitlines():
            if line.startswith("splitd_webhook_deliveries_total{"):
                outcome = re.search(r'outcome="([^"]*)"', line)
                if outcome:
                    counts[outcome.group(1)] = counts.get(outcome.group(1), 0) + int(float(line.rsplit(" ", 1)[1]))
        return counts

    # --- splitd, as ops/demo runs it ------------------------------------------------------------

    def start_splitd(self) -> None:
        state = subprocess.run([os.path.join(ROOT, "ops", "lib", "state-dir")], env=self.env, capture_output=True,
                               text=True, check=True).stdout.strip()
        self.assertEqual(state, self.state, "ops/lib/state-dir does not name the test's state directory")
        os.makedirs(self.state)
        self.admin_token = "walk-" + os.urandom(16).hex()
        token_file = os.path.join(self.state, "admin-token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(self.admin_token + "\n")
        environment = dict(self.env, SPLITD_LISTEN=f"127.0.0.1:{self.api_port}", SPLITD_ADMIN_TOKEN=self.admin_token,
                           SPLITD_WEBHOOK_ALLOW="127.0.0.1", SPLITD_PLAN_INTERVAL="5s", SPLITD_SMOOTHING="5s",
                           SPLITD_MIGRATIONS_DIR=os.path.join(ROOT, "migrations"))
        self.daemon = self.start([self.splitd, "serve"], "splitd.log", cwd=self.work, env=environment)

    def wait_for_splitd(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            self.assertIsNone(self.daemon.poll(), f"splitd exited with {self.daemon.returncode}:\n{tail(self.daemon_log)}")
            try:
                if http("GET", f"http://127.0.0.1:{self.api_port}/readyz", self.admin_token, timeout=5)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            self.assertLess(time.monotonic(), deadline, f"splitd not ready in {READY_SECONDS} s:\n{tail(self.daemon_log)}")
            time.sleep(0.3)
        # The demo's edge server, which the walk's device names.
        status, body = http("POST", f"http://127.0.0.1:{self.api_port}/v1/edge-servers", self.admin_token,
                            {"id": "edge-1", "compute_flops": 2e13})
        self.assertEqual(status, 201, body)

    @property
    def daemon_log(self) -> str:
        return os.path.join(self.work, "splitd.log")

    # --- the walk ------------------------------------------------------------------------------

    def test_the_readme_walk_runs_as_written(self):
        # splitd starts its PostgreSQL while the model is exported.
        self.start_splitd()
        seen = set()
        server: Optional[subprocess.Popen] = None
        client: Optional[subprocess.Popen] = None
        for language, block in self.blocks:
            code = self.substitute(block)
            if language == "python" and "SplitServer(" in block:
                seen.add("server")
                path = os.path.join(self.work, "edge_server.py")
                with open(path, "w") as file:
                    file.write(code)
                server = self.start([sys.executable, path], "edge_server.log", cwd=self.work, env=self.python_env)
            elif language == "python" and "SplitTrainer(" in block:
                seen.add("device")
                self.assertIsNotNone(server, "the device block comes after the edge server block")
                self.check_training(code, server)
            elif language != "sh":
                self.fail(f"a ```{language} block in the walk: teach this test how to run it:\n{block}")
            elif "ops/export-torch" in block:
                seen.add("export")
                run = self.run_sh(code)
                self.assertRegex(run.stderr, r"mynet \(torch\.fx\): \d+ layers, [0-9.]+ GFLOPs")
                self.check_graph(os.path.join(self.work, "mynet.json"))
            elif "splitctl import" in block:
                seen.add("onnx")
                onnx = os.path.join(self.work, "onnx")
                os.makedirs(onnx)
                shutil.copy(ONNX_FIXTURE, os.path.join(onnx, "mynet.onnx"))
                run = self.run_sh(code, cwd=onnx)
                self.assertRegex(run.stdout + run.stderr, r"\d+ layers")
                self.check_graph(os.path.join(onnx, "mynet.json"))
            elif "splitctl plan" in block:
                seen.add("plan")
                if shutil.which("dot") is None:
                    # graphviz absent: the picture is not drawn (everything else runs).
                    code = "".join(command for command in commands(code) if "| dot" not in command)
                run = self.run_sh(code)
                self.assertRegex(run.stdout, r"(?m)^delay\s+[0-9.]+ m?s per iteration")
                self.assertRegex(run.stdout, r"cut layers")
                if shutil.which("dot") is not None:
                    with open(os.path.join(self.work, "mynet-plan.svg")) as file:
                        svg = file.read()
                    self.assertIn("<svg", svg)
                    self.assertIn("</svg>", svg)
            elif "splitctl table" in block:
                seen.add("table")
                run = self.run_sh(code)
                segments = re.search(r"(\d+) segment\(s\)", run.stdout)
                self.assertIsNotNone(segments, run.stdout)
                rows = [line for line in run.stdout.splitlines() if "bit/s" in line]  # one per segment
                self.assertEqual(len(rows), int(segments.group(1)), run.stdout)
            elif "/v1/models" in block:
                seen.add("register")
                self.wait_for_splitd()
                run = self.run_sh(self.substitute(self.token_line) + "\n" + code)
                self.assertEqual(self.env.get("TOKEN"), self.admin_token, "the README's TOKEN line read another token")
                self.assertEqual(run.statuses, [["201", f"http://127.0.0.1:{self.api_port}/v1/models"],
                                                ["201", f"http://127.0.0.1:{self.api_port}/v1/devices"]], run.stdout)
                model = json.loads(run.stdout)
                self.assertEqual((model["name"], model["version"]), ("mynet", 1))
                with open(os.path.join(self.work, "my-device.json")) as file:
                    device = json.load(file)
                self.assertEqual(device["id"], DEVICE)
                self.assertTrue(device["token"] and device["webhook_secret"].startswith("whsec_"))
                self.assertEqual((self.env.get("DEVICE_TOKEN"), self.env.get("SECRET")),
                                 (device["token"], device["webhook_secret"]))
            elif "splitd-client" in block:
                seen.add("client")
                client = self.start_client(code)
            elif "/v1/telemetry" in block:
                seen.add("telemetry")
                self.assertIsNotNone(client, "the telemetry block comes after splitd-client")
                self.wait_for_table(client)
                run = self.run_sh(code)
                self.assertEqual(run.statuses, [["202", f"http://127.0.0.1:{self.api_port}/v1/telemetry"],
                                                ["200", f"http://127.0.0.1:{self.api_port}/v1/devices/{DEVICE}/plan"]])
                with open(os.path.join(self.work, "plan.json")) as file:
                    plan = json.load(file)
                self.assertEqual(plan["device"], DEVICE)
                self.assertTrue(plan["cut_layers"] and set(plan["cut_layers"]) <= set(plan["device_layers"]), plan)
            else:
                seen.add(block)
                self.run_sh(code)
        self.assertEqual(seen & {"export", "onnx", "plan", "table", "register", "client", "telemetry", "server", "device"},
                         {"export", "onnx", "plan", "table", "register", "client", "telemetry", "server", "device"},
                         "a step of the walk is missing from the README (or this test no longer recognises it)")
        self.stop_daemon(client)

    def check_graph(self, path: str) -> None:
        with open(path) as file:
            graph = json.load(file)
        self.assertEqual((graph["format"], graph["name"]), ("splitgraph/1", "mynet"))
        self.assertGreater(len(graph["layers"]), 10)

    def start_client(self, code: str) -> subprocess.Popen:
        lines = [command for command in commands(code) if not command.lstrip().startswith("pip install ")]
        self.assertEqual(len(lines), 1, f"expected one command besides 'pip install' in:\n{code}")
        command = lines[0].strip()
        self.assertTrue(command.startswith("splitd-client "), command)
        return self.start(["bash", "-c", "exec " + command], "splitd-client.log", cwd=self.work, env=self.env)

    def wait_for_table(self, client: subprocess.Popen) -> None:
        """Until splitd has delivered the device's signed plan table to splitd-client: the client
        answers 2xx only to a delivery whose signature it verified (anything else is a 4xx, which
        splitd counts as failed), and no other device is registered."""
        deadline = time.monotonic() + DELIVERY_SECONDS
        while True:
            self.assertIsNone(client.poll(), f"splitd-client exited:\n{tail(os.path.join(self.work, 'splitd-client.log'))}")
            counts = self.deliveries()
            if counts.get("delivered", 0) >= 1:
                break
            self.assertLess(time.monotonic(), deadline,
                            f"no webhook delivered in {DELIVERY_SECONDS} s (outcomes {counts}):\n"
                            f"{tail(os.path.join(self.work, 'splitd-client.log'))}\n{tail(self.daemon_log)}")
            time.sleep(0.5)
        with open(os.path.join(self.work, "splitd-client.log")) as file:
            self.assertIn(f"listening on 127.0.0.1:{self.hook_port}", file.read())

    def check_training(self, code: str, server: subprocess.Popen) -> None:
        server_log = os.path.join(self.work, "edge_server.log")
        deadline = time.monotonic() + STEP_SECONDS
        while not listening(self.train_port):
            self.assertIsNone(server.poll(), f"the edge server exited:\n{tail(server_log)}")
            self.assertLess(time.monotonic(), deadline, f"the edge server did not listen:\n{tail(server_log)}")
            time.sleep(0.2)
        path = os.path.join(self.work, "device.py")
        with open(path, "w") as file:
            file.write(code)
        run = subprocess.run([sys.executable, path], cwd=self.work, env=self.python_env, capture_output=True, text=True,
                             timeout=STEP_SECONDS)
        self.assertEqual(run.returncode, 0, f"device:\n{run.stdout}\n{run.stderr[-4000:]}\nserver:\n{tail(server_log)}")
        steps = [line.split() for line in run.stdout.splitlines()]
        self.assertEqual([int(step[0]) for step in steps], [0, 1, 2], run.stdout)
        losses = [float(step[1]) for step in steps]
        self.assertTrue(all(math.isfinite(loss) and loss > 0 for loss in losses), run.stdout)
        # The server serves the one session and returns.
        self.assertEqual(server.wait(timeout=STEP_SECONDS), 0, tail(server_log))

    def stop_daemon(self, client: Optional[subprocess.Popen]) -> None:
        if client is not None and client.poll() is None:
            client.send_signal(signal.SIGTERM)
            client.wait(timeout=60)
        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(timeout=120), 0, tail(self.daemon_log))
        status = subprocess.run([self.splitd, "db", "status", "--state-dir", self.state], capture_output=True, text=True)
        self.assertEqual(status.returncode, 3, f"the embedded PostgreSQL still runs: {status.stdout}{status.stderr}")


if __name__ == "__main__":
    unittest.main()
