"""The edge server of the two-process test: ``python -m tests.server_process OPTIMIZER``.

Prints ``listening on PORT``, serves one session, prints ``served N iterations``.
"""

import sys

from splitd.torch import SplitServer

from .training_support import OPTIMIZERS, example_batch, fresh_model


def main() -> None:
    server = SplitServer(fresh_model(), example_batch()[0], OPTIMIZERS[sys.argv[1]])
    print(f"listening on {server.address[1]}", flush=True)
    try:
        server.serve(1)
    finally:
        server.close()
    print(f"served {server.iterations} iterations", flush=True)


if __name__ == "__main__":
    main()
