"""``splitd-client``: receive plan tables and pick a split per (simulated) training iteration.

The switching rule, estimator and optimizer given here are the client's own until the daemon's
first table arrives: every ``split_plan.updated`` webhook carries the daemon's (``switching``),
which replaces them, so the device decides exactly as the daemon records.
"""

import argparse
import math
import random
import time
from typing import Optional, Sequence

from .estimator import MEANS, LinkEstimator
from .receiver import WebhookReceiver
from .split_client import SplitClient
from .switching import DEFAULT_HORIZON_ITERATIONS, DEFAULT_PAYBACK_FACTOR, SwitchingPolicy
from .table import MIGRATION_BYTES_PER_PARAMETER_BYTE


def main(arguments: Optional[Sequence[str]] = None) -> None:
    """Listens for webhooks and prints every split change on a random-walk link."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", required=True, help="the device's whsec_... webhook secret")
    parser.add_argument("--listen", default="127.0.0.1:8787", help="host:port of the callback URL")
    parser.add_argument("--device", help="accept plans for this device id only")
    parser.add_argument("--optimizer", default="momentum", choices=sorted(MIGRATION_BYTES_PER_PARAMETER_BYTE))
    parser.add_argument("--rule", default="payback", choices=["payback", "horizon"],
                        help="switching rule until the daemon sends its own (default payback, the daemon's default)")
    parser.add_argument("--payback-factor", type=float, default=DEFAULT_PAYBACK_FACTOR,
                        help="payback rule: move once the savings accrued reach this many times the migration seconds")
    parser.add_argument("--horizon", type=int, default=DEFAULT_HORIZON_ITERATIONS,
                        help="horizon rule: move when this many iterations of the saving pay for the migration")
    parser.add_argument("--min-gain", type=float, default=0.0, help="minimum relative gain of a better split (either rule)")
    parser.add_argument("--estimator", default=LinkEstimator.RECOMMENDED_MEAN, choices=MEANS, help="how measurements average")
    parser.add_argument("--time-constant", type=float, default=LinkEstimator.RECOMMENDED_TIME_CONSTANT_SECONDS,
                        help="time constant of the link estimate's moving average, seconds")
    parser.add_argument("--iterations", type=int, default=1000)
    options = parser.parse_args(arguments)
    host, _, port = options.listen.rpartition(":")
    policy = SwitchingPolicy.payback(options.payback_factor, options.min_gain) if options.rule == "payback" \
        else SwitchingPolicy.horizon(options.horizon, options.min_gain)
    client = SplitClient(options.secret, options.device, options.optimizer, policy,
                         estimator=LinkEstimator(options.estimator, options.time_constant))
    receiver = WebhookReceiver(client, (host, int(port))).start()
    print(f"listening on {host}:{receiver.port}; register it as the device's callback_url")
    uplink = 100e6
    iteration_seconds = None
    refused = None
    for iteration in range(options.iterations):
        # Stand-in for a real link measurement: a random walk around 100/200 Mbit/s.
        uplink = min(1e9, max(1e6, uplink * math.exp(random.gauss(0, 0.2))))
        # Once per iteration: the measurement goes into the estimate, the last iteration's
        # duration into the switching rule's savings.
        split = client.split_for(uplink, 2 * uplink, elapsed_seconds=iteration_seconds)
        if split is None:
            if client.infeasible is not None:
                print(f"no split fits this device's memory: {client.infeasible.required_device_memory_bytes} bytes needed")
            time.sleep(1)  # no table yet, or none that fits: train locally or wait
            iteration_seconds = None
            continue
        decision = split.decision
        if split.moved:
            print(f"iteration {iteration}: {uplink / 1e6:.1f} Mbit/s up -> cut at {split.cut_layers} "
                  f"({split.reason}; moving layers takes ~{split.migration_seconds:.1f} s)")
        elif decision is not None and decision.is_refusal and decision.candidate != refused:
            print(f"iteration {iteration}: staying at {split.cut_layers} ({decision.reason}: "
                  f"{decision.accrued_saving_seconds:.1f} of {decision.required_saving_seconds:.1f} s saved)")
        refused = decision.candidate if decision is not None and decision.is_refusal else None
        started = time.monotonic()
        time.sleep(0.1)  # train_one_iteration(split)
        iteration_seconds = time.monotonic() - started
    receiver.stop()


if __name__ == "__main__":
    main()
