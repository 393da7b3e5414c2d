-- POST /analytics, one event per request: 100 000 distinct users in the current hour, 30 % clicks.
local counter = 0
local now = os.time() * 1000
request = function()
  counter = counter + 1
  local kind = (counter % 10 < 3) and "click" or "impression"
  return wrk.format("POST", "/analytics?timestamp=" .. now .. "&user=user-" .. (counter % 100000) .. "&event=" .. kind)
end
