/* tally browser tracker. Include it on a page:
 *   <script src="https://TALLY/v1/tracker.js" data-key="INGEST_KEY" defer></script>
 * It sends a page_view on load, a click for every click on an element marked data-tally-click (its value,
 * if any, is the event type; data-tally-product and data-tally-store set the dimensions), and whatever
 * the page sends with tally.track(type, properties, dimensions). Events are batched and sent with
 * navigator.sendBeacon (fetch keepalive when a beacon is refused) to POST /v1/events of the server the
 * script came from. The anonymous user id lives in the site's own localStorage: no cookies at all.
 */
(function () {
  "use strict";
  if (window.tally && window.tally.track) return;
  var script = document.currentScript;
  var origin = new URL(script ? script.src : "/", window.location.href).origin;
  var key = script && script.getAttribute("data-key");
  var endpoint = origin + "/v1/events" + (key ? "?key=" + encodeURIComponent(key) : "");
  var MAX_BATCH = 50, FLUSH_MS = 1000;
  var queue = [], timer = null, counter = 0;

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }
  function stored(storage, name) {
    try {
      var value = storage.getItem(name);
      if (!value) { value = randomId(); storage.setItem(name, value); }
      return value;
    } catch (e) { return null; }  // storage disabled: an id for this page only
  }
  var userId = stored(window.localStorage, "tally_user_id") || randomId();
  var sessionId = stored(window.sessionStorage, "tally_session_id") || randomId();
  var pageId = randomId();

  function flush() {
    if (timer) { clearTimeout(timer); timer = null; }
    while (queue.length) {
      // A JSON array sent as text/plain is a "simple" request: no CORS preflight, and beacons allow it.
      var body = JSON.stringify(queue.splice(0, MAX_BATCH));
      var sent = false;
      try {
        sent = navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([body], { type: "text/plain" }));
      } catch (e) { sent = false; }
      if (!sent && window.fetch) {
        fetch(endpoint, { method: "POST", body: body, keepalive: true, mode: "cors",
                          headers: { "Content-Type": "text/plain" } }).catch(function () {});
      }
    }
  }
  function track(type, properties, dimensions) {
    var event = {
      event_id: pageId + "-" + (counter++),  // a re-sent batch is dropped by the server as a duplicate
      type: String(type), user_id: userId, session_id: sessionId, timestamp: Date.now()
    };
    if (dimensions && dimensions.product_id) event.product_id = String(dimensions.product_id);
    if (dimensions && dimensions.store_id) event.store_id = String(dimensions.store_id);
    if (properties && typeof properties === "object") event.properties = properties;
    queue.push(event);
    if (queue.length >= MAX_BATCH) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS);
  }

  document.addEventListener("click", function (e) {
    var element = e.target && e.target.closest ? e.target.closest("[data-tally-click]") : null;
    if (!element) return;
    track(element.getAttribute("data-tally-click") || "click",
          { path: location.pathname, text: (element.textContent || "").trim().slice(0, 100) },
          { product_id: element.getAttribute("data-tally-product"),
            store_id: element.getAttribute("data-tally-store") });
  }, true);
  // The last events go out when the page is hidden or left, the moments a browser still sends beacons.
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") flush(); });
  window.addEventListener("pagehide", flush);

  window.tally = { track: track, flush: flush, userId: userId };
  track("page_view", { path: location.pathname, title: document.title, referrer: document.referrer || undefined });
})();
