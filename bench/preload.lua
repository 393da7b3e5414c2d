-- POSTs into the current hour until the benchmark script stops it: 200 000 users, 30 % clicks.
local sent = 0
local now = os.time() * 1000
request = function()
  sent = sent + 1
  local kind = (sent % 10 < 3) and "click" or "impression"
  return wrk.format("POST", "/analytics?timestamp=" .. now .. "&user=preload-" .. (sent % 200000) .. "&event=" .. kind)
end
