// Segment's and PostHog's own Node.js SDKs (@segment/analytics-node, posthog-node, from npm) send through
// their ordinary calls to a real tallyd that has keys, pointed at it by nothing but their host setting. The
// events arrive with their ids, users, types and times; a message sent twice (the same messageId or uuid,
// as a retry re-sends it) counts once; a client with a key that may not ingest writes nothing.
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { Analytics } from "@segment/analytics-node";
import { PostHog } from "posthog-node";

const TALLYD = process.env.TALLYD ?? path.resolve("build/tallyd");
const INGEST_KEY = "sdk-ingest-secret-0001";
const READ_KEY = "sdk-read-secret-000001";
const work = mkdtempSync(path.join(tmpdir(), "tally-sdk-"));
let tallyd;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startTallyd() {
  writeFileSync(path.join(work, "keys"), `apps ingest ${INGEST_KEY}\nanalyst read ${READ_KEY}\n`);
  const logPath = path.join(work, "tallyd.log");
  const log = openSync(logPath, "w");
  tallyd = spawn(TALLYD, ["--listen", "127.0.0.1:0", "--data", path.join(work, "data"), "--keys",
                          path.join(work, "keys"), "--product-property", "sku"],
                 { stdio: ["ignore", log, log] });
  for (let i = 0; i < 600; i++) {
    const found = /tallyd listening on 127\.0\.0\.1:(\d+)/.exec(readFileSync(logPath, "utf8"));
    if (found) return `http://127.0.0.1:${found[1]}`;
    if (tallyd.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error("tallyd did not start:\n" + readFileSync(logPath, "utf8"));
}

async function getJson(base, target) {
  const response = await fetch(base + target, { headers: { Authorization: "Bearer " + READ_KEY } });
  assert.equal(response.status, 200, target + " answered " + response.status);
  return response.json();
}

// The hour 2026-11-01T10:00Z, where every event below is dated.
const HOUR = Date.UTC(2026, 10, 1, 10);
const at = (minutes) => new Date(HOUR + minutes * 60_000);

async function segment(base) {
  const errors = [];
  const analytics = new Analytics({ writeKey: INGEST_KEY, host: base, flushAt: 3, maxRetries: 0 });
  analytics.on("error", (error) => errors.push(error));
  analytics.track({ userId: "user-1", event: "Order Completed", messageId: "seg-1", timestamp: at(1),
                    properties: { sku: "sku-9", total: 30 } });
  analytics.page({ anonymousId: "anon-1", name: "Pricing", messageId: "seg-2", timestamp: at(2),
                   properties: { path: "/pricing" } });
  analytics.identify({ userId: "user-1", traits: { plan: "pro" }, messageId: "seg-3", timestamp: at(3) });
  // A retry of the first message: the same messageId.
  analytics.track({ userId: "user-1", event: "Order Completed", messageId: "seg-1", timestamp: at(1),
                    properties: { sku: "sku-9", total: 30 } });
  analytics.track({ userId: "user-2", event: "Order Completed", messageId: "seg-4", timestamp: at(4) });
  await analytics.closeAndFlush({ timeout: 20_000 });
  assert.deepEqual(errors, [], "Segment's SDK reported errors");

  // A read key is no write key: the SDK is told 403, and nothing is kept.
  const refusals = [];
  const reader = new Analytics({ writeKey: READ_KEY, host: base, flushAt: 1, maxRetries: 0 });
  reader.on("error", (error) => refusals.push(error));
  reader.track({ userId: "user-9", event: "Order Completed", messageId: "seg-9", timestamp: at(9) });
  await reader.closeAndFlush({ timeout: 20_000 });
  assert.equal(refusals.length, 1, "a read key's batch was not refused");
}

async function posthog(base) {
  const client = new PostHog(INGEST_KEY, { host: base, flushAt: 2, flushInterval: 0, fetchRetryCount: 0 });
  const failures = [];
  client.on("error", (error) => failures.push(error));
  client.capture({ distinctId: "ph-1", event: "$pageview", uuid: "0190f000-0000-7000-8000-000000000001",
                   timestamp: at(10), properties: { $session_id: "session-1", sku: "sku-7" } });
  client.capture({ distinctId: "ph-1", event: "Order Completed", uuid: "0190f000-0000-7000-8000-000000000002",
                   timestamp: at(11) });
  // The same event again, as a retry would send it.
  client.capture({ distinctId: "ph-1", event: "$pageview", uuid: "0190f000-0000-7000-8000-000000000001",
                   timestamp: at(10), properties: { $session_id: "session-1", sku: "sku-7" } });
  client.identify({ distinctId: "ph-2", properties: { email: "two@example.com" } });
  await client.flush();
  await client.shutdown(20_000);
  assert.deepEqual(failures, [], "PostHog's SDK reported errors");
}

try {
  const base = await startTallyd();
  await segment(base);
  await posthog(base);

  const stats = await getJson(base, `/v1/stats?from=${HOUR}&to=${HOUR + 3_600_000}&bucket=all`);
  // Segment: seg-1 (once), seg-2, seg-3, seg-4; PostHog: two distinct uuids in this hour.
  assert.equal(stats.total.events, 6, JSON.stringify(stats.total));
  // user-1, anon-1, user-2, ph-1: ids as sent, not merged.
  assert.equal(stats.total.unique_users, 4, JSON.stringify(stats.total));
  assert.equal(stats.total.by_type["Order Completed"], 3);
  assert.equal(stats.total.by_type.Pricing, 1);
  assert.equal(stats.total.by_type.identify, 1);
  assert.equal(stats.total.by_type.$pageview, 1);

  const order = await getJson(base, "/v1/events/seg-1");
  assert.equal(order.versions.length, 2, "the re-sent message is kept as a duplicate");
  assert.equal(order.current.user_id, "user-1");
  assert.equal(order.current.product_id, "sku-9");
  assert.equal(order.current.timestamp, at(1).getTime());
  assert.equal(order.current.properties.total, 30);
  assert.equal(order.current.properties.$segment.type, "track");
  assert.ok(!JSON.stringify(order).includes(INGEST_KEY), "the write key was kept");

  const pageview = await getJson(base, "/v1/events/0190f000-0000-7000-8000-000000000001");
  assert.equal(pageview.current.user_id, "ph-1");
  assert.equal(pageview.current.session_id, "session-1");
  assert.equal(pageview.current.product_id, "sku-7");
  assert.equal(pageview.current.properties.$lib, "posthog-node");

  // posthog-node's identify is dated now: it is an event of type $identify for ph-2.
  const identified = await getJson(base, "/v1/users/ph-2/events");
  assert.equal(identified.events.length, 1);
  assert.equal(identified.events[0].type, "$identify");
  assert.equal(identified.events[0].properties.$set.email, "two@example.com");

  const refused = await getJson(base, "/v1/users/user-9/events");
  assert.equal(refused.events.length, 0, "the read key's event was kept");
  console.log("sdk clients: Segment and PostHog events counted exactly");
} finally {
  if (tallyd) tallyd.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
