"""WebhookReceiver: an HTTP server (a background thread) that feeds deliveries to a SplitClient."""

import http.server
import json
import threading
from typing import Tuple

from .split_client import SplitClient


class WebhookReceiver:
    """Listens on ``address`` (host, port; port 0 picks one) and answers each POST with the
    client's ``(status, reason)`` as ``{"status": reason}``. Bodies over ``max_body_bytes`` get 413."""

    def __init__(self, client: SplitClient, address: Tuple[str, int], max_body_bytes: int = 64 << 20):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
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

            def log_message(self, *arguments: object) -> None:
                pass

        self.client = client
        self.server = http.server.ThreadingHTTPServer(address, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port listened on (useful after binding port 0)."""
        return self.server.server_address[1]

    def start(self) -> "WebhookReceiver":
        """Starts serving in a daemon thread; returns self."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket."""
        self.server.shutdown()
        self.server.server_close()
