"""The client against a fake berthd on a socketpair: what a hostile or broken server sends.

No berthd is needed: each test plays the server's side of the protocol by hand, and attacks the
client's decoder (an oversized message), its id handling (id 0), and its error mapping.
"""

import socket
import threading
import time
import unittest

import msgpack

import berth
from berth import errors
from berth.connection import Connection
from berth.transport import SocketTransport, connect


class FakeServer:
    """The server end of a socketpair, and a Connection on the other end."""

    def __init__(self):
        self.server, client_sock = socket.socketpair()
        self.conn = Connection(SocketTransport(client_sock, "socketpair"), timeout=5)
        self.unpacker = msgpack.Unpacker(raw=False)

    def request(self):
        """The next request the client sent."""
        while True:
            for msg in self.unpacker:
                return msg
            self.unpacker.feed(self.server.recv(65536))

    def send(self, obj):
        self.server.sendall(msgpack.packb(obj, use_bin_type=True))

    def close(self):
        self.conn.close()
        self.server.close()


class FakeServerTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeServer()

    def tearDown(self):
        self.fake.close()

    def answer_async(self, method, arg=None, **kw):
        result = {}

        def run():
            try:
                result["value"] = self.fake.conn.call(method, arg, **kw)
            except errors.BerthError as e:
                result["error"] = e

        t = threading.Thread(target=run)
        t.start()
        return t, result

    def test_a_request_is_framed_as_the_protocol_says_with_an_id_that_is_not_0(self):
        t, result = self.answer_async("system.ping")
        req = self.fake.request()
        self.assertEqual(req[0], 0)
        self.assertNotEqual(req[1], 0)
        self.assertEqual(req[2:], ["system.ping", []])
        self.fake.send([1, req[1], None, {}])
        t.join(5)
        self.assertEqual(result, {"value": {}})

    def test_each_error_code_maps_to_its_own_class_with_code_and_message(self):
        for code, cls in errors.BY_CODE.items():
            t, result = self.answer_async("container.inspect", {"container": "x"})
            req = self.fake.request()
            self.fake.send([1, req[1], {"code": code, "message": f"m{code}"}, None])
            t.join(5)
            err = result["error"]
            self.assertIs(type(err), cls)
            self.assertEqual((err.code, err.message), (code, f"m{code}"))
        self.assertIs(errors.BY_CODE[2], errors.NotFound)
        self.assertIs(errors.BY_CODE[15], errors.Unauthorized)
        # A code from a newer berthd is internal, its number kept.
        err = errors.from_wire({"code": 99, "message": "new"})
        self.assertIsInstance(err, errors.Internal)
        self.assertEqual(err.code, 99)

    def test_responses_out_of_order_reach_their_own_callers(self):
        t1, r1 = self.answer_async("container.inspect", {"container": "a"})
        req1 = self.fake.request()
        t2, r2 = self.answer_async("container.inspect", {"container": "b"})
        req2 = self.fake.request()
        self.fake.send([1, req2[1], None, {"name": "b"}])
        self.fake.send([1, req1[1], None, {"name": "a"}])
        t1.join(5)
        t2.join(5)
        self.assertEqual(r1["value"], {"name": "a"})
        self.assertEqual(r2["value"], {"name": "b"})

    def test_an_oversized_message_ends_the_connection_with_a_protocol_error(self):
        t, result = self.answer_async("system.ping")
        req = self.fake.request()
        # 9 MiB in 64 KiB strings: no element is over a limit, the whole message is.
        big = [1, req[1], None, ["x" * ((64 << 10) - 8)] * (9 * 16 + 16)]
        data = msgpack.packb(big, use_bin_type=True)
        self.assertGreater(len(data), 8 << 20)

        def flood():
            try:
                self.fake.server.sendall(data)
            except OSError:
                pass  # the client stopped reading and closed: the point

        sender = threading.Thread(target=flood)
        sender.start()
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertIsInstance(result.get("error"), errors.ProtocolError)
        self.assertIn("over 8388608 bytes", result["error"].message)
        self.assertIsInstance(self.fake.conn.closed_reason, errors.ProtocolError)
        with self.assertRaises(errors.ProtocolError):
            self.fake.conn.call("system.ping")
        self.fake.conn.transport.shutdown()
        sender.join(10)

    def test_an_oversized_string_is_refused_before_the_message_ends(self):
        t, result = self.answer_async("system.ping")
        req = self.fake.request()
        self.fake.send([1, req[1], None, {"s": "y" * (5 << 20)}])
        t.join(10)
        self.assertIsInstance(result.get("error"), errors.ProtocolError)

    def test_a_response_with_id_0_is_the_reason_the_connection_ends(self):
        t, result = self.answer_async("system.ping")
        self.fake.request()
        self.fake.send([1, 0, {"code": 5, "message": "berthd serves at most 1 connections"},
                        None])
        t.join(5)
        self.assertIsInstance(result["error"], errors.Unavailable)
        self.assertIn("at most 1", result["error"].message)

    def test_a_message_of_the_wrong_shape_is_a_protocol_error(self):
        t, result = self.answer_async("system.ping")
        self.fake.request()
        self.fake.send({"not": "an array"})
        t.join(5)
        self.assertIsInstance(result["error"], errors.ProtocolError)

    def test_a_stream_gets_the_notifications_that_follow_its_response_in_the_same_read(self):
        got = {}

        def run():
            s = self.fake.conn.call("container.logs", {"container": "c"}, opens_stream=True)
            got["chunks"] = list(s)
            got["end"] = s.end
            got["exit"] = s.exit_code

        t = threading.Thread(target=run)
        t.start()
        req = self.fake.request()
        # Response and notifications in one write: the stream must exist before they are read.
        self.fake.server.sendall(b"".join(msgpack.packb(m, use_bin_type=True) for m in [
            [1, req[1], None, {"stream_id": 4}],
            [2, "stream.data", [{"stream_id": 4, "fd": 1, "time": 1, "data": b"a\n"}]],
            [2, "stream.data", [{"stream_id": 4, "fd": 2, "time": 2, "data": b"b\n"}]],
            [2, "stream.end", [{"stream_id": 4, "has_exit_code": True, "exit_code": 3,
                                "error": ""}]],
        ]))
        t.join(5)
        self.assertEqual([(c.fd, c.data) for c in got["chunks"]], [(1, b"a\n"), (2, b"b\n")])
        self.assertEqual(got["exit"], 3)

    def test_a_lost_connection_fails_the_waiting_call_and_stream(self):
        t, result = self.answer_async("container.wait", {"container": "c"}, timeout=None)
        self.fake.request()
        self.fake.server.close()
        t.join(5)
        self.assertIsInstance(result["error"], errors.Unavailable)

    def test_a_call_without_an_answer_times_out(self):
        with self.assertRaises(errors.Timeout):
            self.fake.conn.call("system.ping", timeout=0.2)


class HostTest(unittest.TestCase):
    def test_tcp_is_refused_as_unsupported_until_berthd_serves_tls(self):
        with self.assertRaises(errors.Unsupported) as ctx:
            berth.Client("tcp://127.0.0.1:7443")
        self.assertIn("TLS", ctx.exception.message)

    def test_an_unknown_scheme_is_an_invalid_argument(self):
        with self.assertRaises(errors.InvalidArgument):
            connect("http://x")

    def test_a_missing_socket_is_unavailable_and_names_the_path(self):
        with self.assertRaises(errors.Unavailable) as ctx:
            berth.Client("unix:///nonexistent/berthd.sock")
        self.assertIn("/nonexistent/berthd.sock", ctx.exception.message)


if __name__ == "__main__":
    unittest.main()
