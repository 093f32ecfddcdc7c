#!/usr/bin/env python3
"""splitd on the device: receive plan tables, choose the split locally at every iteration.

Python standard library only; one file to copy onto the device.

What it does
------------
splitd pushes a ``split_plan.updated`` webhook whose ``data`` carries, next to the current
split, the *plan table* it came from (the JSON of ``splitctl table --format json``)::

    {"type": "split_plan.updated", "timestamp": "...",
     "data": {"device": "cam-7", "model": "resnet50", "model_version": 3, "plan_id": 812,
              "sequence": 41, "device_layers": [...], "cut_layers": [...],
              "switching": {"horizon_iterations": 1, "minimum_relative_gain": 0.05, "optimizer": "adam",
                            "migration_bytes_per_parameter_byte": 3},
              "table": {"model": ..., "conditions": {...},
                        "segments": [{"min_effective_bps": 0, "max_effective_bps": 2.7e7,
                                      "device_layers": [...], "cut_layers": [...],
                                      "transfer_bytes": 262144, "fixed_seconds": 7.87}, ...],
                        "parameter_bytes": {"conv1": 37632, ...}}}}

``WebhookReceiver`` (an HTTP server) checks the Standard Webhooks signature and replay window,
ignores payloads whose per-device ``sequence`` is not newer than the last one kept, and keeps
the latest table and the switching rule the daemon sends with it (``switching``: the daemon's
``SPLITD_SWITCH_HORIZON`` and ``SPLITD_MIN_GAIN`` and the device's optimizer), so the device
decides exactly as the daemon records. ``SplitClient.split_for(uplink_bps, downlink_bps)`` then answers, with no
round trip, which split to train the next iteration with:

1. the table's segment for the effective rate ``R = 1/(1/uplink + 1/downlink)`` (the segment with
   ``min_effective_bps <= R < max_effective_bps``; a segment's delay is
   ``fixed_seconds + 8 * transfer_bytes * (1/uplink + 1/downlink)``);
2. the switching rule, identical to ``Sources/SplitCore/Policy/SwitchingRule.swift`` (the README
   section "Switching costs" documents both; ``switching_cases.json`` holds cases both test
   suites check): if the current split is invalidated (a new model or model version, or a split
   this table cannot price), switch; otherwise switch only if the saving per iteration
   ``current - candidate`` is positive, at least ``minimum_relative_gain * current``, and
   ``horizon_iterations * saving > migration_seconds``;
3. the migration: layers leaving the device send ``parameter_bytes * factor`` up the uplink,
   layers joining it receive them down the downlink, factor 1 for SGD, 2 with momentum, 3 for
   Adam (weights plus optimizer state): ``8*up/uplink + 8*down/downlink`` seconds.

Signatures (Standard Webhooks): ``webhook-signature`` holds space-separated ``v1,<base64>``
entries, each an HMAC-SHA256 with the base64-decoded part of the ``whsec_...`` secret over
``"{webhook-id}.{webhook-timestamp}.{body}"``; one match is enough. Timestamps more than
``replay_window_seconds`` (default 300) from the device clock are refused, and a ``webhook-id``
already accepted within the window is acknowledged without being applied twice.

Example
-------
::

    client = SplitClient(secret=os.environ["SPLITD_WEBHOOK_SECRET"], device="cam-7", optimizer="adam")
    WebhookReceiver(client, ("0.0.0.0", 8787)).start()       # the callback_url you registered
    while training:
        up, down = measure_link()                            # your own estimate, bit/s
        split = client.split_for(up, down)                   # None until the first table arrives
        if split and split.moved:
            move_layers(split)                               # ship weights + optimizer state
        train_one_iteration(split)

``python3 splitd_client.py --secret whsec_... --listen 127.0.0.1:8787`` runs that loop with a
simulated link and prints every split change.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import math
import random
import threading
import time

MIGRATION_BYTES_PER_PARAMETER_BYTE = {"sgd": 1.0, "momentum": 2.0, "adam": 3.0}
"""Bytes moved per parameter byte of a layer changing sides (weights plus optimizer state)."""

DEFAULT_HORIZON_ITERATIONS = 1
"""The Swift default (``SwitchingRule.defaultHorizonIterations``)."""


class SignatureError(Exception):
    """A webhook whose signature, headers or timestamp do not check out."""


def _secret_key(secret):
    return base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)


def sign(secret, message_id, timestamp, body):
    """The ``webhook-signature`` value splitd sends for ``body`` (bytes)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret, headers, body, now=None, replay_window_seconds=300):
    """Checks a Standard Webhooks signature; returns the message id or raises SignatureError.

    ``headers`` is any mapping (keys compared case-insensitively), ``body`` the raw bytes.
    """
    lowered = {str(key).lower(): value for key, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp_text = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as missing:
        raise SignatureError(f"missing header {missing}") from None
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise SignatureError(f"webhook-timestamp {timestamp_text!r} is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > replay_window_seconds:
        raise SignatureError(f"webhook-timestamp {timestamp} is outside the {replay_window_seconds} s replay window")
    expected = sign(secret, message_id, timestamp_text, body).split(",", 1)[1]
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return message_id
    raise SignatureError("no v1 signature matches")


class SwitchingRule:
    """When to leave the current split for the table's: see the module documentation."""

    def __init__(self, horizon_iterations=DEFAULT_HORIZON_ITERATIONS, minimum_relative_gain=0.0):
        if horizon_iterations < 0:
            raise ValueError("horizon_iterations must be >= 0")
        if not 0 <= minimum_relative_gain < 1:
            raise ValueError("minimum_relative_gain must be in [0, 1)")
        self.horizon_iterations = horizon_iterations
        self.minimum_relative_gain = minimum_relative_gain

    def should_switch(self, current_seconds, candidate_seconds, migration_seconds, current_invalidated=False):
        if current_invalidated or not math.isfinite(current_seconds):
            return True
        saving = current_seconds - candidate_seconds
        if not (saving > 0 and saving >= self.minimum_relative_gain * current_seconds):
            return False
        return self.horizon_iterations * saving > migration_seconds


class Segment:
    """One range of effective rates and its split."""

    def __init__(self, data):
        self.min_effective_bps = float(data["min_effective_bps"])
        self.max_effective_bps = None if data["max_effective_bps"] is None else float(data["max_effective_bps"])
        self.device_layers = list(data["device_layers"])
        self.cut_layers = list(data["cut_layers"])
        self.transfer_bytes = float(data["transfer_bytes"])
        self.fixed_seconds = float(data["fixed_seconds"])

    def delay_seconds(self, uplink_bps, downlink_bps):
        return self.fixed_seconds + 8 * self.transfer_bytes * (1 / uplink_bps + 1 / downlink_bps)


class PlanTable:
    """A plan table as ``splitctl table --format json`` prints it."""

    def __init__(self, data):
        self.segments = [Segment(segment) for segment in data["segments"]]
        if not self.segments or self.segments[0].min_effective_bps != 0 or self.segments[-1].max_effective_bps is not None:
            raise ValueError("table segments must cover (0, infinity)")
        self.parameter_bytes = {name: float(value) for name, value in data.get("parameter_bytes", {}).items()}

    @staticmethod
    def effective_bps(uplink_bps, downlink_bps):
        return 1 / (1 / uplink_bps + 1 / downlink_bps)

    def segment_index(self, effective_bps):
        """The segment with ``min <= R < max`` (a breakpoint belongs to the faster segment)."""
        low, high = 0, len(self.segments) - 1
        while low < high:
            middle = (low + high) // 2
            upper = self.segments[middle].max_effective_bps
            if upper is not None and effective_bps >= upper:
                low = middle + 1
            else:
                high = middle
        return low

    def index_of_split(self, device_layers):
        """The segment running exactly ``device_layers``, or None."""
        wanted = set(device_layers)
        return next((i for i, segment in enumerate(self.segments) if set(segment.device_layers) == wanted), None)

    def migration_seconds(self, from_layers, to_layers, factor, uplink_bps, downlink_bps):
        """Seconds to move from one device part to another (layers listed in topological order)."""
        from_set, to_set = set(from_layers), set(to_layers)
        up = down = 0.0
        for name in from_layers:
            if name not in to_set:
                up += self.parameter_bytes.get(name, 0.0) * factor
        for name in to_layers:
            if name not in from_set:
                down += self.parameter_bytes.get(name, 0.0) * factor
        return (8 * up / uplink_bps if up > 0 else 0.0) + (8 * down / downlink_bps if down > 0 else 0.0)


class Split:
    """The answer of ``split_for``: the split to train with, and whether layers must move first."""

    def __init__(self, device_layers, cut_layers, segment, moved, migration_seconds):
        self.device_layers = device_layers
        self.cut_layers = cut_layers
        self.segment = segment
        self.moved = moved
        self.migration_seconds = migration_seconds

    def __repr__(self):
        return f"Split(segment={self.segment}, cut={self.cut_layers}, moved={self.moved}, migration={self.migration_seconds:.3f} s)"


class SplitClient:
    """Keeps the latest plan table from verified webhooks and picks the split for each iteration."""

    def __init__(self, secret, device=None, optimizer="momentum", rule=None, replay_window_seconds=300):
        if optimizer not in MIGRATION_BYTES_PER_PARAMETER_BYTE:
            raise ValueError(f"optimizer must be one of {sorted(MIGRATION_BYTES_PER_PARAMETER_BYTE)}")
        try:
            _secret_key(secret)
        except ValueError:
            raise ValueError("secret must be whsec_ followed by base64") from None
        self.secret = secret
        self.device = device
        self.factor = MIGRATION_BYTES_PER_PARAMETER_BYTE[optimizer]
        self.rule = rule or SwitchingRule()
        self.replay_window_seconds = replay_window_seconds
        self.table = None
        self.sequence = None
        self.model = None
        self._lock = threading.Lock()
        self._seen = {}            # webhook-id -> time accepted, pruned after the replay window
        self._current = None       # ((model, model_version), device_layers, cut_layers) the device runs
        self._invalidated = False

    def handle_webhook(self, headers, body, now=None):
        """Verifies and applies one delivery; returns (HTTP status, reason)."""
        now = time.time() if now is None else now
        try:
            message_id = verify(self.secret, headers, body, now, self.replay_window_seconds)
        except SignatureError as error:
            return 401, str(error)
        with self._lock:
            self._seen = {key: seen for key, seen in self._seen.items() if now - seen <= self.replay_window_seconds}
            if message_id in self._seen:
                return 200, "duplicate delivery"
            try:
                event = json.loads(body)
                data = event["data"]
                if event.get("type") != "split_plan.updated":
                    return 200, f"ignored event type {event.get('type')!r}"
                if self.device is not None and data.get("device") != self.device:
                    return 200, f"ignored plan for device {data.get('device')!r}"
                sequence = int(data["sequence"])
                table = PlanTable(data["table"])
                model = (data.get("model"), data.get("model_version"))
                switching = data.get("switching")
                rule, factor = self.rule, self.factor
                if switching is not None:
                    # The daemon sends the rule it applies, so the device decides as it does.
                    rule = SwitchingRule(int(switching["horizon_iterations"]), float(switching["minimum_relative_gain"]))
                    factor = float(switching["migration_bytes_per_parameter_byte"])
            except (ValueError, KeyError, TypeError) as error:
                return 400, f"malformed payload: {error!r}"
            self._seen[message_id] = now
            if self.sequence is not None and sequence <= self.sequence:
                return 200, f"stale sequence {sequence} (have {self.sequence})"
            self.sequence = sequence
            self.table = table
            self.rule, self.factor = rule, factor
            if self._current is None:
                # The daemon's current split is the one the device is expected to run.
                self._current = (model, list(data.get("device_layers", [])), list(data.get("cut_layers", [])))
            elif self._current[0] != model:
                self._invalidated = True
            self.model = model
            return 200, "applied"

    def split_for(self, uplink_bps, downlink_bps):
        """The split to train the next iteration with at these rates (bit/s), or None before any table."""
        with self._lock:
            if self.table is None:
                return None
            table = self.table
            candidate = table.segment_index(PlanTable.effective_bps(uplink_bps, downlink_bps))
            target = table.segments[candidate]
            _, layers, cut = self._current
            current = table.index_of_split(layers)
            if current == candidate and not self._invalidated:
                return Split(layers, cut, candidate, False, 0.0)
            migration = table.migration_seconds(layers, target.device_layers, self.factor, uplink_bps, downlink_bps)
            invalidated = self._invalidated or current is None
            current_seconds = math.inf if current is None else table.segments[current].delay_seconds(uplink_bps, downlink_bps)
            if not self.rule.should_switch(current_seconds, target.delay_seconds(uplink_bps, downlink_bps), migration, invalidated):
                return Split(layers, cut, current, False, 0.0)
            self._current = (self.model, target.device_layers, target.cut_layers)
            self._invalidated = False
            moved = set(layers) != set(target.device_layers)
            return Split(target.device_layers, target.cut_layers, candidate, moved, migration if moved else 0.0)


class WebhookReceiver:
    """An HTTP server (a background thread) that feeds deliveries to a SplitClient."""

    def __init__(self, client, address, max_body_bytes=64 << 20):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                try:
                    length = int(self.headers.get("content-length") or 0)
                except ValueError:
                    self.send_error(400, "bad content-length")
                    return
                if length < 0 or length > max_body_bytes:
                    self.send_error(413)
                    return
                status, reason = receiver.client.handle_webhook(self.headers, self.rfile.read(length))
                payload = json.dumps({"status": reason}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *arguments):
                pass

        self.client = client
        self.server = http.server.ThreadingHTTPServer(address, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self):
        return self.server.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _example():
    parser = argparse.ArgumentParser(description="Receive splitd plan tables and pick a split per (simulated) training iteration.")
    parser.add_argument("--secret", required=True, help="the device's whsec_... webhook secret")
    parser.add_argument("--listen", default="127.0.0.1:8787", help="host:port of the callback URL")
    parser.add_argument("--device", help="accept plans for this device id only")
    parser.add_argument("--optimizer", default="momentum", choices=sorted(MIGRATION_BYTES_PER_PARAMETER_BYTE))
    parser.add_argument("--horizon", type=int, default=DEFAULT_HORIZON_ITERATIONS, help="switching horizon, iterations")
    parser.add_argument("--iterations", type=int, default=1000)
    arguments = parser.parse_args()
    host, _, port = arguments.listen.rpartition(":")
    client = SplitClient(arguments.secret, arguments.device, arguments.optimizer, SwitchingRule(arguments.horizon))
    receiver = WebhookReceiver(client, (host, int(port))).start()
    print(f"listening on {host}:{receiver.port}; register it as the device's callback_url")
    uplink, downlink = 100e6, 200e6
    for iteration in range(arguments.iterations):
        # Stand-in for a real link estimate: a random walk around 100/200 Mbit/s.
        uplink = min(1e9, max(1e6, uplink * math.exp(random.gauss(0, 0.2))))
        downlink = 2 * uplink
        split = client.split_for(uplink, downlink)
        if split is None:
            time.sleep(1)  # no table yet: train locally or wait
            continue
        if split.moved:
            print(f"iteration {iteration}: {uplink / 1e6:.1f} Mbit/s up -> cut at {split.cut_layers} "
                  f"(moving layers takes ~{split.migration_seconds:.1f} s)")
        time.sleep(0.1)  # train_one_iteration(split)
    receiver.stop()


if __name__ == "__main__":
    _example()
