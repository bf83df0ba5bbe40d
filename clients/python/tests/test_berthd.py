"""The client against a real berthd: the one ctest's python_client starts (run_with_berthd.cpp)
names it in BERTH_TEST_HOST; without it these tests are skipped.

Boots two VMs: one ``run`` of busybox echo, and one container that is waited for before it
starts, followed, exec'd into and waited for again.
"""

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

import msgpack

import berth
from berth import errors

HOST = os.environ.get("BERTH_TEST_HOST")


def raw_exchange(host, messages):
    """Sends packed ``messages`` on a new connection; every message berthd answers until it
    closes the connection or 5 s pass."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(host[len("unix://"):])
    sock.sendall(b"".join(msgpack.packb(m, use_bin_type=True) for m in messages))
    sock.settimeout(0.5)
    unpacker = msgpack.Unpacker(raw=False)
    out = []
    closed = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(out) < len(messages):
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            closed = True
            break
        unpacker.feed(data)
        out.extend(unpacker)
    sock.close()
    return out, closed


@unittest.skipUnless(HOST, "BERTH_TEST_HOST is not set (ctest's python_client sets it)")
class BerthdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = berth.Client(HOST, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_ping_and_version(self):
        self.client.system.ping()
        info = self.client.system.info()
        self.assertEqual(info["protocol"], 1)
        self.assertEqual(self.client.system.version(), info["version"])
        self.assertIsInstance(info["version"], str)

    def test_a_missing_container_is_a_typed_not_found(self):
        with self.assertRaises(errors.NotFound) as ctx:
            self.client.containers.inspect("pyclient-no-such-container")
        self.assertEqual(ctx.exception.code, 2)
        self.assertIn("pyclient-no-such-container", ctx.exception.message)
        with self.assertRaises(errors.NotFound):
            self.client.images.inspect("pyclient-no-such-image:1")

    def test_params_of_the_wrong_shape_are_refused_and_the_connection_stays(self):
        answers, closed = raw_exchange(HOST, [
            [0, 1, "system.ping", [5]],
            [0, 2, "container.list", [{}, {}]],
            [0, 3, "system.ping", []],
        ])
        self.assertFalse(closed)
        by_id = {a[1]: a for a in answers}
        self.assertEqual(by_id[1][2]["code"], errors.InvalidArgument.code)
        self.assertIn("must be a map", by_id[1][2]["message"])
        self.assertEqual(by_id[2][2]["code"], errors.InvalidArgument.code)
        self.assertIn("not 2 elements", by_id[2][2]["message"])
        self.assertEqual(by_id[3][2:], [None, {}])

    def test_id_0_and_client_notifications_end_the_connection_with_a_protocol_error(self):
        for attack in ([0, 0, "system.ping", []], [2, "stream.data", [{}]], [1, 9, None, {}]):
            answers, closed = raw_exchange(HOST, [attack, [0, 5, "system.ping", []]])
            self.assertTrue(closed, attack)
            self.assertEqual(len(answers), 1, attack)  # the ping after it is never answered
            self.assertEqual(answers[0][1], 0)
            self.assertEqual(answers[0][2]["code"], errors.ProtocolError.code)

    def test_lists_of_images_networks_and_volumes(self):
        tags = [t for i in self.client.images.list() for t in i["tags"]]
        self.assertTrue(any(t.startswith("busybox") for t in tags), tags)
        detail = self.client.images.inspect("busybox")
        self.assertIsInstance(detail["layers"], list)
        vol = self.client.volumes.create("pyclient-vol", size=16 << 20)
        self.assertEqual(vol["name"], "pyclient-vol")
        self.assertIn("pyclient-vol", [v["name"] for v in self.client.volumes.list()])
        self.client.volumes.remove("pyclient-vol")
        self.assertNotIn("pyclient-vol", [v["name"] for v in self.client.volumes.ls()])
        try:
            net = self.client.networks.create("pyclient-net")
        except errors.Unavailable:
            return  # a berthd under --bridge=none serves no networks
        self.assertEqual(net["name"], "pyclient-net")
        self.assertIn("pyclient-net", [n["name"] for n in self.client.networks.list()])
        self.client.networks.remove("pyclient-net")
        with self.assertRaises(errors.NotFound):
            self.client.networks.inspect("pyclient-net")

    def test_run_echo_returns_its_output_and_exit_code(self):
        r = self.client.containers.run("busybox", ["sh", "-c", "echo hi; echo err >&2"],
                                       remove=True, timeout=180)
        self.assertEqual((r.exit_code, r.stdout, r.stderr), (0, b"hi\n", b"err\n"))
        # Auto-removed: gone once wait answered, though berthd's table may lag a moment.
        deadline = time.monotonic() + 10
        while True:
            try:
                seen = self.client.containers.inspect(r.id)
            except errors.NotFound:
                break
            self.assertLess(time.monotonic(), deadline, f"still there: {seen['state']}")
            time.sleep(0.05)

    def test_wait_logs_follow_and_exec_of_one_container(self):
        c = self.client.containers
        script = ("echo hello; echo oops >&2; "
                  "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo bye; exit 3")
        cid = c.create("busybox", ["sh", "-c", script], name="pyclient-main")["id"]
        try:
            self._wait_logs_follow_and_exec(cid)
        finally:
            c.remove(cid, force=True)

    def _wait_logs_follow_and_exec(self, cid):
        c = self.client.containers
        # A created container is waited for until it runs and exits (as docker wait does).
        with self.assertRaises(errors.Timeout):
            c.wait(cid, timeout=1.5)
        waited = {}
        waiter = threading.Thread(target=lambda: waited.update(c.wait(cid)))
        waiter.start()
        attached = c.attach(cid)
        c.start(cid)
        self.assertEqual(c.inspect(cid)["state"], "running")
        follow = c.logs(cid, follow=True)
        follow.timeout = 120
        seen = []
        for chunk in follow:
            seen.append((chunk.fd, chunk.data))
            if (2, b"oops\n") in seen:
                break
        self.assertIn((1, b"hello\n"), seen)

        out = c.exec_run(cid, ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"],
                         timeout=120)
        self.assertEqual((out.exit_code, out.stdout, out.stderr), (5, b"exec-out\n", b"exec-err\n"))
        self.assertTrue(out.exec_id)
        self.assertEqual(c.exec_run(cid, ["touch", "/tmp/go"], timeout=120).exit_code, 0)

        rest = list(follow)  # the live part, to the container's exit
        self.assertIn((1, b"bye\n"), [(x.fd, x.data) for x in rest])
        self.assertEqual(follow.exit_code, 3)  # a followed log ends with the exit code
        attached.timeout = 120
        stdout, stderr = attached.read_all()
        self.assertIn(b"bye\n", stdout)
        self.assertEqual(attached.exit_code, 3)
        waiter.join(120)
        self.assertEqual(waited.get("exit_code"), 3)
        self.assertEqual(c.wait(cid)["exit_code"], 3)  # exited: at once

        # tail counts stdout and stderr lines together; a stored log ends without an exit code.
        stdout, stderr = c.logs(cid, tail=2).read_all()
        self.assertEqual((stdout, stderr), (b"bye\n", b"oops\n"))
        ids = [x["id"] for x in c.list(all=True)]
        self.assertIn(cid, ids)
        self.assertNotIn(cid, [x["id"] for x in c.list()])

    def test_the_restart_unhealthy_example_sweeps_once(self):
        example = os.path.join(os.path.dirname(__file__), "..", "examples",
                               "restart_unhealthy.py")
        env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
        r = subprocess.run([sys.executable, example, "--once", "--host", HOST], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)


class RestartUnhealthyTest(unittest.TestCase):
    """The example's choice, on container_info maps as the document describes them."""

    def setUp(self):
        path = os.path.join(os.path.dirname(__file__), "..", "examples", "restart_unhealthy.py")
        spec = importlib.util.spec_from_file_location("restart_unhealthy", path)
        self.mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.mod)

    def test_only_running_unhealthy_containers_with_the_label_are_chosen(self):
        sick = {"state": "running", "health": {"status": "unhealthy"},
                "labels": {"autoheal": "true"}}
        self.assertTrue(self.mod.unhealthy(sick, None))
        self.assertTrue(self.mod.unhealthy(sick, "autoheal=true"))
        self.assertFalse(self.mod.unhealthy(sick, "autoheal=false"))
        self.assertFalse(self.mod.unhealthy(dict(sick, state="exited"), None))
        self.assertFalse(self.mod.unhealthy(dict(sick, health={"status": "starting"}), None))
        self.assertFalse(self.mod.unhealthy({"state": "running", "health": {"status": ""}},
                                            None))

    def test_a_sweep_restarts_each_unhealthy_container_at_most_once_per_backoff(self):
        sick = {"id": "c1", "name": "web", "state": "running",
                "health": {"status": "unhealthy", "failing_streak": 3}, "labels": {}}
        well = dict(sick, id="c2", name="db", health={"status": "healthy"})

        class Containers:
            restarts = []

            def list(self):
                return [sick, well]

            def restart(self, cid):
                self.restarts.append(cid)

        client = type("FakeClient", (), {"containers": Containers()})()
        restarted = {}
        self.assertEqual(self.mod.sweep(client, None, restarted, backoff=60), ["web"])
        self.assertEqual(self.mod.sweep(client, None, restarted, backoff=60), [])
        self.assertEqual(self.mod.sweep(client, None, restarted, backoff=0), ["web"])
        self.assertEqual(client.containers.restarts, ["c1", "c1"])


if __name__ == "__main__":
    unittest.main()
