-- GET /analytics for the current hour.
local path = "/analytics?timestamp=" .. (os.time() * 1000)
request = function()
  return wrk.format("GET", path)
end
