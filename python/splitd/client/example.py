"""``splitd-client``: receive plan tables and pick a split per (simulated) training iteration."""

import argparse
import math
import random
import time
from typing import Optional, Sequence

from .receiver import WebhookReceiver
from .split_client import SplitClient
from .table import DEFAULT_HORIZON_ITERATIONS, MIGRATION_BYTES_PER_PARAMETER_BYTE, SwitchingRule


def main(arguments: Optional[Sequence[str]] = None) -> None:
    """Listens for webhooks and prints every split change on a random-walk link."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secret", required=True, help="the device's whsec_... webhook secret")
    parser.add_argument("--listen", default="127.0.0.1:8787", help="host:port of the callback URL")
    parser.add_argument("--device", help="accept plans for this device id only")
    parser.add_argument("--optimizer", default="momentum", choices=sorted(MIGRATION_BYTES_PER_PARAMETER_BYTE))
    parser.add_argument("--horizon", type=int, default=DEFAULT_HORIZON_ITERATIONS, help="switching horizon, iterations")
    parser.add_argument("--iterations", type=int, default=1000)
    options = parser.parse_args(arguments)
    host, _, port = options.listen.rpartition(":")
    client = SplitClient(options.secret, options.device, options.optimizer, SwitchingRule(options.horizon))
    receiver = WebhookReceiver(client, (host, int(port))).start()
    print(f"listening on {host}:{receiver.port}; register it as the device's callback_url")
    uplink = 100e6
    for iteration in range(options.iterations):
        # Stand-in for a real link estimate: a random walk around 100/200 Mbit/s.
        uplink = min(1e9, max(1e6, uplink * math.exp(random.gauss(0, 0.2))))
        split = client.split_for(uplink, 2 * uplink)
        if split is None:
            time.sleep(1)  # no table yet: train locally or wait
            continue
        if split.moved:
            print(f"iteration {iteration}: {uplink / 1e6:.1f} Mbit/s up -> cut at {split.cut_layers} "
                  f"(moving layers takes ~{split.migration_seconds:.1f} s)")
        time.sleep(0.1)  # train_one_iteration(split)
    receiver.stop()


if __name__ == "__main__":
    main()
