"""splitd on the device, standard library only: signed plan tables in, one split per iteration out.

- ``SplitClient.handle_webhook`` verifies and applies ``split_plan.updated`` deliveries (and
  ``split_plan.infeasible`` notices); ``SplitClient.split_for(uplink_bps, downlink_bps)`` folds the
  measured rates into the link estimate (``LinkEstimator``) and picks the split with the daemon's
  switching rule (``SwitchingPolicy``: the payback rule, or the horizon rule).
- ``WebhookReceiver`` serves the callback URL; ``ApiClient`` calls splitd's HTTP API.
"""

from .api import ApiClient, ApiError, telemetry_sample
from .estimator import MINIMUM_BPS, ConfigurationError, LinkEstimate, LinkEstimator, TelemetrySample
from .receiver import WebhookReceiver
from .signature import DEFAULT_REPLAY_WINDOW_SECONDS, SignatureError, sign, verify
from .split_client import Infeasible, Split, SplitClient, Switching
from .switching import (DEFAULT_HORIZON_ITERATIONS, DEFAULT_PAYBACK_FACTOR, PaybackRule, SwitchDecision, SwitchingPolicy,
                        SwitchingRule, SwitchingState, decide_on_device)
from .table import MIGRATION_BYTES_PER_PARAMETER_BYTE, PlanTable, Segment

__all__ = ["ApiClient", "ApiError", "telemetry_sample", "MINIMUM_BPS", "ConfigurationError", "LinkEstimate",
           "LinkEstimator", "TelemetrySample", "WebhookReceiver", "DEFAULT_REPLAY_WINDOW_SECONDS", "SignatureError",
           "sign", "verify", "Infeasible", "Split", "SplitClient", "Switching", "DEFAULT_HORIZON_ITERATIONS",
           "DEFAULT_PAYBACK_FACTOR", "PaybackRule", "SwitchDecision", "SwitchingPolicy", "SwitchingRule",
           "SwitchingState", "decide_on_device", "MIGRATION_BYTES_PER_PARAMETER_BYTE", "PlanTable", "Segment"]
