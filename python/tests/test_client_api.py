"""ApiClient against a stub of splitd's HTTP API on loopback: routes, bodies, auth, errors."""

import http.server
import json
import threading
import unittest

from splitd.client import ApiClient, ApiError, telemetry_sample


class StubApi:
    """Records each request and answers from a route table: (method, path) -> (status, body)."""

    def __init__(self, routes):
        self.requests = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                stub.requests.append((self.command, self.path, dict(self.headers), body))
                status, payload = routes.get((self.command, self.path.split("?")[0]), (404, {"error": "not_found", "detail": "no route"}))
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

            def log_message(self, *arguments):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


PLAN = {"id": 7, "device": "cam/7", "device_layers": ["x", "conv1"], "cut_layers": ["conv1"]}


class ApiClientTests(unittest.TestCase):
    def setUp(self):
        self.stub = StubApi({
            ("POST", "/v1/devices"): (201, {"id": "cam/7", "token": "sdt_1", "webhook_secret": "whsec_AAAA"}),
            ("POST", "/v1/telemetry"): (202, {"accepted": 2}),
            ("GET", "/v1/devices/cam%2F7/plan"): (200, PLAN),
            ("GET", "/v1/devices/cam%2F7/plans"): (200, {"plans": [PLAN]}),
            ("POST", "/v1/devices/cam%2F7/credentials"): (200, {"id": "cam/7", "token": "sdt_2"}),
            ("GET", "/v1/devices/nope/plan"): (409, {"error": "infeasible", "detail": "no split fits", "field": "memory_bytes"}),
        })
        self.client = ApiClient(self.stub.url, "admin-token")

    def tearDown(self):
        self.stub.stop()

    def test_register_device_posts_the_device_input_with_the_bearer_token(self):
        credentials = self.client.register_device("resnet18", "edge-1", 32, 1e11, id="cam/7", callback_url="https://cam/hook")
        self.assertEqual(credentials["token"], "sdt_1")
        method, path, headers, body = self.stub.requests[-1]
        self.assertEqual((method, path), ("POST", "/v1/devices"))
        self.assertEqual(headers["Authorization"], "Bearer admin-token")
        self.assertEqual(body, {"model": "resnet18", "edge_server": "edge-1", "batch_size": 32, "compute_flops": 1e11,
                                "id": "cam/7", "callback_url": "https://cam/hook"})

    def test_telemetry_samples(self):
        samples = [telemetry_sample("cam/7", 2e7, 4e7, 0.01), telemetry_sample("cam/7", 3e7, 5e7, 0.02, memory_bytes=2e9)]
        self.assertEqual(self.client.post_telemetry(samples), 2)
        body = self.stub.requests[-1][3]
        self.assertEqual(len(body["samples"]), 2)
        self.assertTrue(body["samples"][0]["measured_at"].endswith("Z"))
        self.assertEqual(body["samples"][1]["memory_bytes"], 2e9)
        self.assertNotIn("compute_flops", body["samples"][0])

    def test_plan_and_history_escape_the_device_id(self):
        self.assertEqual(self.client.current_plan("cam/7")["cut_layers"], ["conv1"])
        self.assertEqual(self.client.plan_history("cam/7", limit=5)["plans"], [PLAN])
        self.assertEqual(self.stub.requests[-1][1], "/v1/devices/cam%2F7/plans?limit=5")
        self.assertEqual(self.client.all_plans("cam/7"), [PLAN])

    def test_rotate_credentials(self):
        self.assertEqual(self.client.rotate_credentials("cam/7", token=True, token_grace_seconds=60)["token"], "sdt_2")
        self.assertEqual(self.stub.requests[-1][3], {"token": True, "webhook_secret": False, "token_grace_seconds": 60})

    def test_errors_carry_status_code_detail_and_field(self):
        with self.assertRaises(ApiError) as caught:
            self.client.current_plan("nope")
        error = caught.exception
        self.assertEqual((error.status, error.code, error.field), (409, "infeasible", "memory_bytes"))
        self.assertIn("no split fits", str(error))


if __name__ == "__main__":
    unittest.main()
