"""Soak test driver (scripts/soak.sh runs it): mixed load on a running tallyd with hostile clients among
the good ones, then checks that the server's counts equal what it acknowledged and that its memory stays
flat while only hostile clients are at it. Standard library only."""

import http.client
import json
import os
import random
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
HOUR_MS = 3_600_000
BASE_MS = 1_793_527_200_000  # events are stamped over 24 hours from here
NEVER_AFTER_MS = BASE_MS + 24 * HOUR_MS


class Tally:
    """What the good clients had acknowledged; compared with the server's answer at the end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = 0
        self.hostile_requests = 0
        self.hostile_refusals = {}

    def add_accepted(self, count):
        with self.lock:
            self.accepted += count

    def add_hostile(self, outcome):
        with self.lock:
            self.hostile_requests += 1
            self.hostile_refusals[outcome] = self.hostile_refusals.get(outcome, 0) + 1


def good_client(port, seed, deadline, tally, failures):
    """Batches of new events (unique ids), re-sends of some batches (duplicates, never counted twice) and
    take-home posts; counts what the server acknowledged."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    serial = 0
    while time.time() < deadline:
        try:
            if rng.random() < 0.2:
                ts = BASE_MS + rng.randrange(24 * HOUR_MS)
                event = rng.choice(["click", "impression"])
                connection.request("POST", f"/analytics?timestamp={ts}&user=u{rng.randrange(5000)}&event={event}")
                response = connection.getresponse()
                response.read()
                if response.status == 204:
                    tally.add_accepted(1)
                elif response.status != 429:
                    failures.append(f"take-home POST answered {response.status}")
                continue
            events = []
            for _ in range(rng.randrange(1, 200)):
                serial += 1
                events.append({
                    "event_id": f"c{seed}-{serial}",
                    "type": rng.choice(["click", "impression", "impression", "add_to_cart"]),
                    "user_id": f"u{rng.randrange(5000)}",
                    "timestamp": BASE_MS + rng.randrange(24 * HOUR_MS),
                    "product_id": f"p{rng.randrange(300)}",
                })
            body = "\n".join(json.dumps(event) for event in events)
            connection.request("POST", "/v1/events", body, {"Content-Type": "application/x-ndjson"})
            response = connection.getresponse()
            answer = response.read()
            if response.status == 200:
                result = json.loads(answer)
                tally.add_accepted(result["accepted"])
                if result["rejected"]:
                    failures.append(f"good events rejected: {result['rejected'][:1]}")
                # Re-send an acknowledged batch now and then (a client retrying): every event is a duplicate.
                if rng.random() < 0.05:
                    connection.request("POST", "/v1/events", body, {"Content-Type": "application/x-ndjson"})
                    again = connection.getresponse()
                    again_body = again.read()
                    if again.status == 200 and json.loads(again_body)["accepted"] != 0:
                        failures.append("a re-sent batch was accepted again")
            elif response.status != 429:
                failures.append(f"POST /v1/events answered {response.status}: {answer[:200]!r}")
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"good client: {error!r}")
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.close()


def raw_exchange(port, data, read=True, trickle=0.0):
    """Sends bytes on a fresh connection; returns the status line's code, 'closed' or 'timeout'."""
    try:
        with socket.create_connection((HOST, port), timeout=15) as sock:
            if trickle:
                for i in range(0, len(data)):
                    sock.sendall(data[i:i + 1])
                    time.sleep(trickle)
            else:
                sock.sendall(data)
            if not read:
                return "sent"
            reply = sock.recv(4096)
            if not reply:
                return "closed"
            parts = reply.split(b" ", 2)
            return parts[1].decode() if len(parts) > 1 else "garbage-reply"
    except socket.timeout:
        return "timeout"
    except OSError:
        return "closed"


def expect(outcome, wanted, what, failures):
    if outcome != wanted:
        failures.append(f"{what} answered {outcome}, not {wanted}")
    return outcome


EMPTY_BATCH = b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n[]"
SMUGGLED = b"POST /analytics?timestamp=1793527200000&user=smuggled&event=click HTTP/1.1\r\nHost: t\r\n\r\n"
TWO_LENGTHS = (b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: %d\r\n\r\n[]"
               % (2 + len(SMUGGLED))) + SMUGGLED
LENGTH_AND_CHUNKED = (b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nTransfer-Encoding: chunked"
                      b"\r\n\r\n2\r\n[]\r\n0\r\n\r\n") + SMUGGLED
MANY_ITEMS = b"{}\n" * ((8 << 20) // 3 - 100)


def connection_flood(port):
    sockets = []
    for _ in range(50):
        try:
            sockets.append(socket.create_connection((HOST, port), timeout=5))
        except OSError:
            break
    time.sleep(0.2)
    for sock in sockets:
        sock.close()
    return f"flood-{len(sockets)}"


def abandoned_empty_batches(port, failures):
    """Empty batches from clients that close at once must not hold connection slots."""
    for _ in range(100):
        raw_exchange(port, EMPTY_BATCH, read=False)
    expect(raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), "200",
           "/healthz after 100 abandoned empty batches", failures)
    return "empty-batches"


DEEP = ('{"type":"click","user_id":"x","timestamp":1,"properties":' + "[" * 100 + "]" * 100 + "}").encode()

# Attacks that keep nothing, then those kept as rejected input (so they use memory): each a function of
# (port, rng, failures) returning an outcome label.
UNRECORDED_ATTACKS = [
    lambda port, rng, failures: raw_exchange(
        port, b"GET /analytics?timestamp=1 HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 40, trickle=0.25),
    lambda port, rng, failures: raw_exchange(port, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))),
    lambda port, rng, failures: raw_exchange(
        port, b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n"),
    lambda port, rng, failures: raw_exchange(
        port, b"GET /v1/stats HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(99)) + b"\r\n"),
    lambda port, rng, failures: raw_exchange(port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"),
    lambda port, rng, failures: connection_flood(port),
    lambda port, rng, failures: abandoned_empty_batches(port, failures),
    lambda port, rng, failures: expect(raw_exchange(port, EMPTY_BATCH), "200", "an empty batch", failures),
    lambda port, rng, failures: expect(raw_exchange(port, rng.choice([TWO_LENGTHS, LENGTH_AND_CHUNKED])), "400",
                                       "an ambiguous body length", failures),
]
RECORDED_ATTACKS = [
    lambda port, rng, failures: raw_exchange(
        port, b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(DEEP), DEEP)),
    lambda port, rng, failures: raw_exchange(
        port, b"POST /analytics?timestamp=x&user=&event=buy HTTP/1.1\r\nHost: t\r\n\r\n"),
    lambda port, rng, failures: expect(raw_exchange(
        port, b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-ndjson\r\n"
              b"Content-Length: %d\r\n\r\n" % len(MANY_ITEMS) + MANY_ITEMS), "413", "millions of bad items", failures),
]


def hostile_client(port, seed, deadline, tally, recorded, failures):
    """Attacks that must change nothing: slowloris, garbage, oversize bodies and headers, header floods,
    connection floods, empty batches whose senders leave at once, smuggled requests. With `recorded`, also
    invalid events and bodies of millions of bad items."""
    rng = random.Random(seed)
    attacks = UNRECORDED_ATTACKS + (RECORDED_ATTACKS if recorded else [])
    while time.time() < deadline:
        tally.add_hostile(rng.choice(attacks)(port, rng, failures))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get_json(port, target):
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    connection.request("GET", target)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {target} answered {response.status}: {body[:300]!r}")
    return json.loads(body)


def main():
    port, pid, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    good_clients, hostile_clients = 4, 4
    quiet_seconds = max(30.0, seconds * 0.2)  # the last part: hostile clients only, memory must stay flat
    tally, failures = Tally(), []
    start = time.time()
    mixed_until = start + seconds - quiet_seconds
    threads = [threading.Thread(target=good_client, args=(port, 100 + i, mixed_until, tally, failures))
               for i in range(good_clients)]
    threads += [threading.Thread(target=hostile_client, args=(port, 200 + i, mixed_until, tally, True, failures))
                for i in range(hostile_clients)]
    for thread in threads:
        thread.start()
    samples = []
    while time.time() < mixed_until:
        samples.append((round(time.time() - start), rss_kb(pid)))
        print(f"soak: {samples[-1][0]:5d} s  rss {samples[-1][1] // 1024} MiB  acked {tally.accepted}"
              f"  hostile requests {tally.hostile_requests}", flush=True)
        time.sleep(min(10.0, max(0.1, mixed_until - time.time())))
    for thread in threads:
        thread.join()

    # Hostile clients only: nothing they send is kept, so memory must not grow.
    quiet_until = time.time() + quiet_seconds
    threads = [threading.Thread(target=hostile_client, args=(port, 300 + i, quiet_until, tally, False, failures))
               for i in range(hostile_clients)]
    for thread in threads:
        thread.start()
    time.sleep(min(5.0, quiet_seconds / 4))  # connections of the mixed phase have closed
    quiet_start_rss = rss_kb(pid)
    for thread in threads:
        thread.join()
    quiet_end_rss = rss_kb(pid)

    stats = get_json(port, f"/v1/stats?from={BASE_MS}&to={NEVER_AFTER_MS}&bucket=all")
    counted = stats["total"]["events"]
    print(f"soak: {seconds:.0f} s, {tally.accepted} events acknowledged, the server counts {counted}")
    print(f"soak: hostile requests {tally.hostile_requests}: {dict(sorted(tally.hostile_refusals.items()))}")
    growth_kb = quiet_end_rss - quiet_start_rss
    print(f"soak: rss with hostile clients only: {quiet_start_rss // 1024} MiB -> {quiet_end_rss // 1024} MiB")
    ok = True
    if counted != tally.accepted:
        print(f"soak: FAILED: the server counts {counted} events, {tally.accepted} were acknowledged")
        ok = False
    if growth_kb > max(16 * 1024, quiet_start_rss // 20):
        print(f"soak: FAILED: memory grew by {growth_kb // 1024} MiB under hostile clients alone")
        ok = False
    if failures:
        print(f"soak: FAILED: {len(failures)} unexpected answers, e.g. {failures[:3]}")
        ok = False
    if not os.path.exists(f"/proc/{pid}"):
        print("soak: FAILED: tallyd is gone")
        ok = False
    print("soak: passed" if ok else "soak: failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
