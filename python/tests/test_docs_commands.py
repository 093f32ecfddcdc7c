"""Every command of the docs' shell blocks is run here, or listed with where it runs instead.

The ```sh / ```bash / ```shell / ```console blocks of docs/*.md, of CONTRIBUTING.md and of the
README outside its walk ("Your own model in ten minutes", which tests/test_readme_walk.py runs) are
read at run time and split into commands (lines joined at trailing backslashes and open quotes;
comments dropped; in ```console blocks, the ``$ `` lines). Each command must match exactly one
entry of ``RUN`` (a scenario below runs it, in the docs' order, from the docs' own text) or of
``ELSEWHERE`` (where it is covered, and why not here), and every entry must match a command:
a command added to the docs fails ``test_every_docs_command_is_run_or_listed`` until it is run
here or listed.

Substitutions, all explicit (each scenario checks that the ones it names applied):

- ``ops/splitctl`` and a bare ``splitctl`` -> the built splitctl (``$SPLITD_BIN_DIR``, default
  ``<repo>/.build/debug``, as tests/test_readme_walk.py), so nothing is built; ``ops/pg`` runs the
  built splitd (``SPLITD_BINARY``); the other ``ops/...`` -> the checkout's;
- every scenario runs in a temporary directory with a ``docs/`` of its own, so the pictures the
  docs regenerate (``--plot docs/...``, ``> docs/...``) land there, and are compared with the
  committed ones; ``HOME`` is a temporary directory (the completion scripts under ``~``) and
  ``sudo tee /etc/...`` -> ``tee <temporary>/etc/...``;
- ``127.0.0.1:8080`` -> a free port where this test's splitd (started as ops/demo and the walk
  start it, on its embedded PostgreSQL, with the demo's ``edge-1``, ``resnet50`` and
  ``jetson-resnet50-0``) listens. ``curl`` is the real curl behind the walk's wrapper, which
  records each answer's HTTP status.

Not run, but checked: the ``splitctl ...`` synopses of the plain (no language) blocks name only
options and choices (``--opt a|b``) that the subcommand's ``--help`` lists, and the listed
commands of ops/testbed, ops/soak, ops/demo and ops/export-torch only options of their ``--help``.

Python gets the walk's ``sitecustomize`` (torchvision's model definitions whatever torch is
installed) and OMP_NUM_THREADS=1. SPLITD_DOCS_KEEP=1 keeps the temporary directories.
Skipped when the binaries are absent and SPLITD_PY_SKIP_SPLITCTL=1, as the other splitctl tests.
"""

import glob
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
from typing import Dict, List, Optional, Tuple

from .support import ROOT
from .test_readme_walk import (CURL_WRAPPER, SITECUSTOMIZE, WALK, binary_dir, code_blocks, find_binaries, free_ports,
                               http, section, tail)

SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
READY_SECONDS = 240
STEP_SECONDS = 300

# (document, regular expression searched in the command, scenario): the test method that runs it.
RUN: List[Tuple[str, str, str]] = [
    ("docs/evaluation.md", r"^ops/splitctl simulate ops/models/vgg16\.json ", "test_simulation_picture"),
    ("docs/planning.md", r"^ops/splitctl plan ops/models/resnet50\.json .*\| dot -Tsvg", "test_plan_picture"),
    ("docs/operations.md", r"splitctl --generate-completion-script |^mkdir -p ~/", "test_completion_scripts"),
    ("docs/import.md", r"^ops/export-torch torchvision\.models:resnet50 ", "test_export_torch"),
    ("docs/profiles.md", r"^ops/export-torch torchvision\.models:mobilenet_v2 .*--profile cpu", "test_profile_commands"),
    ("README.md", r"^TOKEN=|^curl |^ops/pg psql ", "test_against_splitd"),
    ("docs/api.md", r"^curl ", "test_against_splitd"),
    ("docs/import.md", r"^python3 -c .*torch\.onnx\.export|^splitctl (import|plan) effnet|^curl ", "test_against_splitd"),
]

# (document, regular expression, where it runs instead, and why not here).
ELSEWHERE: List[Tuple[str, str, str]] = [
    ("README.md", r"^ops/demo$", ".ci/run: ops/demo --duration 40 --check --port 18080"),
    ("README.md", r"^ops/test$", ".ci/run runs it (this test is part of it)"),
    ("CONTRIBUTING.md", r"^ops/test --unit$", ".ci/run runs ops/test, whose first step is the same unit run"),
    ("CONTRIBUTING.md", r"^swift build --build-tests$|^swift test ", "ops/test: swift build --build-tests; swift test"),
    ("CONTRIBUTING.md", r"^\(cd python && python3 -m tests\)$", "ops/test: (cd python && python3 -m tests)"),
    ("docs/python.md", r"^pip install '?\./python(\[torch\])?'?$",
     "ops/install-python (run by ops/test) installs './python[torch,test]', a superset; not here: it "
     "changes the environment the tests run in"),
    ("docs/python.md", r"^ops/install-python$", "ops/test runs it"),
    ("docs/python.md", r"^cd python && python3 -m tests$|^python3 -m unittest discover -s python/tests -t python$",
     "ops/test runs 'python3 -m tests' (the same discovery as the unittest line); this test is part of it"),
    ("docs/import.md", r"^ops/export-torch mypackage\.models:build .*--profile cuda",
     "needs a CUDA GPU and the reader's own package; --profile (cpu) runs in ops/test-export-torch, "
     "which swift test runs (ExportTorchTests)"),
    ("docs/operations.md", r"^ops/install-systemd$|^systemctl ", "needs systemd as PID 1 and root; run by hand"),
    ("docs/soak.md", r"^ops/soak( |$)",
     "load test, run by hand (--quick ~2.5 min, the full one 25 min); results in docs/soak.md; "
     "its verdict is tested by tests/test_soak_check.py"),
    ("docs/testbed.md", r"^ops/testbed run --quick$", "tests/test_testbed.py runs ops/testbed run --quick"),
    ("docs/testbed.md", r"^(flock \S+ )?ops/testbed (run|trace|report|calibrate)( (?!--quick$)|$)",
     "measurements, run by hand (a minute to 40 min, quiet machine); numbers in docs/testbed.md"),
]

# The listed commands of these scripts are not run, but the options they pass must be in their
# --help (argparse: no build, no torch).
HELP_CHECKED = r"^(flock \S+ )?(ops/(testbed (run|trace|report|calibrate)|soak|demo|export-torch))\b"


# --- reading the docs --------------------------------------------------------------------------

def documents() -> Dict[str, str]:
    """The documents whose shell blocks are checked, by path relative to the checkout; the README
    without its walk (tests/test_readme_walk.py runs that)."""
    paths = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [os.path.join(ROOT, name)
                                                                      for name in ("README.md", "CONTRIBUTING.md")]
    texts = {}
    for path in paths:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        if os.path.basename(path) == "README.md":
            text = text.replace(section(text, WALK), "\n")
        texts[os.path.relpath(path, ROOT)] = text
    return texts


def strip_comments(text: str) -> str:
    """``text`` without shell comments (an unquoted ``#`` at a line's start or after a blank, to
    the line's end)."""
    kept, quote, index = [], None, 0
    while index < len(text):
        character = text[index]
        if quote:
            if character == quote:
                quote = None
        elif character in "'\"":
            quote = character
        elif character == "#" and (index == 0 or text[index - 1].isspace()):
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
            continue
        kept.append(character)
        index += 1
    return "\n".join(line.rstrip() for line in "".join(kept).split("\n"))


def complete(command: str) -> bool:
    """Whether ``command`` has no open quote and no trailing backslash."""
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command)
        return True
    except ValueError:
        return False


def block_commands(language: str, block: str) -> List[str]:
    """The commands of one block, comments dropped, continuation lines joined (with their newline)."""
    lines = block.splitlines()
    if language == "console":  # "$ command" (continued by "> ..."); the rest is output
        kept: List[str] = []
        for line in lines:
            if line.startswith("$ "):
                kept.append(line[2:])
            elif line.startswith("> ") and kept and not complete(strip_comments(kept[-1])):
                kept[-1] += "\n" + line[2:]
        lines = "\n".join(kept).splitlines()
    result, current = [], ""
    for line in lines:
        current += line + "\n"
        text = strip_comments(current).strip()
        if not text:
            current = ""
        elif complete(text):
            result.append(text)
            current = ""
    if current.strip():
        result.append(strip_comments(current).strip())
    return result


def key(command: str) -> str:
    """One line: continuations joined, blanks collapsed (what the tables' expressions match)."""
    return re.sub(r"\s+", " ", command.replace("\\\n", " ")).strip()


def docs_commands() -> List[Tuple[str, str]]:
    """(document, command) of every command of every shell block, in the documents' order."""
    found = []
    for document, text in documents().items():
        for language, block in code_blocks(text):
            if language in SHELL_LANGUAGES:
                found += [(document, command) for command in block_commands(language, block)]
    return found


def entries_matching(document: str, command: str) -> List[Tuple[str, str, str]]:
    return [entry for entry in RUN + ELSEWHERE if entry[0] == document and re.search(entry[1], key(command))]


class DocsCommandsCoverageTest(unittest.TestCase):
    def test_every_docs_command_is_run_or_listed(self):
        found = docs_commands()
        self.assertGreater(len(found), 20, "the docs' shell blocks were not found")
        problems = []
        for document, command in found:
            matches = entries_matching(document, command)
            if not matches:
                problems.append(f"{document}: not run by a test nor listed in ELSEWHERE (tests/test_docs_commands.py): "
                                f"{key(command)}")
            elif len(matches) > 1:
                problems.append(f"{document}: matches several entries {[entry[1] for entry in matches]}: {key(command)}")
        for entry in RUN + ELSEWHERE:
            if not any(document == entry[0] and re.search(entry[1], key(command)) for document, command in found):
                problems.append(f"stale entry, no docs command matches it: {entry}")
        for _, _, scenario in RUN:
            if not hasattr(DocsCommandsRunTest, scenario):
                problems.append(f"RUN names {scenario}, which DocsCommandsRunTest does not have")
        self.assertEqual(problems, [], "\n".join(problems))

    def test_the_parser(self):
        self.assertEqual(block_commands("sh", "a b  # note\n# only a note\n\nc \\\n  d\ne 'x\ny' # z\n"),
                         ["a b", "c \\\n  d", "e 'x\ny'"])
        self.assertEqual(block_commands("console", "$ echo 1\n1\n$ echo 'a\n> b'\na\nb\n"), ["echo 1", "echo 'a\nb'"])
        self.assertEqual(strip_comments("curl -H 'a # b' x # c\n# d\ne"), "curl -H 'a # b' x\n\ne")


# --- running them ------------------------------------------------------------------------------

class DocsCommandsRunTest(unittest.TestCase):
    def setUp(self):
        binaries = find_binaries("splitctl", "splitd")
        if binaries is None:
            message = f"no splitd/splitctl in {binary_dir()} (set SPLITD_BIN_DIR, or build them)"
            if os.environ.get("SPLITD_PY_SKIP_SPLITCTL") == "1":
                self.skipTest(message + "; SPLITD_PY_SKIP_SPLITCTL=1")
            self.fail(message + ", or set SPLITD_PY_SKIP_SPLITCTL=1")
        self.splitctl, self.splitd = binaries
        # Readable by 'postgres', which runs the embedded cluster when the tests run as root.
        self.work = tempfile.mkdtemp(prefix="splitd-docs-")
        os.chmod(self.work, 0o755)
        if os.environ.get("SPLITD_DOCS_KEEP") != "1":
            self.addCleanup(shutil.rmtree, self.work, True)
        self.run_dir = os.path.join(self.work, "run")
        os.makedirs(os.path.join(self.run_dir, "docs"))
        bin_dir = os.path.join(self.work, "bin")
        os.makedirs(bin_dir)
        os.symlink(self.splitctl, os.path.join(bin_dir, "splitctl"))
        self.curl_log = os.path.join(self.work, "curl.log")
        self.write_executable(os.path.join(bin_dir, "curl"), CURL_WRAPPER)
        site = os.path.join(self.work, "site")
        os.makedirs(site)
        with open(os.path.join(site, "sitecustomize.py"), "w") as file:
            file.write(SITECUSTOMIZE)
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)
        self.state = os.path.join(self.work, "state")
        python_path = os.pathsep.join(filter(None, [site, os.path.join(ROOT, "python"), os.environ.get("PYTHONPATH")]))
        self.env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), HOME=self.home,
                        PYTHONPATH=python_path, SPLITD_STATE_DIR=self.state, SPLITD_BINARY=self.splitd,
                        REAL_CURL=shutil.which("curl") or "curl", CURL_LOG=self.curl_log, OMP_NUM_THREADS="1",
                        PYTHONUNBUFFERED="1")
        self.env.pop("SPLITD_DATABASE_URL", None)
        self.env.pop("TOKEN", None)
        self.processes: List[subprocess.Popen] = []
        self.addCleanup(self.stop_processes)
        self.api_port = 0

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def write_executable(path: str, text: str) -> None:
        with open(path, "w") as file:
            file.write(text)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def commands_of(self, scenario: str, document: Optional[str] = None) -> List[Tuple[str, str]]:
        """The docs commands RUN gives ``scenario`` (of ``document``), in the documents' order."""
        found = [(doc, command) for doc, command in docs_commands()
                 if any(entry[2] == scenario and (document is None or doc == document)
                        for entry in entries_matching(doc, command))]
        self.assertTrue(found, f"no docs command for {scenario} {document or ''}")
        return found

    def substitute(self, command: str, extra: Tuple[Tuple[str, str], ...] = ()) -> str:
        """The docs' text with the module doc's substitutions (and ``extra``, each required)."""
        for old, new in extra:
            self.assertIn(old, command, f"substitution {old!r} does not apply to:\n{command}")
            command = command.replace(old, new)
        command = re.sub(r"(?<![\w./-])ops/splitctl\b", self.splitctl, command)
        command = re.sub(r"(?<![\w./-])ops/", ROOT + "/ops/", command)
        if "127.0.0.1:8080" in command:
            self.assertTrue(self.api_port, "a command needs splitd, which this scenario has not started")
            command = command.replace("127.0.0.1:8080", f"127.0.0.1:{self.api_port}")
        self.assertNotIn("8080", command)
        return command

    def run_command(self, document: str, command: str, extra: Tuple[Tuple[str, str], ...] = (),
                    timeout: float = STEP_SECONDS) -> subprocess.CompletedProcess:
        """Runs one command as a terminal in the scenario's directory would (variables it sets carry
        over); fails unless it exits 0. The answer's ``statuses`` are curl's HTTP statuses."""
        code = self.substitute(command, extra)
        dump = os.path.join(self.work, "env.dump")
        script = f"set -euo pipefail\nset -a\n{code}\nenv -0 > {dump}\n"
        with open(self.curl_log, "a"):
            pass
        logged = os.path.getsize(self.curl_log)
        started = time.monotonic()
        run = subprocess.run(["bash", "-c", script], cwd=self.run_dir, env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        self.assertEqual(run.returncode, 0, f"{document}: command failed ({run.returncode}):\n{command}\n"
                                            f"as run:\n{code}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}")
        if os.environ.get("SPLITD_DOCS_VERBOSE") == "1":
            print(f"\n{time.monotonic() - started:6.1f} s  {document}: {key(command)[:100]}", file=sys.stderr)
        with open(dump, "rb") as file:
            for entry in file.read().split(b"\0"):
                name, _, value = entry.decode().partition("=")
                if name and name not in ("_", "SHLVL", "PWD", "OLDPWD"):
                    self.env[name] = value
        with open(self.curl_log) as file:
            file.seek(logged)
            run.statuses = [line.split(" ", 1)[0] for line in file.read().splitlines()]  # type: ignore[attr-defined]
        return run

    def assert_same_picture(self, produced: str, committed: str, command: str) -> None:
        with open(os.path.join(self.run_dir, produced), "rb") as file:
            new = file.read()
        with open(os.path.join(ROOT, committed), "rb") as file:
            old = file.read()
        self.assertIn(b"<svg", new)
        self.assertEqual(new, old, f"{committed} is not what its docs command draws now: run it again "
                                   f"(from the repository root) and commit the picture:\n{command}")

    # --- splitctl, no daemon -------------------------------------------------------------------

    def test_simulation_picture(self):
        ((document, command),) = self.commands_of("test_simulation_picture")
        run = self.run_command(document, command)
        policies = re.search(r"--policies (\S+)", command).group(1).split(",")
        rows = {line.split()[0] for line in run.stdout.splitlines() if line.strip()}
        self.assertTrue(set(policies) | {"hindsight", "best-fixed"} <= rows, run.stdout)
        self.assert_same_picture("docs/simulate-vgg16-markov.svg", "docs/simulate-vgg16-markov.svg", command)

    def test_plan_picture(self):
        ((document, command),) = self.commands_of("test_plan_picture")
        self.assertIsNotNone(shutil.which("dot"), "graphviz's dot is missing (ops/install-deps installs it)")
        self.run_command(document, command)
        self.assert_same_picture("docs/resnet50-plan.svg", "docs/resnet50-plan.svg", command)

    def test_completion_scripts(self):
        etc = os.path.join(self.work, "etc")
        os.makedirs(os.path.join(etc, "bash_completion.d"))  # as bash-completion installs it
        for document, command in self.commands_of("test_completion_scripts"):
            extra = (("sudo tee /etc/", f"tee {etc}/"),) if "sudo tee /etc/" in command else ()
            self.run_command(document, command, extra)
        scripts = {
            os.path.join(etc, "bash_completion.d", "splitctl"): "-F _splitctl splitctl",
            os.path.join(self.home, ".local/share/bash-completion/completions/splitctl"): "-F _splitctl splitctl",
            os.path.join(self.home, ".zfunc/_splitctl"): "#compdef splitctl",
            os.path.join(self.home, ".config/fish/completions/splitctl.fish"): "complete -c 'splitctl'",
        }
        for path, marker in scripts.items():
            with open(path) as file:
                self.assertTrue(marker in file.read(), f"{path} lacks {marker!r}")
        for path in list(scripts)[:2]:
            self.assertEqual(subprocess.run(["bash", "-n", path]).returncode, 0, path)

    def test_export_torch(self):
        for document, command in self.commands_of("test_export_torch"):
            run = self.run_command(document, command)
            self.assertRegex(run.stderr, r"resnet50 \(torch\.fx\): 176 layers")
            with open(os.path.join(self.run_dir, "resnet50.json")) as file:
                graph = json.load(file)
            with open(os.path.join(ROOT, "ops", "models", "resnet50.json")) as file:
                sample = json.load(file)
            self.assertEqual(graph["format"], "splitgraph/1")
            self.assertEqual([layer["name"] for layer in graph["layers"]], [layer["name"] for layer in sample["layers"]])

    def test_profile_commands(self):
        commands = self.commands_of("test_profile_commands")
        self.assertEqual(len(commands), 2)
        for document, command in commands:
            self.run_command(document, command)
        with open(os.path.join(self.run_dir, "device.json")) as file:
            device = json.load(file)
        with open(os.path.join(self.run_dir, "server.json")) as file:
            server = json.load(file)
        self.assertEqual((device["timing"], device["optimizer"]), ("fused", "momentum"))
        self.assertEqual((server["timing"], server["optimizer"]), ("fused", "none"))
        self.assertEqual(set(device["layers"]), set(server["layers"]))
        self.assertEqual(len(device["layers"]), 153)  # mobilenet_v2's layers but its input
        # The planner takes both, as the page says (a graph of the same model from the exporter).
        graph = os.path.join(self.run_dir, "mobilenet_v2.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "ops", "export-torch"), "torchvision.models:mobilenet_v2",
                        "--input-shape", "1x3x128x128", "--output", graph], check=True, capture_output=True)
        run = subprocess.run([self.splitctl, "plan", graph, "--device-profile", "device.json", "--server-profile",
                              "server.json", "--batch", "8", "--uplink", "50M", "--format", "json"],
                             cwd=self.run_dir, capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("device_layers", json.loads(run.stdout))

    def test_synopses_name_real_options(self):
        """Not commands but usage: the ``splitctl ...`` synopses of the docs' plain blocks name only
        options (and choices, ``--opt a|b``) that the subcommand's ``--help`` lists."""
        checked = 0
        for document, text in documents().items():
            for language, block in code_blocks(text):
                if language:
                    continue
                synopses: List[str] = []
                for line in block.splitlines():
                    if line.startswith("splitctl ") and not line.startswith("splitctl: "):
                        synopses.append(line)
                    elif line.startswith(" ") and synopses:
                        synopses[-1] += " " + line.strip()
                for synopsis in synopses:
                    words = []
                    for word in synopsis.split()[1:]:
                        if word.startswith("-") or word[0].isupper() or "." in word or "/" in word:
                            break
                        words.append(word)
                    self.assertTrue(words, f"{document}: no subcommand in the synopsis {synopsis}")
                    for subcommand in words[0].split("|"):
                        run = subprocess.run([self.splitctl, subcommand, *words[1:], "--help"], capture_output=True,
                                             text=True, timeout=60)
                        self.assertEqual(run.returncode, 0, f"{document}: {synopsis}\n{run.stderr}")
                        help_words = set(re.findall(r"[\w-]+", run.stdout))
                        for option, choices in re.findall(r"(--[a-z][a-z0-9-]*)(?: ([a-z-]+(?:\|[a-z0-9-]+)+)(?=[\s\]]|$))?", synopsis):
                            self.assertIn(option, run.stdout, f"{document}: {synopsis}")
                            for choice in filter(None, choices.split("|")):
                                self.assertTrue(choice in help_words, f"{document}: '{choice}' of {option} is not in "
                                                                      f"'splitctl {subcommand} --help': {synopsis}")
                        checked += 1
        self.assertGreater(checked, 5)

    def test_listed_commands_name_real_options(self):
        """The listed (not run) commands of the ops scripts pass only options their --help lists."""
        helps: Dict[str, str] = {}
        checked = 0
        for document, command in docs_commands():
            line = key(command)
            script = re.match(HELP_CHECKED, line)
            if not script or any(entry[0] == document and re.search(entry[1], line) for entry in RUN):
                continue
            program = script.group(2)
            if program not in helps:
                run = subprocess.run([os.path.join(ROOT, *program.split(" ", 1)[0].split("/")), *program.split()[1:],
                                      "--help"], capture_output=True, text=True, timeout=120)
                self.assertEqual(run.returncode, 0, f"{program} --help: {run.stderr}")
                helps[program] = run.stdout
            for option in re.findall(r"(?<!\S)--[a-z][a-z0-9-]*", line):
                self.assertTrue(re.search(re.escape(option) + r"\b", helps[program]),
                                f"{document}: {option} is not in '{program} --help': {line}")
            checked += 1
        self.assertGreater(checked, 10)

    # --- against a splitd ----------------------------------------------------------------------

    def start_splitd(self) -> None:
        """splitd on its embedded PostgreSQL, as ops/demo starts it; the admin token in
        <state dir>/admin-token, where the README's TOKEN line reads it."""
        os.makedirs(self.state)
        self.api_port, hook_port = free_ports(2)
        self.hook = f"http://127.0.0.1:{hook_port}/hook"  # nothing listens: deliveries fail and are retried
        self.admin_token = "docs-" + os.urandom(16).hex()
        token_file = os.path.join(self.state, "admin-token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(self.admin_token + "\n")
        environment = dict(self.env, SPLITD_LISTEN=f"127.0.0.1:{self.api_port}", SPLITD_ADMIN_TOKEN=self.admin_token,
                           SPLITD_WEBHOOK_ALLOW="127.0.0.1", SPLITD_PLAN_INTERVAL="5s", SPLITD_SMOOTHING="5s",
                           SPLITD_MIGRATIONS_DIR=os.path.join(ROOT, "migrations"))
        self.log = open(os.path.join(self.work, "splitd.log"), "wb")
        self.addCleanup(self.log.close)
        self.daemon = subprocess.Popen([self.splitd, "serve"], stdout=self.log, stderr=subprocess.STDOUT,
                                       cwd=self.work, env=environment)
        self.processes.append(self.daemon)
        self.ready = False

    def call(self, method: str, path: str, body: Optional[dict] = None) -> Tuple[int, bytes]:
        return http(method, f"http://127.0.0.1:{self.api_port}{path}", self.admin_token, body)

    def wait_for_splitd(self) -> None:
        """Until /readyz answers; then the demo's edge server, model and first device."""
        if self.ready:
            return
        log = os.path.join(self.work, "splitd.log")
        deadline = time.monotonic() + READY_SECONDS
        while True:
            self.assertIsNone(self.daemon.poll(), f"splitd exited with {self.daemon.returncode}:\n{tail(log)}")
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            self.assertLess(time.monotonic(), deadline, f"splitd not ready in {READY_SECONDS} s:\n{tail(log)}")
            time.sleep(0.3)
        self.ready = True
        self.assertEqual(self.call("POST", "/v1/edge-servers", {"id": "edge-1", "compute_flops": 2e13})[0], 201)
        with open(os.path.join(ROOT, "ops", "models", "resnet50.json")) as file:
            self.assertEqual(self.call("POST", "/v1/models", json.load(file))[0], 201)
        status, body = self.call("POST", "/v1/devices", {
            "id": "jetson-resnet50-0", "model": "resnet50", "edge_server": "edge-1", "batch_size": 32,
            "compute_flops": 1e11, "callback_url": self.hook, "push": "table",
            "link": {"uplink_bps": 50e6, "downlink_bps": 100e6, "rtt_seconds": 0.01}})
        self.assertEqual(status, 201, body)

    def stop_processes(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    subprocess.run([self.splitd, "db", "stop", "--state-dir", self.state], capture_output=True,
                                   timeout=120)

    def test_against_splitd(self):
        """The README's set-up block, docs/api.md and docs/import.md against one splitd, in that order
        (import.md's export runs while splitd starts its PostgreSQL)."""
        self.start_splitd()
        readme = self.commands_of("test_against_splitd", "README.md")
        self.assertTrue(readme[0][1].startswith("TOKEN="), readme[0][1])
        self.run_command(*readme[0])  # reads the token file: splitd need not be up yet
        self.assertEqual(self.env.get("TOKEN"), self.admin_token, "the README's TOKEN line read another token")
        commands = self.commands_of("test_against_splitd", "docs/import.md") + readme[1:] + \
            self.commands_of("test_against_splitd", "docs/api.md")
        seen, versions = set(), []
        for document, command in commands:
            line = key(command)
            if "127.0.0.1:8080" in command or line.startswith("ops/pg "):
                self.wait_for_splitd()
            run = self.run_command(document, command)
            output = run.stdout + run.stderr
            if "torch.onnx.export" in line:
                seen.add("export")
                self.assertTrue(os.path.getsize(os.path.join(self.run_dir, "effnet.onnx")) > 100_000)
            elif line.startswith("splitctl import "):
                seen.add("import")
                self.assertRegex(output, r"imported 'effnet': 240 layers, 9 blocks, forward 0\.789 GFLOPs",
                                 "not what docs/import.md says")
            elif line.startswith("splitctl plan "):
                seen.add("plan")
                for said in (r"(?m)^delay\s+858 ms per iteration", r"(?m)^split\s+238 layers on device",
                             r"(?m)^transfer\s+163\.8 kB up and down"):
                    self.assertRegex(run.stdout, said, "not what docs/import.md says")
            elif "/v1/models" in line:
                # The JSON, then the ONNX file imported on the server: the same graph (docs/api.md:
                # "the same graph again -> 200, same version").
                seen.add("models")
                model = json.loads(run.stdout)
                self.assertEqual(run.statuses, ["200" if versions else "201"], output)
                self.assertEqual((model["name"], model["version"], model["layers"], model["blocks"]),
                                 ("effnet", 1, 240, 9), f"{output}\nnot what docs/import.md says")
                versions.append(model["version"])
            elif "/v1/edge-servers" in line:
                seen.add("edge-servers")
                self.assertEqual(run.statuses, ["201"], output)
                self.assertEqual(json.loads(run.stdout)["id"], "edge-2")
            elif "/plans?" in line:
                seen.add("plans")
                self.assertEqual(run.statuses, ["200"], output)
                json.loads(run.stdout)
            elif line.endswith("/v1/devices"):
                seen.add("devices")
                self.assertEqual(run.statuses, ["200"], output)
                self.assertIn("jetson-resnet50-0", run.stdout)
            elif line.startswith("ops/pg psql "):
                seen.add("psql")
                self.assertRegex(run.stdout, r"device\s*\|\s*valid_from")
                self.assertRegex(run.stdout, r"\(\d+ rows?\)")
            else:
                self.fail(f"{document}: teach test_against_splitd what to check of: {line}")
        self.assertEqual(seen, {"export", "import", "plan", "models", "edge-servers", "plans", "devices", "psql"})
        self.assertEqual(versions, [1, 1], "import.md registers effnet twice (JSON, then ONNX)")
        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(timeout=120), 0, tail(os.path.join(self.work, "splitd.log")))
        status = subprocess.run([self.splitd, "db", "status", "--state-dir", self.state], capture_output=True, text=True)
        self.assertEqual(status.returncode, 3, f"the embedded PostgreSQL still runs: {status.stdout}{status.stderr}")


if __name__ == "__main__":
    unittest.main()
