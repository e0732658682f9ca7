-- Cold page loads: each connection is one simulated user fetching the client's index page and
-- every asset it references, with browser-like headers and no validators (empty cache), round
-- and round. BENCH_PATHS (set by bench/run) is the space-separated list of paths, index first.
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "%S+") do
   paths[#paths + 1] = p
end
local headers = {
   ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
   ["Accept"] = "*/*",
   ["Accept-Language"] = "en-US,en;q=0.9",
   ["Cache-Control"] = "no-cache",
}
local requests = {}
local n = 0
-- Built in init: wrk.format takes Host from wrk.headers, which is set from the URL only by then.
function init(args)
   for i, p in ipairs(paths) do
      requests[i] = wrk.format("GET", p, headers)
   end
end
function request()
   n = n % #requests + 1
   return requests[n]
end
