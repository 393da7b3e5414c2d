"""What the shop-shaped benchmarks check a server against: an independent count of an NDJSON file of
events, the first arrival of each event id winning (later ones are re-sends), per UTC hour and in all.

At 100 M events a set of every id and every hour's users would not fit beside the server, so the ids seen
are bits indexed by the number that ends the id (the load generator's ids end in one), and the user sets
and the per-product and per-store detail are kept only for the hours asked for."""
import collections
import json

HOUR_MS = 3_600_000


class SeenIds:
    """Event ids seen so far: ids that end in -<number> as bits, any other in a set."""

    def __init__(self):
        self.head = None  # what comes before the number: the same for every id kept as bits
        self.bits = bytearray()
        self.others = set()

    def add(self, event_id):
        """True if the id was not seen before."""
        head, _, number = event_id.rpartition("-")
        canonical = number.isdigit() and (number == "0" or not number.startswith("0"))
        if not canonical or self.head not in (None, head):
            return self._add_other(event_id)
        self.head = head
        index = int(number)
        byte, bit = index >> 3, 1 << (index & 7)
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        if self.bits[byte] & bit:
            return False
        self.bits[byte] |= bit
        return True

    def _add_other(self, event_id):
        if event_id in self.others:
            return False
        self.others.add(event_id)
        return True


class HourCounts:
    def __init__(self):
        self.events = collections.Counter()  # hour -> events (every hour)
        self.types = collections.defaultdict(collections.Counter)  # hour -> type -> events (every hour)
        self.users = collections.defaultdict(set)  # hour -> user ids (the hours asked for)
        # dimension -> hour -> key -> user ids / events (the hours asked for)
        self.key_users = {d: collections.defaultdict(lambda: collections.defaultdict(set))
                          for d in ("product_id", "store_id")}
        self.key_events = {d: collections.defaultdict(collections.Counter) for d in ("product_id", "store_id")}
        self.all_users = set()  # over every hour
        self.distinct = 0


def count(path, hours=None):
    """Counts the file's events; the users and per-key detail only for `hours` (default: every hour)."""
    counts = HourCounts()
    seen = SeenIds()
    with open(path) as lines:
        for line in lines:
            event = json.loads(line)
            if not seen.add(event["event_id"]):
                continue
            counts.distinct += 1
            hour = event["timestamp"] // HOUR_MS
            user = event["user_id"]
            counts.events[hour] += 1
            counts.types[hour][event["type"]] += 1
            counts.all_users.add(user)
            if hours is not None and hour not in hours:
                continue
            counts.users[hour].add(user)
            for dimension in ("product_id", "store_id"):
                if event.get(dimension):
                    counts.key_users[dimension][hour][event[dimension]].add(user)
                    counts.key_events[dimension][hour][event[dimension]] += 1
    return counts


def expected_answers(path, now, days):
    """What the server must answer for a sample of the month's hours, a whole day's top lists and the
    whole month, from the events of the file (`tally generate --now NOW --spread-hours DAYS*24`)."""
    last = (now - 1) // HOUR_MS
    first = last + 1 - days * 24
    sampled = sorted({first + i * (last - first) // 12 for i in range(13)})
    day = list(range(first, first + 24))
    counted = count(path, set(sampled) | set(day))
    hours = {hour: {"events": counted.events[hour], "unique_users": len(counted.users[hour]),
                    "by_type": dict(counted.types[hour])} for hour in sampled}
    tops = []
    for span in [[hour] for hour in sampled] + [day]:
        for dimension in ("product_id", "store_id"):
            events = collections.Counter()
            for hour in span:
                events.update(counted.key_events[dimension][hour])
            ranked = sorted(events.items(), key=lambda item: (-item[1], item[0]))[:5]
            top = []
            for key, key_events in ranked:
                users = set().union(*(counted.key_users[dimension][hour].get(key, set()) for hour in span))
                top.append({"key": key, "events": key_events, "unique_users": len(users)})
            tops.append({"by": dimension, "from": span[0] * HOUR_MS, "to": (span[-1] + 1) * HOUR_MS, "top": top})
    by_type = collections.Counter()
    for types in counted.types.values():
        by_type.update(types)
    month = {"events": counted.distinct, "unique_users": len(counted.all_users), "by_type": dict(by_type)}
    return {"hours": hours, "tops": tops, "month": month}


def check(expected, port):
    """Asks a server on 127.0.0.1:port for every expected answer; returns the number of wrong ones."""
    import statistics
    import time
    import urllib.request

    def get(path):
        return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}"))

    wrong = 0
    for hour, answer in expected["hours"].items():
        hour = int(hour)
        total = get(f"/v1/stats?from={hour * HOUR_MS}&to={(hour + 1) * HOUR_MS}&bucket=all")["total"]
        if total != answer:
            wrong += 1
            print(f"hour {hour}: server {total} expected {answer}")
    for top in expected["tops"]:
        answer = get(f"/v1/top?by={top['by']}&from={top['from']}&to={top['to']}&limit=5")["top"]
        got = [{k: entry[k] for k in ("key", "events", "unique_users")} for entry in answer]
        if got != top["top"]:
            wrong += 1
            print(f"top {top['by']} {top['from']}..{top['to']}: server {got} expected {top['top']}")
    month_path = "/v1/stats?from=0&to=253402300800000&bucket=all"
    seconds = []
    for _ in range(5):
        started = time.perf_counter()
        total = get(month_path)["total"]
        seconds.append(time.perf_counter() - started)
    if total != expected["month"]:
        wrong += 1
        print(f"the whole month: server {total} expected {expected['month']}")
    checked = len(expected["hours"]) + len(expected["tops"]) + 1
    print(f"sampled {len(expected['hours'])} hours, {len(expected['tops'])} top lists and the whole month: "
          f"{checked - wrong} exact, {wrong} wrong; {expected['month']['events']} distinct events, "
          f"{expected['month']['unique_users']} users")
    print(f"the whole month's exact unique users (GET {month_path}, over HTTP): "
          f"median {statistics.median(seconds) * 1000:.1f} ms of 5")
    return wrong


if __name__ == "__main__":
    import sys

    # shop_counts.py expect FILE NOW DAYS > expected.json; shop_counts.py check expected.json PORT
    if sys.argv[1] == "expect":
        json.dump(expected_answers(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])), sys.stdout)
    else:
        with open(sys.argv[2]) as file:
            sys.exit(1 if check(json.load(file), int(sys.argv[3])) else 0)
