"""A small client of splitd's HTTP API (standard library ``urllib``): register a device, post
telemetry, read the plan in force and the plan history, rotate credentials.

Routes and bodies are those of ``Sources/SplitServer/Resources/openapi.yaml``. Operator calls
need an admin token; a device token may post its own telemetry and read its own plans.
"""

import datetime
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence


class ApiError(Exception):
    """A non-2xx answer: ``status``, the API's ``code`` and ``detail``, and ``field`` when it names one."""

    def __init__(self, status: int, code: str, detail: str, field: Optional[str] = None):
        where = f" (field {field})" if field else ""
        super().__init__(f"HTTP {status} {code}: {detail}{where}")
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field


def telemetry_sample(device: str, uplink_bps: float, downlink_bps: float, rtt_seconds: float,
                     measured_at: Optional[datetime.datetime] = None, compute_flops: Optional[float] = None,
                     memory_bytes: Optional[float] = None) -> Dict[str, Any]:
    """One ``TelemetrySample`` body (``measured_at`` defaults to now, UTC)."""
    when = measured_at or datetime.datetime.now(datetime.timezone.utc)
    sample: Dict[str, Any] = {"device": device, "measured_at": when.isoformat().replace("+00:00", "Z"),
                              "uplink_bps": uplink_bps, "downlink_bps": downlink_bps, "rtt_seconds": rtt_seconds}
    if compute_flops is not None:
        sample["compute_flops"] = compute_flops
    if memory_bytes is not None:
        sample["memory_bytes"] = memory_bytes
    return sample


class ApiClient:
    """Calls splitd at ``base_url`` (``http://127.0.0.1:8080``) with a bearer ``token``."""

    def __init__(self, base_url: str, token: str, timeout_seconds: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_seconds = timeout_seconds

    def request(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None,
                query: Optional[Mapping[str, Any]] = None) -> Any:
        """One JSON request; returns the decoded answer (None for an empty one) or raises ApiError."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({key: value for key, value in query.items() if value is not None})
        data = None if body is None else json.dumps(body).encode()
        headers = {"authorization": f"Bearer {self.token}", "accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise self._error(error.code, error.read()) from None
        return json.loads(payload) if payload else None

    @staticmethod
    def _error(status: int, payload: bytes) -> ApiError:
        try:
            document = json.loads(payload)
            return ApiError(status, str(document.get("error", "error")), str(document.get("detail", "")), document.get("field"))
        except (ValueError, AttributeError):
            return ApiError(status, "error", payload.decode(errors="replace")[:200])

    def register_device(self, model: str, edge_server: str, batch_size: int, compute_flops: float,
                        **fields: Any) -> Dict[str, Any]:
        """``POST /v1/devices`` (admin): returns ``Credentials`` (``id``, ``token``, ``webhook_secret``, shown once).

        Further ``DeviceInput`` fields (``id``, ``callback_url``, ``memory_bytes``, ...) go in ``fields``.
        """
        body = dict(fields, model=model, edge_server=edge_server, batch_size=batch_size, compute_flops=compute_flops)
        return self.request("POST", "/v1/devices", body)

    def post_telemetry(self, samples: Sequence[Mapping[str, Any]]) -> int:
        """``POST /v1/telemetry``: stores 1..10,000 samples all-or-nothing; returns how many were accepted."""
        return int(self.request("POST", "/v1/telemetry", {"samples": list(samples)})["accepted"])

    def current_plan(self, device: str) -> Dict[str, Any]:
        """``GET /v1/devices/{id}/plan``: the plan in force (ApiError 409 when no split fits memory)."""
        return self.request("GET", f"/v1/devices/{urllib.parse.quote(device, safe='')}/plan")

    def plan_history(self, device: str, limit: Optional[int] = None, before: Optional[str] = None) -> Dict[str, Any]:
        """``GET /v1/devices/{id}/plans``: ``{"plans": [...], "next_before": ...}``, newest first."""
        return self.request("GET", f"/v1/devices/{urllib.parse.quote(device, safe='')}/plans",
                            query={"limit": limit, "before": before})

    def all_plans(self, device: str, page_size: int = 1000) -> List[Dict[str, Any]]:
        """Every plan of the history, following ``next_before`` until the last page."""
        plans: List[Dict[str, Any]] = []
        before = None
        while True:
            page = self.plan_history(device, page_size, before)
            plans.extend(page["plans"])
            before = page.get("next_before")
            if not before or not page["plans"]:
                return plans

    def rotate_credentials(self, device: str, token: bool = True, webhook_secret: bool = False,
                           token_grace_seconds: Optional[float] = None,
                           secret_overlap_seconds: Optional[float] = None) -> Dict[str, Any]:
        """``POST /v1/devices/{id}/credentials`` (admin): the new token and/or secret, shown once."""
        body: Dict[str, Any] = {"token": token, "webhook_secret": webhook_secret}
        if token_grace_seconds is not None:
            body["token_grace_seconds"] = token_grace_seconds
        if secret_overlap_seconds is not None:
            body["secret_overlap_seconds"] = secret_overlap_seconds
        return self.request("POST", f"/v1/devices/{urllib.parse.quote(device, safe='')}/credentials", body)
