// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against the real tallyd: a shop
// page from another origin includes the tracker, a visitor loads it and clicks; the events arrive through
// CORS and beacons, a page from an origin not configured sends nothing that is kept, and the dashboard
// shows the events (screenshot in $ARTIFACTS/dashboard.png), also behind a read key.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const TALLYD = process.env.TALLYD ?? path.resolve("build/tallyd");
const ARTIFACTS = process.env.ARTIFACTS ?? path.resolve("build/test-artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const work = mkdtempSync(path.join(tmpdir(), "tally-browser-"));
const cleanups = [];

async function startTallyd(name, flags) {
  const logPath = path.join(work, name + ".log");
  const log = (await import("node:fs")).openSync(logPath, "w");
  const child = spawn(TALLYD, ["--listen", "127.0.0.1:0", "--data", path.join(work, name), ...flags],
                      { stdio: ["ignore", log, log] });
  cleanups.push(() => { child.kill("SIGTERM"); });
  for (let i = 0; i < 600; i++) {
    const found = /tallyd listening on 127\.0\.0\.1:(\d+)/.exec(readFileSync(logPath, "utf8"));
    if (found) return { url: `http://127.0.0.1:${found[1]}`, logPath };
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error("tallyd did not start:\n" + readFileSync(logPath, "utf8"));
}

function servePage(html) {
  return new Promise((resolve) => {
    const server = http.createServer((request, response) => {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      response.end(html);
    });
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
    cleanups.push(() => server.close());
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await sleep(100);
  }
  throw new Error("timed out waiting for " + what);
}

async function getJson(url, key) {
  const response = await fetch(url, { headers: key ? { Authorization: "Bearer " + key } : {} });
  assert.equal(response.status, 200, url + " answered " + response.status);
  return response.json();
}

function shopPage(tallyUrl) {
  return `<!doctype html><html><head><title>Shop</title>
<script src="${tallyUrl}/v1/tracker.js" defer></script></head><body>
<button id="buy" data-tally-click="add_to_cart" data-tally-product="p42" data-tally-store="s7">Buy <b>now</b></button>
<a id="plain" href="#">not tracked</a></body></html>`;
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The shop's origin must be known before tallyd starts: bind it first, serve the page once tallyd is up.
  let html = "";
  const shop = await new Promise((resolve) => {
    const server = http.createServer((request, response) => {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      response.end(html);
    });
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
    cleanups.push(() => server.close());
  });
  const tally = await startTallyd("open", ["--cors-origins", shop.url]);
  html = shopPage(tally.url);
  const stranger = await servePage(shopPage(tally.url));  // another origin, not configured

  // The machine's network is closed: Chromium's own background connections are turned off, not refused
  // at every start (see the machine notes); as root it needs --no-sandbox.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  cleanups.unshift(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();

  // A visitor: page view, two clicks on a marked button, one on an unmarked link, one custom event.
  await page.goto(shop.url);
  await page.waitForFunction(() => window.tally && window.tally.userId);
  const userId = await page.evaluate(() => window.tally.userId);
  await page.click("#buy");
  await page.click("#buy b");  // a click inside the marked element counts for it
  await page.click("#plain");
  await page.evaluate(() => window.tally.track("signup", { plan: "pro" }));
  await page.goto("about:blank");  // leaving the page sends what is queued (pagehide)

  const events = await waitFor("the visitor's 4 events", async () => {
    const answer = await getJson(`${tally.url}/v1/users/${encodeURIComponent(userId)}/events`);
    return answer.events.length >= 4 ? answer.events : null;
  });
  const types = events.map((e) => e.type).sort();
  assert.deepEqual(types, ["add_to_cart", "add_to_cart", "page_view", "signup"]);
  const cart = events.find((e) => e.type === "add_to_cart");
  assert.equal(cart.product_id, "p42");
  assert.equal(cart.store_id, "s7");
  assert.ok(cart.session_id, "a session id");
  const view = await getJson(`${tally.url}/v1/events/${encodeURIComponent(events.find((e) => e.type === "page_view").event_id)}`);
  assert.equal(JSON.parse(JSON.stringify(view.current.properties)).title, "Shop");

  // The same visitor comes back: the same anonymous id (the site's localStorage), no cookie anywhere.
  await page.goto(shop.url);
  assert.equal(await page.evaluate(() => window.tally.userId), userId);
  await page.goto("about:blank");
  await waitFor("the second page view", async () => {
    const answer = await getJson(`${tally.url}/v1/users/${encodeURIComponent(userId)}/events?type=page_view`);
    return answer.events.length === 2;
  });
  assert.deepEqual(await context.cookies(), [], "the tracker sets no cookies");

  // A page on an origin that is not configured: its beacons are refused, nothing of it is kept.
  await page.goto(stranger.url);
  await page.waitForFunction(() => window.tally && window.tally.userId);
  const strangerId = await page.evaluate(() => window.tally.userId);
  await page.click("#buy");
  await page.goto("about:blank");
  await sleep(2000);
  const strangers = await getJson(`${tally.url}/v1/users/${encodeURIComponent(strangerId)}/events`);
  assert.equal(strangers.events.length, 0, "events from an origin not in --cors-origins were kept");

  // The dashboard shows them: totals, types, top products, the user's timeline.
  await page.goto(tally.url + "/");
  await page.waitForFunction(() => document.getElementById("types").textContent.includes("add_to_cart"));
  const stats = await page.evaluate(async () => {
    const to = Math.floor(Date.now() / 3600000) * 3600000 + 3600000;
    return (await fetch(`/v1/stats?from=${to - 24 * 3600000}&to=${to}&bucket=all`)).json();
  });
  await page.waitForFunction((n) => document.getElementById("total-events").textContent === n,
                             stats.total.events.toLocaleString("en-US"));
  assert.ok((await page.textContent("#top-products")).includes("p42"));
  await page.fill("#user-id", userId);
  await page.click("#user-form button");
  await page.waitForFunction(() => document.getElementById("timeline").textContent.includes("signup"));
  await page.waitForFunction(() => document.querySelectorAll("#chart polyline").length === 3);
  await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });

  // Behind keys the dashboard asks for a read key, then shows the data.
  const keysFile = path.join(work, "keys");
  writeFileSync(keysFile, "web ingest ingest-secret-000001\nanalyst read read-secret-00000001\n");
  const locked = await startTallyd("locked", ["--keys", keysFile]);
  const posted = await fetch(`${locked.url}/v1/events`, {
    method: "POST", headers: { Authorization: "Bearer ingest-secret-000001" },
    body: JSON.stringify({ type: "click", user_id: "k1", timestamp: Date.now(), product_id: "keyed" }),
  });
  assert.equal(posted.status, 200);
  await page.goto(locked.url + "/");
  await page.waitForSelector("#key-dialog", { state: "visible" });
  await page.fill("#key-input", "read-secret-00000001");
  await page.click("#key-form button");
  await page.waitForFunction(() => document.getElementById("top-products").textContent.includes("keyed"));
  await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-with-key.png") });

  for (const log of [tally.logPath, locked.logPath]) {
    const text = readFileSync(log, "utf8");
    for (const finding of ["ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "runtime error:"]) {
      assert.ok(!text.includes(finding), `tallyd reported ${finding}:\n${text}`);
    }
  }
  console.log(`browser tests passed; screenshots in ${ARTIFACTS}`);
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  for (const cleanup of cleanups) {
    try { await cleanup(); } catch { /* already gone */ }
  }
  await sleep(200);
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
