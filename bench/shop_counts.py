"""What the shop-shaped benchmarks check a server against: an independent count of an NDJSON file of
events, the first arrival of each event id winning (later ones are re-sends), per UTC hour."""
import collections
import json

HOUR_MS = 3_600_000


class HourCounts:
    def __init__(self):
        self.events = collections.Counter()  # hour -> events
        self.users = collections.defaultdict(set)  # hour -> user ids
        self.types = collections.defaultdict(collections.Counter)  # hour -> type -> events
        # dimension -> hour -> key -> user ids / events
        self.key_users = {d: collections.defaultdict(lambda: collections.defaultdict(set))
                          for d in ("product_id", "store_id")}
        self.key_events = {d: collections.defaultdict(collections.Counter) for d in ("product_id", "store_id")}
        self.distinct = 0


def count(path):
    counts = HourCounts()
    seen = set()
    with open(path) as lines:
        for line in lines:
            event = json.loads(line)
            if event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            hour = event["timestamp"] // HOUR_MS
            counts.events[hour] += 1
            counts.users[hour].add(event["user_id"])
            counts.types[hour][event["type"]] += 1
            for dimension in ("product_id", "store_id"):
                if event.get(dimension):
                    counts.key_users[dimension][hour][event[dimension]].add(event["user_id"])
                    counts.key_events[dimension][hour][event[dimension]] += 1
    counts.distinct = len(seen)
    return counts
