"""A client for tally's HTTP API, standard library only (Python 3.8+).

    from tally_client import TallyClient
    tally = TallyClient("http://127.0.0.1:8080", key="...")        # key: optional
    tally.send({"type": "click", "user_id": "alice", "timestamp": 1793527200000})
    tally.send_batch(events)                                         # NDJSON, 1000 per request
    tally.stats(from_="2026-11-01T00:00:00Z", to="2026-11-02T00:00:00Z", bucket="hour")

Sending is safe to retry: an event without an event_id gets one here (a UUID) before the first attempt,
so a request re-sent after a lost answer is counted once (the server drops the repeat as a duplicate).
Connection errors, 429 and 503 are retried with exponential backoff and jitter (a 429's Retry-After is
honoured); other errors raise TallyError with the server's code and message, which names the field.
"""

import http.client
import json
import random
import time
import urllib.parse
import uuid

__all__ = ["TallyClient", "TallyError", "TallyUnavailable"]

_RETRIED_STATUSES = (429, 503)


class TallyError(Exception):
    """The server refused the request: `status`, its `code` (e.g. invalid_argument) and `message`."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class TallyUnavailable(TallyError):
    """The server could not be reached, or stayed busy, through every retry."""


class TallyClient:
    def __init__(self, base_url="http://127.0.0.1:8080", key=None, timeout=10.0, retries=5, backoff=0.2,
                 batch_size=1000):
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url: expected http://host:port, got {base_url!r}")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._key = key
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._batch_size = batch_size
        self._connection = None

    # ---- sending ----

    def send(self, event):
        """Sends one event; returns {"accepted", "duplicates", "rejected"}."""
        return self.send_batch([event])

    def send_batch(self, events):
        """Sends events as NDJSON, batch_size per request; returns the summed outcome, with each
        rejected event's index counted over the whole list."""
        total = {"accepted": 0, "duplicates": 0, "rejected": []}
        events = [_with_event_id(event) for event in events]
        for start in range(0, len(events), self._batch_size):
            chunk = events[start:start + self._batch_size]
            body = "\n".join(json.dumps(event, separators=(",", ":")) for event in chunk).encode()
            result = self._call("POST", "/v1/events", body=body, content_type="application/x-ndjson")
            total["accepted"] += result["accepted"]
            total["duplicates"] += result["duplicates"]
            for rejected in result["rejected"]:
                total["rejected"].append({"index": start + rejected["index"], "error": rejected["error"]})
        return total

    # ---- queries ----

    def stats(self, from_, to, bucket=None, type=None, product_id=None, store_id=None, consistency=None):
        return self._get("/v1/stats", {"from": from_, "to": to, "bucket": bucket, "type": type,
                                       "product_id": product_id, "store_id": store_id,
                                       "consistency": consistency})

    def top(self, by, from_=None, to=None, hours=None, type=None, limit=None, consistency=None):
        return self._get("/v1/top", {"by": by, "from": from_, "to": to, "hours": hours, "type": type,
                                     "limit": limit, "consistency": consistency})

    def user_events(self, user_id, limit=None, before=None, type=None, consistency=None):
        return self._get(f"/v1/users/{_segment(user_id)}/events",
                         {"limit": limit, "before": before, "type": type, "consistency": consistency})

    def event(self, event_id, consistency=None):
        return self._get(f"/v1/events/{_segment(event_id)}", {"consistency": consistency})

    def rejected(self, limit=None, before=None):
        return self._get("/v1/rejected", {"limit": limit, "before": before})

    def schemas(self):
        return self._get("/v1/schemas", {})

    def put_schema(self, event_type, schema):
        return self._call("PUT", f"/v1/schemas/{_segment(event_type)}", body=json.dumps(schema).encode(),
                          content_type="application/json")

    def delete_schema(self, event_type):
        return self._call("DELETE", f"/v1/schemas/{_segment(event_type)}")

    # ---- plumbing ----

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _get(self, path, params):
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self._call("GET", path + ("?" + query if query else ""))

    def _call(self, method, target, body=None, content_type=None):
        headers = {}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        if content_type:
            headers["Content-Type"] = content_type
        last_error = None
        for attempt in range(self._retries + 1):
            if attempt > 0:
                delay = self._backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                if isinstance(last_error, TallyError) and last_error.retry_after is not None:
                    delay = max(delay, last_error.retry_after)
                time.sleep(delay)
            try:
                connection = self._connect()
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                last_error = TallyUnavailable(0, "unavailable", f"{method} {target}: {error}")
                last_error.retry_after = None
                continue
            if 200 <= response.status < 300:
                return json.loads(payload) if payload else {}
            error = _error_of(response.status, payload)
            retry_after = response.getheader("Retry-After")
            error.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None
            if response.status not in _RETRIED_STATUSES:
                raise error
            last_error = error
        raise TallyUnavailable(last_error.status, last_error.code,
                               f"gave up after {self._retries + 1} attempts: {last_error.message}")

    def _connect(self):
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self._timeout)
        return self._connection


def _with_event_id(event):
    if event.get("event_id"):
        return event
    return {**event, "event_id": str(uuid.uuid4())}


def _segment(text):
    return urllib.parse.quote(str(text), safe="")


def _error_of(status, payload):
    text = payload.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
        return TallyError(status, parsed.get("error", "error"), parsed.get("message", text))
    except ValueError:
        return TallyError(status, "error", text.strip())
