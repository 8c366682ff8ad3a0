-- bench/cc.lua — wrk script for the client_credentials token request (used by bench/run.sh).
--
-- Every request: POST <url> with
--   Content-Type: application/x-www-form-urlencoded
--   Authorization: $BENCH_AUTHORIZATION          (required, "Basic base64(id:secret)")
--   body: $BENCH_BODY   (default: grant_type=client_credentials&resource=res_bench)
-- The target path comes from wrk's URL argument (portcullis /oauth/token, oidc-provider /token).
--
-- A response counts as bad unless it is 200 with an "access_token" in its body. done() prints
--   BENCH requests=N bad=N socket_errors=N
-- and exits 1 when any response was bad, any socket error occurred or no request completed,
-- so a broken server cannot look fast.

local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization == nil or authorization == "" then
  io.stderr:write("cc.lua: BENCH_AUTHORIZATION is not set\n")
  os.exit(2)
end

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "grant_type=client_credentials&resource=res_bench"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = authorization

-- Main-thread list of worker threads, so done() can add up their counters.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per-thread counters (each wrk thread has its own Lua state).
bad = 0
first_bad = ""

function response(status, headers, body)
  if status ~= 200 or body == nil or not body:find('"access_token"', 1, true) then
    bad = bad + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  local sample = ""
  for _, thread in ipairs(threads) do
    total_bad = total_bad + (tonumber(thread:get("bad")) or 0)
    local fb = thread:get("first_bad")
    if sample == "" and fb ~= nil and fb ~= "" then
      sample = fb
    end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format("BENCH requests=%d bad=%d socket_errors=%d\n",
    summary.requests, total_bad, socket_errors))
  if sample ~= "" then
    io.write("BENCH first bad response: " .. sample .. "\n")
  end
  if total_bad > 0 or socket_errors > 0 or summary.requests == 0 then
    os.exit(1)
  end
end
