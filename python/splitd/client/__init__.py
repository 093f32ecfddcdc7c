"""splitd on the device, standard library only: signed plan tables in, one split per iteration out.

- ``SplitClient.handle_webhook`` verifies and applies ``split_plan.updated`` deliveries;
  ``SplitClient.split_for(uplink_bps, downlink_bps)`` picks the split with the switching rule.
- ``WebhookReceiver`` serves the callback URL; ``ApiClient`` calls splitd's HTTP API.
"""

from .api import ApiClient, ApiError, telemetry_sample
from .receiver import WebhookReceiver
from .signature import DEFAULT_REPLAY_WINDOW_SECONDS, SignatureError, sign, verify
from .split_client import Split, SplitClient
from .table import DEFAULT_HORIZON_ITERATIONS, MIGRATION_BYTES_PER_PARAMETER_BYTE, PlanTable, Segment, SwitchingRule

__all__ = ["ApiClient", "ApiError", "telemetry_sample", "WebhookReceiver", "DEFAULT_REPLAY_WINDOW_SECONDS",
           "SignatureError", "sign", "verify", "Split", "SplitClient", "DEFAULT_HORIZON_ITERATIONS",
           "MIGRATION_BYTES_PER_PARAMETER_BYTE", "PlanTable", "Segment", "SwitchingRule"]
