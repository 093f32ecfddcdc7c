"""Attacks on the wire: each malformed, oversized, mismatched, truncated or stalled exchange
raises an error naming what was wrong, within the timeout, and nothing is half-applied."""

import json
import socket
import threading
import unittest

import torch

from splitd.torch import FrameError, Limits, PeerClosedError, PeerError, PeerStalledError, ProtocolError, SplitTrainer
from splitd.torch import wire
from splitd.torch.session import SplitModel

from .training_support import OPTIMIZERS, SPLITS, ServerThread, example_batch, fresh_model

SHORT = Limits(timeout_seconds=0.5, idle_timeout_seconds=0.5, max_payload_bytes=1 << 20)


def raw_frame(kind, meta, payload=b"", magic=wire.MAGIC, version=wire.VERSION):
    body = json.dumps(meta).encode()
    return wire.HEADER.pack(magic, version, kind, 0, len(body), len(payload)) + body + payload


class ServerUnderAttack(unittest.TestCase):
    """A raw socket speaks to a real SplitServer; the server must refuse and say why."""

    def setUp(self):
        self.server = ServerThread(fresh_model(), "sgd", limits=SHORT)
        self.socket = socket.create_connection(self.server.address, timeout=10)
        self.device = SplitModel(fresh_model(), example_batch()[0], OPTIMIZERS["sgd"])
        self.placement = self.device.placement(SPLITS[1])

    def tearDown(self):
        self.socket.close()

    def handshake(self):
        connection = wire.Connection(self.socket, Limits(timeout_seconds=10))
        connection.send(wire.HELLO, self.device.hello(self.placement))
        connection.receive([wire.HELLO_OK])
        return connection

    def activations(self, values, labels=None):
        tensors = []
        from splitd.torch.values import flatten
        structure = flatten(tuple(values), tensors)
        label_structure = flatten(labels if labels is not None else torch.zeros(4, dtype=torch.int64), tensors)
        return {"iteration": 0, "split": self.placement.fingerprint, "values": structure, "labels": label_structure}, tensors

    def server_error(self, kind):
        error = self.server.join()
        self.assertIsInstance(error, kind)
        return str(error)

    def test_bad_magic(self):
        self.socket.sendall(raw_frame(wire.HELLO, {}, magic=b"HTTP"))
        self.assertIn("bad magic", self.server_error(FrameError))

    def test_wrong_version(self):
        self.socket.sendall(raw_frame(wire.HELLO, {}, version=9))
        self.assertIn("version 9", self.server_error(FrameError))

    def test_unknown_kind_and_nonzero_reserved(self):
        self.socket.sendall(raw_frame(42, {}))
        self.assertIn("unknown frame kind 42", self.server_error(FrameError))

    def test_oversized_payload_is_refused_before_reading_it(self):
        self.socket.sendall(wire.HEADER.pack(wire.MAGIC, wire.VERSION, wire.HELLO, 0, 2, 1 << 40) + b"{}")
        self.assertIn("exceeds the limit", self.server_error(FrameError))

    def test_oversized_meta(self):
        self.socket.sendall(wire.HEADER.pack(wire.MAGIC, wire.VERSION, wire.HELLO, 0, 1 << 30, 0))
        self.assertIn("meta of 1073741824 bytes exceeds", self.server_error(FrameError))

    def test_meta_that_is_not_json(self):
        self.socket.sendall(wire.HEADER.pack(wire.MAGIC, wire.VERSION, wire.HELLO, 0, 5, 0) + b"\xff{{{{")
        self.assertIn("not UTF-8 JSON", self.server_error(FrameError))

    def test_tensor_bytes_that_do_not_match_dtype_and_shape(self):
        meta = {"tensors": [{"dtype": "float32", "shape": [2, 2], "bytes": 12}]}
        self.socket.sendall(raw_frame(wire.HELLO, meta, b"\0" * 12))
        self.assertIn("takes 16", self.server_error(FrameError))

    def test_unknown_dtype(self):
        self.socket.sendall(raw_frame(wire.HELLO, {"tensors": [{"dtype": "object", "shape": [1], "bytes": 8}]}, b"\0" * 8))
        self.assertIn("unknown dtype 'object'", self.server_error(FrameError))

    def test_truncated_frame_then_disconnect(self):
        frame = raw_frame(wire.HELLO, {"tensors": [{"dtype": "float32", "shape": [64], "bytes": 256}]}, b"\0" * 256)
        self.socket.sendall(frame[:-100])
        self.socket.shutdown(socket.SHUT_WR)
        self.assertIn("after 156 of 256 bytes", self.server_error(PeerClosedError))

    def test_stalled_peer_times_out(self):
        self.socket.sendall(raw_frame(wire.HELLO, {})[:7])
        self.assertIn("sent nothing for 0.5 s", self.server_error(PeerStalledError))

    def test_handshake_for_another_model_is_refused(self):
        other = SplitModel(torch.nn.Sequential(torch.nn.Linear(3, 3)), torch.randn(2, 3), OPTIMIZERS["sgd"])
        connection = wire.Connection(self.socket, Limits(timeout_seconds=10))
        source = other.partitioner.nodes[0].name  # the model input
        connection.send(wire.HELLO, other.hello(other.placement({"device_layers": [source], "cut_layers": [source]})))
        with self.assertRaisesRegex(PeerError, "model mismatch"):
            connection.receive([wire.HELLO_OK])
        self.assertIn("model mismatch", self.server_error(ProtocolError))

    def test_handshake_with_another_cut_is_refused(self):
        connection = wire.Connection(self.socket, Limits(timeout_seconds=10))
        meta = self.device.hello(self.placement)
        meta["crossing"] = ["stem"]
        connection.send(wire.HELLO, meta)
        with self.assertRaisesRegex(PeerError, "cut mismatch"):
            connection.receive([wire.HELLO_OK])
        self.assertIn("cut mismatch", self.server_error(ProtocolError))

    def test_activations_of_another_split_are_refused(self):
        connection = self.handshake()
        meta, tensors = self.activations([torch.zeros(4, 4, 6, 6)])
        meta["split"] = "0123456789abcdef"
        connection.send(wire.ACTIVATIONS, meta, tensors)
        self.assertIn("split '0123456789abcdef'", self.server_error(ProtocolError))

    def test_cut_tensor_of_the_wrong_dtype(self):
        connection = self.handshake()
        connection.send(wire.ACTIVATIONS, *self.activations([torch.zeros(4, 4, 6, 6, dtype=torch.float64)]))
        self.assertIn("cut value 'norm': expected dtype float32, got float64", self.server_error(FrameError))

    def test_cut_tensor_of_the_wrong_shape(self):
        connection = self.handshake()
        connection.send(wire.ACTIVATIONS, *self.activations([torch.zeros(4, 3, 6, 6)]))
        self.assertIn("cut value 'norm': expected shape [4, 4, 6, 6]", self.server_error(FrameError))

    def test_wrong_number_of_cut_values(self):
        connection = self.handshake()
        connection.send(wire.ACTIVATIONS, *self.activations([torch.zeros(4, 4, 6, 6), torch.zeros(1)]))
        self.assertIn("expected 1 cut values", self.server_error(FrameError))

    def test_a_bad_frame_steps_nothing(self):
        before = {name: p.detach().clone() for name, p in self.server.server.model.named_parameters()}
        connection = self.handshake()
        connection.send(wire.ACTIVATIONS, *self.activations([torch.zeros(4, 4, 5, 5)]))
        self.server_error(FrameError)
        for name, parameter in self.server.server.model.named_parameters():
            self.assertTrue(torch.equal(parameter, before[name]), name)


class FakeServer:
    """Answers the handshake correctly, then misbehaves on the first ACTIVATIONS (or ``kind``) as told."""

    def __init__(self, behaviour, kind=wire.ACTIVATIONS):
        self.behaviour = behaviour
        self.kind = kind
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        sock, _ = self.listener.accept()
        connection = wire.Connection(sock, Limits(timeout_seconds=10))
        try:
            hello = connection.receive([wire.HELLO])
            connection.send(wire.HELLO_OK, {"fingerprint": hello.meta["fingerprint"]})
            frame = connection.receive([self.kind])
            self.behaviour(connection, frame)
            self.done.wait(10)  # hold the connection open until the test has seen the device's error
        finally:
            connection.close()
            self.listener.close()

    @property
    def address(self):
        return self.listener.getsockname()[:2]


def good_reply(frame, **changes):
    meta = {"iteration": frame.meta["iteration"], "split": frame.meta["split"], "loss": 1.0, "gradients": [0], "server_seconds": 0.0}
    meta.update(changes)
    return meta


class DeviceUnderAttack(unittest.TestCase):
    """A fake server misbehaves; the device raises naming the problem and does not step."""

    def attempt(self, behaviour, error, fragment):
        fake = FakeServer(behaviour)
        model = fresh_model()
        trainer = SplitTrainer(model, SPLITS[1], example_batch()[0], OPTIMIZERS["momentum"], fake.address, limits=SHORT)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        trainer.connect()
        try:
            with self.assertRaises(error) as caught:
                trainer.train_step(*example_batch())
            self.assertIn(fragment, str(caught.exception))
        finally:
            fake.done.set()
            trainer.connection.close()
        for name, parameter in model.named_parameters():
            self.assertTrue(torch.equal(parameter, before[name]), f"{name} changed although no gradient arrived")
        self.assertEqual(len(trainer.optimizer.state), 0, "optimizer state created by a step that must not happen")
        self.assertEqual(trainer.iteration, 0)

    def test_server_disconnects_before_replying(self):
        self.attempt(lambda connection, frame: connection.close(), PeerClosedError, "closed the connection")

    def test_server_stalls(self):
        self.attempt(lambda connection, frame: None, PeerStalledError, "sent nothing for 0.5 s")

    def test_truncated_gradients(self):
        def behaviour(connection, frame):
            gradient = torch.zeros(4, 4, 6, 6)
            data = raw_frame(wire.GRADIENTS, dict(good_reply(frame), tensors=[wire.tensor_entry(gradient)]), bytes(2304))
            connection.socket.sendall(data[:-1000])
            connection.socket.shutdown(socket.SHUT_WR)
        self.attempt(behaviour, PeerClosedError, "of tensor 0 of a GRADIENTS frame")

    def test_gradient_of_the_wrong_shape(self):
        self.attempt(lambda connection, frame: connection.send(wire.GRADIENTS, good_reply(frame), [torch.zeros(4, 4, 6, 5)]),
                     FrameError, "expected torch.float32 [4, 4, 6, 6]")

    def test_gradient_of_the_wrong_dtype(self):
        self.attempt(lambda connection, frame: connection.send(wire.GRADIENTS, good_reply(frame),
                                                               [torch.zeros(4, 4, 6, 6, dtype=torch.float16)]),
                     FrameError, "is torch.float16")

    def test_gradients_for_another_iteration(self):
        self.attempt(lambda connection, frame: connection.send(wire.GRADIENTS, good_reply(frame, iteration=7), [torch.zeros(4, 4, 6, 6)]),
                     FrameError, "iteration 7")

    def test_reply_without_loss(self):
        self.attempt(lambda connection, frame: connection.send(wire.GRADIENTS, good_reply(frame, loss="high"), [torch.zeros(4, 4, 6, 6)]),
                     FrameError, "numeric loss")

    def test_gradient_frame_with_bad_magic(self):
        self.attempt(lambda connection, frame: connection.socket.sendall(raw_frame(wire.GRADIENTS, {}, magic=b"XXXX")),
                     FrameError, "bad magic")

    def test_oversized_gradient_frame(self):
        def behaviour(connection, frame):
            connection.socket.sendall(wire.HEADER.pack(wire.MAGIC, wire.VERSION, wire.GRADIENTS, 0, 2, 1 << 30) + b"{}")
        self.attempt(behaviour, FrameError, "exceeds the limit of 1048576")


class SwitchAttacks(unittest.TestCase):
    def test_switch_without_an_answer_leaves_the_device_on_its_split(self):
        fake = FakeServer(lambda connection, frame: connection.close(), kind=wire.SWITCH)
        model = fresh_model()
        trainer = SplitTrainer(model, SPLITS[2], example_batch()[0], OPTIMIZERS["adam"], fake.address, limits=SHORT)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        old = trainer.placement
        trainer.connect()
        try:
            with self.assertRaises(PeerClosedError):
                trainer.set_plan(SPLITS[0])
        finally:
            fake.done.set()
            trainer.connection.close()
        self.assertIs(trainer.placement, old)
        self.assertEqual(trainer.migrations, [])
        for name, parameter in model.named_parameters():
            self.assertTrue(torch.equal(parameter, before[name]), name)

    def test_server_refuses_a_switch_missing_a_parameter_and_writes_nothing(self):
        server = ServerThread(fresh_model(), "sgd", limits=SHORT)
        device = SplitModel(fresh_model(), example_batch()[0], OPTIMIZERS["sgd"])
        with torch.no_grad():
            for parameter in device.model.parameters():
                parameter.add_(1.0)  # distinguishable from the server's copy
        old, new = device.placement(SPLITS[2]), device.placement(SPLITS[0])
        connection = wire.Connection(socket.create_connection(server.address, timeout=10), Limits(timeout_seconds=10))
        connection.send(wire.HELLO, device.hello(old))
        connection.receive([wire.HELLO_OK])
        before = {name: p.detach().clone() for name, p in server.server.model.named_parameters()}
        from splitd.torch.ownership import pack
        moving = sorted(old.device.parameters - new.device.parameters)
        moved = pack(device.model, device.optimizer, moving[1:], [])  # one parameter left out
        meta = device.hello(new)
        meta["state"] = moved.entries
        connection.send(wire.SWITCH, meta, moved.tensors)
        with self.assertRaisesRegex(PeerError, "missing"):
            connection.receive([wire.SWITCH_OK])
        connection.close()
        self.assertIn(moving[0], str(server.join()))
        for name, parameter in server.server.model.named_parameters():
            self.assertTrue(torch.equal(parameter, before[name]), f"{name} written by a refused switch")


class MismatchTests(unittest.TestCase):
    def test_server_with_another_optimizer_refuses_the_device(self):
        server = ServerThread(fresh_model(), "adam", limits=SHORT)
        trainer = SplitTrainer(fresh_model(), SPLITS[1], example_batch()[0], OPTIMIZERS["sgd"], server.address)
        with self.assertRaisesRegex(PeerError, "optimizer mismatch"):
            trainer.connect()
        self.assertIsInstance(server.join(), ProtocolError)

    def test_nothing_listening(self):
        listener = socket.create_server(("127.0.0.1", 0))
        address = listener.getsockname()[:2]
        listener.close()
        trainer = SplitTrainer(fresh_model(), SPLITS[1], example_batch()[0], OPTIMIZERS["sgd"], address, limits=SHORT)
        with self.assertRaisesRegex(PeerClosedError, "cannot connect"):
            trainer.connect()


if __name__ == "__main__":
    unittest.main()
