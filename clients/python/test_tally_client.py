"""The Python client against the real tallyd (TALLYD: its path; ctest sets it)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tally_client import TallyClient, TallyError, TallyUnavailable  # noqa: E402

TALLYD = os.environ.get("TALLYD", os.path.join(os.path.dirname(__file__), "..", "..", "build", "tallyd"))
HOUR = 1_793_527_200_000  # 2026-11-01T10:00:00Z


def read(path):
    with open(path) as text:
        return text.read()


class Server:
    def __init__(self, *flags):
        self.dir = tempfile.mkdtemp(prefix="tally-python-client-")
        self.log_path = os.path.join(self.dir, "tallyd.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([TALLYD, "--listen", "127.0.0.1:0", "--data", self.dir + "/data", *flags],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            found = re.search(r"tallyd listening on 127\.0\.0\.1:(\d+)", read(self.log_path))
            if found:
                self.port = int(found.group(1))
                self.url = f"http://127.0.0.1:{self.port}"
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("tallyd did not start: " + read(self.log_path))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.log.close()
        log = read(self.log_path)
        shutil.rmtree(self.dir, ignore_errors=True)
        for finding in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer", "runtime error:"):
            if finding in log:
                raise AssertionError("tallyd reported " + finding + ":\n" + log)


def event(user, kind="click", offset=0, **extra):
    return {"type": kind, "user_id": user, "timestamp": HOUR + offset, **extra}


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.tally = TallyClient(self.server.url, backoff=0.05)

    def tearDown(self):
        self.tally.close()
        self.server.stop()

    def test_send_and_query_every_view(self):
        result = self.tally.send(event("alice", product_id="p1", store_id="s1", event_id="e1"))
        self.assertEqual(result, {"accepted": 1, "duplicates": 0, "rejected": []})
        batch = [event(f"u{i}", "impression" if i % 2 else "click", i, product_id="p2") for i in range(2500)]
        batch.insert(7, {"type": "click", "user_id": "x"})  # no timestamp
        result = self.tally.send_batch(batch)  # three requests of at most 1000
        self.assertEqual(result["accepted"], 2500)
        self.assertEqual(result["rejected"], [{"index": 7, "error": "timestamp: missing"}])

        stats = self.tally.stats(from_=HOUR, to=HOUR + 3_600_000, bucket="all")
        self.assertEqual(stats["total"]["events"], 2501)
        self.assertEqual(stats["total"]["unique_users"], 2501)
        self.assertEqual(stats["total"]["by_type"], {"click": 1251, "impression": 1250})
        top = self.tally.top("product_id", from_="2026-11-01T10:00:00Z", to="2026-11-01T11:00:00Z")
        self.assertEqual([(entry["key"], entry["events"]) for entry in top["top"]], [("p2", 2500), ("p1", 1)])
        self.assertEqual(self.tally.event("e1")["current"]["user_id"], "alice")
        self.assertEqual([e["event_id"] for e in self.tally.user_events("alice")["events"]], ["e1"])
        self.assertEqual(len(self.tally.rejected()["rejected"]), 1)

    def test_a_resent_batch_is_counted_once(self):
        batch = [event(f"u{i}", offset=i) for i in range(10)]
        with_ids = [{**e, "event_id": f"id-{i}"} for i, e in enumerate(batch)]
        self.assertEqual(self.tally.send_batch(with_ids)["accepted"], 10)
        again = self.tally.send_batch(with_ids)
        self.assertEqual((again["accepted"], again["duplicates"]), (0, 10))
        # Without ids the client assigns them, so the same call twice is two sets of events by design,
        # but one call retried internally would not be.
        self.assertEqual(self.tally.stats(from_=HOUR, to=HOUR + 3_600_000, bucket="all")["total"]["events"], 10)

    def test_errors_name_the_field(self):
        with self.assertRaises(TallyError) as raised:
            self.tally.stats(from_=HOUR, to="yesterday")
        self.assertEqual(raised.exception.status, 400)
        self.assertEqual(raised.exception.code, "invalid_argument")
        self.assertTrue(raised.exception.message.startswith("to:"), raised.exception.message)
        with self.assertRaises(TallyError) as raised:
            self.tally.event("no-such-event")
        self.assertEqual(raised.exception.status, 404)

    def test_schemas(self):
        self.tally.put_schema("purchase", {"required": ["price"], "properties": {"price": "number"}})
        result = self.tally.send(event("bob", "purchase", properties={"price": "free"}))
        self.assertEqual(result["accepted"], 0)
        self.assertIn("price", result["rejected"][0]["error"])
        self.assertIn("purchase", [t["type"] for t in self.tally.schemas()["types"]])
        self.tally.delete_schema("purchase")
        self.assertEqual(self.tally.send(event("bob", "purchase", properties={"price": "free"}))["accepted"], 1)

    def test_an_unreachable_server_raises_after_the_retries(self):
        self.server.stop()
        started = time.time()
        with TallyClient(self.server.url, retries=2, backoff=0.05, timeout=2) as client:
            with self.assertRaises(TallyUnavailable):
                client.send(event("a"))
        self.assertLess(time.time() - started, 10)
        self.server = Server()  # for tearDown


class RetryTest(unittest.TestCase):
    def test_a_429_is_retried_after_retry_after(self):
        server = Server("--ingest-rate", "1", "--ingest-burst", "3")
        try:
            tally = TallyClient(server.url, backoff=0.05, retries=6)
            self.assertEqual(tally.send_batch([event(f"u{i}", offset=i) for i in range(3)])["accepted"], 3)
            started = time.time()
            self.assertEqual(tally.send(event("late"))["accepted"], 1)  # refused with 429 first, then passes
            self.assertGreaterEqual(time.time() - started, 0.9)
            tally.close()
        finally:
            server.stop()

    def test_keys(self):
        directory = tempfile.mkdtemp()
        keys = os.path.join(directory, "keys")
        with open(keys, "w") as out:
            out.write("web ingest web-secret-00000000\nanalyst read read-secret-0000000\n")
        server = Server("--keys", keys)
        try:
            with TallyClient(server.url) as anonymous, self.assertRaises(TallyError) as raised:
                anonymous.send(event("a"))
            self.assertEqual((raised.exception.status, raised.exception.code), (401, "unauthenticated"))
            with TallyClient(server.url, key="web-secret-00000000") as website:
                self.assertEqual(website.send(event("a"))["accepted"], 1)
                with self.assertRaises(TallyError) as raised:
                    website.stats(from_=HOUR, to=HOUR + 1)
                self.assertEqual(raised.exception.status, 403)
            with TallyClient(server.url, key="read-secret-0000000") as reader:
                stats = reader.stats(from_=HOUR, to=HOUR + 3_600_000, bucket="all")
                self.assertEqual(stats["total"]["events"], 1)
        finally:
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
