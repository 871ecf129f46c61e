-- wrk script for GET /users/me over many sessions: each thread reads its own access
-- tokens ($TOKENS_DIR/me-<thread>.txt, one per line) and sends them in turn, so every
-- request names a different session until the list comes round again (far more sessions
-- than the session cache holds: most lookups go to the database).
local counter = 0
local tokens = {}
local next_token = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local file = assert(io.open(os.getenv("TOKENS_DIR") .. "/me-" .. id .. ".txt"))
  for line in file:lines() do
    table.insert(tokens, line)
  end
  file:close()
end

function request()
  local token = tokens[next_token]
  next_token = next_token % #tokens + 1
  return wrk.format("GET", "/users/me", { ["Authorization"] = "Bearer " .. token }, nil)
end
