#!/usr/bin/env python3
"""Sends the same events to a running tallyd in one of the wire formats it takes, in bodies of 1 000 events
over keep-alive connections, and prints the seconds it took. The bodies are built before the clock starts.

Usage: sdk_bodies.py EVENTS.ndjson PORT FORMAT [CONNECTIONS]
FORMAT: native (POST /v1/events, NDJSON), segment (POST /v1/batch), segment-gzip, posthog-gzip (POST /batch/)
"""
import datetime
import gzip
import http.client
import json
import sys
import threading
import time

BATCH = 1000


def iso(millis):
    return datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def segment_message(event):
    properties = {k: event[k] for k in ("product_id", "store_id") if k in event}
    return {"type": "track", "event": event["type"], "userId": event["user_id"], "messageId": event["event_id"],
            "timestamp": iso(event["timestamp"]), "properties": properties,
            "context": {"library": {"name": "@segment/analytics-node", "version": "3.1.0"}}}


def posthog_event(event):
    properties = {k: event[k] for k in ("product_id", "store_id") if k in event}
    properties["$lib"] = "posthog-node"
    return {"event": event["type"], "distinct_id": event["user_id"], "uuid": event["event_id"],
            "timestamp": iso(event["timestamp"]), "properties": properties}


def bodies(lines, form):
    """(path, headers, body) for each batch of lines."""
    for start in range(0, len(lines), BATCH):
        chunk = lines[start:start + BATCH]
        if form == "native":
            yield "/v1/events", {"Content-Type": "application/x-ndjson"}, "".join(chunk).encode()
            continue
        events = [json.loads(line) for line in chunk]
        if form.startswith("segment"):
            body = json.dumps({"batch": [segment_message(e) for e in events], "sentAt": iso(1793527200000)},
                              separators=(",", ":")).encode()
            path = "/v1/batch"
        else:
            body = json.dumps({"api_key": "k", "batch": [posthog_event(e) for e in events],
                               "sent_at": iso(1793527200000)}, separators=(",", ":")).encode()
            path = "/batch/"
        headers = {"Content-Type": "application/json"}
        if form.endswith("gzip"):
            body = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        yield path, headers, body


def send(port, requests, failures):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for path, headers, body in requests:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200 or b'"rejected":[]' not in answer:
            failures.append((response.status, answer[:200]))


def main():
    events_path, port, form = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    connections = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    with open(events_path) as f:
        lines = f.readlines()
    requests = list(bodies(lines, form))
    sent_bytes = sum(len(body) for _, _, body in requests)
    failures = []
    threads = [threading.Thread(target=send, args=(port, requests[i::connections], failures))
               for i in range(connections)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - start
    if failures:
        print(f"failures: {len(failures)}, first: {failures[0]}", file=sys.stderr)
        sys.exit(1)
    print(f"{seconds:.3f} {sent_bytes}")


if __name__ == "__main__":
    main()
