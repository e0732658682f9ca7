-- Moderate, steady load for latency: every connection waits a random 0.5x-1.5x BENCH_DELAY_MS
-- before each request, so the offered rate is about connections * 1000 / BENCH_DELAY_MS per
-- second whatever the server's speed (wrk2 is not packaged; latency excludes the delay).
local mean = tonumber(os.getenv("BENCH_DELAY_MS") or "20")
local lo, hi = math.floor(mean * 0.5), math.ceil(mean * 1.5)
function setup(thread)
   thread:set("seed", math.random(1, 1000000))
end
function init(args)
   math.randomseed(seed or 1)
end
function delay()
   return math.random(lo, hi)
end
