-- wrk script for POST /auth/refresh with rotation on: every answer carries the next
-- refresh token of that session, and each token may be used once. Each thread keeps a
-- pool of tokens (one session per connection, read from $TOKENS_DIR/<thread>.txt): a
-- request takes one, its answer puts the rotated one back.
local counter = 0
local tokens = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local file = assert(io.open(os.getenv("TOKENS_DIR") .. "/" .. id .. ".txt"))
  for line in file:lines() do
    table.insert(tokens, line)
  end
  file:close()
end

function request()
  local token = table.remove(tokens)
  if token == nil then
    -- A failed refresh lost its token; the answer shows up as non-2xx.
    token = "exhausted"
  end
  return wrk.format("POST", "/auth/refresh", { ["Authorization"] = "Bearer " .. token }, nil)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    table.insert(tokens, token)
  end
end
