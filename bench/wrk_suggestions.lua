-- wrk script: POST /suggestions cycling over Kazakh requesters, programmes and areas (sets the key from env)
local requesters = {"pic-959424479", "pic-953676162", "pic-923149680", "pic-952414871", "ror-0242cby63",
                    "pic-888282448", "ror-00vj0q898", "web-uib.kz"}
local programmes = {"horizon-europe", "erasmus-cbhe", "bri"}
local areas = {"water", "ai", "green-energy", "food-agri"}
local distinct = os.getenv("DISTINCT") == "1"
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("PARTNERMATCH_KEY")
request = function()
  counter = counter + 1
  local exclude = distinct and string.format(', "exclude": ["no-such-%d-%d"]', counter, math.random(1e9)) or ""
  local body = string.format('{"requester_id": "%s", "programme": "%s", "areas": ["%s"], "k": 10%s}',
    requesters[counter % #requesters + 1], programmes[counter % #programmes + 1], areas[counter % #areas + 1], exclude)
  return wrk.format(nil, "/suggestions", nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors %d (status %d), req/s %.0f, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.errors.status, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
