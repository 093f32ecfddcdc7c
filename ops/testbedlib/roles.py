"""The two processes of the testbed: the edge server and the device, each on its own core.

The server serves one session and, at its end, writes what it measured per iteration. The device
follows a script: phases of (split, link, warm-up and measured iterations), or a trace run in
which it picks its split from a plan table through ``splitd.client.SplitClient`` as the link
moves. Both time their compute with wrappers around the parts ``splitd.torch`` runs, so an
iteration splits into compute, link and the rest (the framework's overhead).
"""

import json
import math
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import torch

from splitd.client import SplitClient, sign
from splitd.torch import SplitServer, SplitTrainer, wire

from . import models
from .link import LinkControl, ShapedConnection, clock, schedule_from_spec
from .load import Window
from .predict import TRAINING_OPTIMIZER

LEARNING_RATE = 0.001


def optimizer_factory(parameters: Any) -> torch.optim.Optimizer:
    """SGD with momentum, the torchvision recipe for these CNNs (``TRAINING_OPTIMIZER``)."""
    return torch.optim.SGD(parameters, lr=LEARNING_RATE, momentum=0.9)


def sleep_until(moment: float) -> None:
    """Sleeps until ``clock()`` reaches ``moment``."""
    while True:
        remaining = moment - clock()
        if remaining <= 0:
            return
        time.sleep(remaining)


class Timed:
    """Calls ``function`` and keeps when each call started and ended; with ``slowdown`` K > 1
    it then sleeps K - 1 times the call's duration (a device K times slower)."""

    def __init__(self, function: Callable[..., Any], slowdown: float = 1.0):
        self.function = function
        self.slowdown = slowdown
        self.started = self.ended = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.started = clock()
        result = self.function(*args, **kwargs)
        self.ended = clock()
        if self.slowdown > 1:
            sleep_until(self.ended + (self.slowdown - 1) * (self.ended - self.started))
        return result

    @property
    def seconds(self) -> float:
        """Duration of the last call, without the slowdown's sleep."""
        return self.ended - self.started


def timed_parts(side: Any, part: str, slowdown: float = 1.0) -> Callable[[], Optional[Timed]]:
    """Makes every placement ``side`` creates run its ``part`` ("device" or "server") through a
    ``Timed``; returns a function giving the current placement's wrapper."""
    original = side.placement
    wrappers: Dict[str, Timed] = {}
    current: List[Optional[Timed]] = [None]

    def placement(plan: Any) -> Any:
        found = original(plan)
        if found.fingerprint not in wrappers:
            wrappers[found.fingerprint] = Timed(getattr(found.partition, part), slowdown)
            setattr(found.partition, part, wrappers[found.fingerprint])
        current[0] = wrappers[found.fingerprint]
        return found

    side.placement = placement
    return lambda: current[0]


class ShapedServer(SplitServer):
    """A SplitServer whose replies go through the shaped downlink."""

    def __init__(self, control: LinkControl, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.control = control
        self.connection: Optional[ShapedConnection] = None

    def serve(self, sessions: int = 1) -> None:
        for _ in range(sessions):
            self.listener.settimeout(self.accept_timeout_seconds)
            sock, _ = self.listener.accept()
            self.connection = ShapedConnection(sock, self.control, "downlink", self.limits)
            self.run_session(self.connection)


def own_profile(options: Any, optimizer: str) -> Optional[Dict[str, Any]]:
    """This process's own profile of the model (``--profile-repeat`` fused steps of a copy, the
    trained model untouched), taken before it trains: the prediction then sees the speed this
    process runs at, which on a shared virtual machine differs from one process to the next.
    None without ``--profile-repeat``."""
    if not getattr(options, "profile_repeat", 0):
        return None
    from .calibrate import exporter
    export = exporter()
    with open(options.graph) as file:
        layers = {layer["name"]: layer for layer in json.load(file)["layers"]}
    example = models.Batches(options.batch, options.size).get(0)[0]
    traced, _ = export.trace(models.build(options.model).train(), example, "fx")
    traced.train()
    times = export.fused_profile(traced, example, layers, torch.device("cpu"), options.profile_repeat, optimizer)
    return {"format": "splitprofile/1", "model": options.model, "batch_size": options.batch,
            "hardware": "cpu (1 threads), the training process itself", "mode": "train", "timing": "fused",
            "optimizer": optimizer, "layers": times}


def serve(options: Any) -> None:
    """The server process: profiles itself (with ``--profile-repeat``), prints ``listening on
    PORT``, serves one session, writes its record."""
    torch.set_num_threads(1)
    profile = own_profile(options, "none")  # the server steps after its reply: off the critical path
    control = LinkControl(options.link)
    batches = models.Batches(options.batch, options.size)
    loss = Timed(torch.nn.functional.cross_entropy)
    server = ShapedServer(control, models.build(options.model), batches.get(0)[0], optimizer_factory, loss=loss,
                          graph=options.graph, host="127.0.0.1", port=0, accept_timeout_seconds=600)
    forward = timed_parts(server.side, "server")
    window = Window()
    records: List[Dict[str, Any]] = []
    original_iterate = server._iterate

    def iterate(connection: Any, frame: Any) -> None:
        cpu = time.process_time()
        window.start()
        original_iterate(connection, frame)
        foreign = window.stop()
        cpu = time.process_time() - cpu
        timings, sent = server.timings[-1], connection.frames[-1]
        wrapper = forward()
        start = sent.called - timings.compute
        records.append({"iteration": timings.iteration, "split": timings.split, "compute": timings.compute,
                        "forward": wrapper.seconds if wrapper else 0.0, "loss": loss.seconds,
                        "backward": sent.called - loss.ended, "prefix": (wrapper.started - start) if wrapper else 0.0,
                        "send": timings.send, "step": timings.step, "downlink_link": sent.link_seconds,
                        "downlink_bytes": sent.bytes, "send_before_link": sent.offered - sent.called,
                        # CPU time over the compute and step's wall time: well under 1 when
                        # another process took the core.
                        "cpu_share": cpu / max(1e-9, timings.compute + timings.step),
                        "foreign_load": foreign})

    server._iterate = iterate  # type: ignore[method-assign]
    print(f"listening on {server.address[1]}", flush=True)
    try:
        server.serve(1)
    finally:
        server.close()
        with open(options.record, "w") as file:
            json.dump({"iterations": records, "profile": profile}, file)
    print(f"served {server.iterations} iterations", flush=True)


class Device:
    """The device: a SplitTrainer on the shaped uplink, its compute slowed down K times."""

    def __init__(self, options: Any, first_split: Dict[str, Any]):
        torch.set_num_threads(1)
        # Before connecting: the server, which profiled itself before listening, now waits.
        self.profile = own_profile(options, TRAINING_OPTIMIZER)
        self.slowdown = options.slowdown
        self.control = LinkControl(options.link)
        self.batches = models.Batches(options.batch, options.size)
        self.trainer = SplitTrainer(models.build(options.model), first_split, self.batches.get(0)[0], optimizer_factory,
                                    ("127.0.0.1", options.port), graph=options.graph)
        self.forward = timed_parts(self.trainer.side, "device", options.slowdown)
        # Other processes' load over each whole iteration (the kernel counts CPU time in 10 ms
        # ticks, too coarse for one forward pass): what ran beside the device and the server.
        self.window = Window([None, getattr(options, "peer_pid", None)])
        self.trainer.placement = self.trainer.side.placement(first_split)  # wrapped from the start
        self.trainer.connect()
        self.connection = ShapedConnection(self.trainer.connection.socket, self.control, "uplink", self.trainer.limits)
        self.trainer.connection = self.connection
        self.rows: List[Dict[str, Any]] = []

    def step(self, iteration: int, labels: Dict[str, Any]) -> Dict[str, Any]:
        """One training iteration at the current split; returns its row."""
        inputs, targets = self.batches.get(iteration)
        self.window.start()
        started, cpu = clock(), time.process_time()
        timings = self.trainer.train_step(inputs, targets)
        cpu = time.process_time() - cpu
        after_step = (timings.device_backward + timings.device_step)
        if self.slowdown > 1:
            sleep_until(clock() + (self.slowdown - 1) * after_step)
        ended = clock()
        frame = next(f for f in reversed(self.connection.frames) if f.kind == wire.ACTIVATIONS)
        wrapper = self.forward()
        # total: the iteration as the cost model and the simulator count it, a switch made right
        # before it included (its migration ran before ``started``).
        row = dict(labels, iteration=timings.iteration, split=timings.split, started=started, wall=ended - started,
                   total=ended - started + timings.migration,
                   device_forward=timings.device_forward, device_forward_compute=self.slowdown * wrapper.seconds,
                   uplink=timings.uplink, server_compute=timings.server_compute, downlink=timings.downlink,
                   device_backward=self.slowdown * timings.device_backward, device_step=self.slowdown * timings.device_step,
                   migration=timings.migration, migration_bytes=timings.migration_bytes, uplink_bytes=timings.uplink_bytes,
                   downlink_bytes=timings.downlink_bytes, uplink_link=frame.link_seconds,
                   uplink_before_link=frame.offered - frame.called, loss=timings.loss,
                   cpu_share=cpu / max(1e-9, wrapper.seconds + timings.device_backward + timings.device_step),
                   foreign_load=self.window.stop())
        self.rows.append(row)
        return row

    def switch(self, split: Dict[str, Any], link: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
        """Moves to ``split``; ``link`` (specs) is the link the move runs on (None: the current one)."""
        if link is not None:
            self.control.write(link["uplink"], link["downlink"])
        report = self.trainer.set_plan(split)
        if report is None:
            return None
        return {"seconds": report.seconds, "wire_bytes": report.wire_bytes, "priced_bytes": report.priced_bytes,
                "parameter_bytes_up": report.parameter_bytes_up, "parameter_bytes_down": report.parameter_bytes_down}

    def close(self) -> None:
        """Ends the session."""
        self.trainer.close()


def run_script(options: Any) -> None:
    """The device process following ``options.script`` (see ``experiment``); writes its rows."""
    with open(options.script) as file:
        script = json.load(file)
    unshaped = {"uplink": {"bps": None}, "downlink": {"bps": None}}
    LinkControl(options.link).write(**unshaped)
    phases = script.get("phases", [])
    first = phases[0]["split"] if phases else script["trace"]["initial_split"]
    device = Device(options, first)
    migrations: List[Dict[str, Any]] = []
    try:
        iteration = 0
        for phase in phases:
            moved = device.switch(phase["split"], unshaped)
            if moved:
                migrations.append(dict(moved, phase=phase["labels"]))
            # Warm-up after every change of split, on the unshaped link: it is there for the
            # compute (allocations, autograd's first pass at new shapes), and a slow link would
            # only make it long. A change of rate alone needs none.
            for index in range(phase["warmup"] if moved or iteration == 0 else 0):
                device.step(iteration, dict(phase["labels"], warmup=True, index=index))
                iteration += 1
            device.control.write(phase["link"]["uplink"], phase["link"]["downlink"],
                                 one_way_delay=phase["link"].get("one_way_delay", 0.0))
            began, loads = clock(), []
            for index in range(phase["iterations"]):
                row = device.step(iteration, dict(phase["labels"], warmup=False, index=index))
                loads.append(row["foreign_load"])
                iteration += 1
                if index + 1 >= phase.get("min_iterations", 1) and clock() - began > phase.get("max_seconds", math.inf):
                    break
            print(f"phase {json.dumps(phase['labels'])}: {len(loads)} measured, other processes "
                  f"{sorted(loads)[len(loads) // 2]:.2f} cores", file=sys.stderr, flush=True)
            device.control.write(**unshaped)
        if "trace" in script:
            iteration = trace_run(device, script["trace"], migrations, iteration)
    finally:
        device.close()
        with open(options.record, "w") as file:
            json.dump({"rows": device.rows, "migrations": migrations, "profile": device.profile}, file)


def trace_run(device: Device, trace: Dict[str, Any], migrations: List[Dict[str, Any]], iteration: int) -> int:
    """Trains through the trace, each iteration at the split ``SplitClient`` picks for the rates
    the link has when it starts (as the simulator assumes); switches pay their migration on the
    shaped link."""
    secret = "whsec_" + "dGVzdGJlZC10ZXN0YmVkLXRlc3RiZWQ="  # the testbed plays the daemon: a local key
    client = SplitClient(secret, device="testbed")
    data = {"device": "testbed", "sequence": 1, "table": trace["table"], "model": trace["model"], "model_version": 1,
            "device_layers": trace["initial_split"]["device_layers"], "cut_layers": trace["initial_split"]["cut_layers"],
            # The simulator's `table` policy: the horizon rule at the rates the link has now
            # (an estimator with tau = 0: each measurement is the estimate).
            "switching": {"rule": "horizon", "horizon_iterations": trace.get("horizon", 1), "minimum_relative_gain": 0.0,
                          "estimator": {"mean": "arithmetic", "time_constant_seconds": 0.0},
                          "optimizer": {1.0: "sgd", 2.0: "momentum", 3.0: "adam"}.get(trace.get("migration_factor", 2.0), "momentum"),
                          "migration_bytes_per_parameter_byte": trace.get("migration_factor", 2.0)}}
    body = json.dumps({"type": "split_plan.updated", "data": data}).encode()
    now = str(int(time.time()))
    status, reason = client.handle_webhook({"webhook-id": "msg_testbed", "webhook-timestamp": now,
                                            "webhook-signature": sign(secret, "msg_testbed", now, body)}, body)
    if status != 200:
        raise RuntimeError(f"the device refused the plan table: {status} {reason}")
    unshaped = {"uplink": {"bps": None}, "downlink": {"bps": None}}
    for index in range(trace.get("warmup", 2)):
        device.step(iteration, {"phase": "trace-warmup", "warmup": True, "index": index})
        iteration += 1
    uplink, downlink = schedule_from_spec(trace["link"]["uplink"]), schedule_from_spec(trace["link"]["downlink"])
    epoch = clock()
    device.control.write(trace["link"]["uplink"], trace["link"]["downlink"], epoch=epoch,
                         one_way_delay=trace["link"].get("one_way_delay", 0.0))
    index = 0
    while clock() - epoch < trace["duration"]:
        moment = clock() - epoch
        up, down = uplink.rate_at(moment), downlink.rate_at(moment)
        # One measurement per iteration, each newer than the last (tau = 0 folds it in whole).
        split = client.split_for(max(up, 1.0), max(down, 1.0), measured_at=moment, elapsed_seconds=0.0)
        if split is not None and split.moved:
            moved = device.switch(split)
            if moved:
                migrations.append(dict(moved, phase={"phase": "trace", "index": index}, at=moment,
                                       predicted_seconds=split.migration_seconds))
        row = device.step(iteration, {"phase": "trace", "warmup": False, "index": index, "segment": split.segment if split else None,
                                      "uplink_bps": up, "downlink_bps": down})
        row["at"] = row["started"] - epoch
        iteration += 1
        index += 1
    device.control.write(**unshaped)
    return iteration
