-- baton's reload-free nginx upstreams (balancer.mode: lua). The members of each upstream and
-- their states live in a lua_shared_dict loaded from a JSON state file; baton rewrites the file
-- and asks this module (control()) to load it again, so a pool change never reloads nginx and
-- never closes a client's keep-alive connection. The file is the one source of truth: a restart
-- by anyone comes back to what baton last set.
--
--   init(state_file)   from init_by_lua_block: load every upstream of the file
--   balance(upstream)  from balancer_by_lua_block: smooth weighted round robin over members in state "ready"
--   log()              from log_by_lua_block: a request's member is no longer in flight
--   control()          from content_by_lua_block on a loopback-only server: GET reads, POST loads
--
-- State file: { "UPSTREAM": [ { "name": "web1a", "address": "10.0.0.11", "port": 8000,
--                                "state": "ready" | "drain", "weight": 1-256 (optional, 1) } ] }
-- Needs libnginx-mod-http-lua and lua-resty-core (ngx.balancer); lua-cjson is used when present,
-- else the small JSON codec below (the state file and the control requests are all it reads).

local _M = { _VERSION = "2" }

local DICT_NAME = "baton"
local UPSTREAM_NAME = "^[%w_.%-]+$"
local MEMBER_NAME = "^[%w][%w._:%-]*$"
local NGX_BUSY = -3
-- HAProxy's largest weight, so one number means the same on both.
local MAX_WEIGHT = 256

local state_file
-- Per worker: each upstream's members as last decoded, and the version they were decoded at.
local cache = {}

local function dict()
  local d = ngx.shared[DICT_NAME]
  if not d then error("baton: no lua_shared_dict " .. DICT_NAME .. " (add `lua_shared_dict baton 1m;` to the http block)") end
  return d
end

---------------------------------------------------------------- JSON
local json_decode, json_encode
-- Marks a table to encode as a JSON array even when empty.
local array_mt = {}
do
  local ok, cjson = pcall(require, "cjson.safe")
  if ok and cjson then
    json_decode = function(s) return cjson.decode(s) end
    json_encode = function(v) return cjson.encode(v) end
    array_mt = cjson.empty_array_mt or array_mt
  end
end

if not json_decode then
  -- Enough JSON for the state file and the control requests: objects, arrays, strings with
  -- escapes, numbers, true, false, null. Returns nil and a reason on anything else.
  local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local function skip(s, i) return (s:find("[^ \t\r\n]", i)) or #s + 1 end
  local value
  local function str(s, i)
    local out, j = {}, i + 1
    while true do
      local c = s:sub(j, j)
      if c == "" then error("unterminated string") end
      if c == '"' then return table.concat(out), j + 1 end
      if c == "\\" then
        local e = s:sub(j + 1, j + 1)
        if e == "u" then
          local hex = s:sub(j + 2, j + 5)
          if not hex:match("^%x%x%x%x$") then error("bad \\u escape") end
          local n = tonumber(hex, 16)
          if n < 0x80 then out[#out + 1] = string.char(n)
          elseif n < 0x800 then out[#out + 1] = string.char(0xC0 + math.floor(n / 64), 0x80 + n % 64)
          else out[#out + 1] = string.char(0xE0 + math.floor(n / 4096), 0x80 + math.floor(n / 64) % 64, 0x80 + n % 64) end
          j = j + 6
        elseif escapes[e] then
          out[#out + 1] = escapes[e]
          j = j + 2
        else
          error("bad escape")
        end
      else
        out[#out + 1] = c
        j = j + 1
      end
    end
  end
  value = function(s, i)
    i = skip(s, i)
    local c = s:sub(i, i)
    if c == "{" then
      local obj = {}
      i = skip(s, i + 1)
      if s:sub(i, i) == "}" then return obj, i + 1 end
      while true do
        if s:sub(i, i) ~= '"' then error("expected a key") end
        local k
        k, i = str(s, i)
        i = skip(s, i)
        if s:sub(i, i) ~= ":" then error("expected :") end
        obj[k], i = value(s, i + 1)
        i = skip(s, i)
        local d = s:sub(i, i)
        if d == "}" then return obj, i + 1 end
        if d ~= "," then error("expected , or }") end
        i = skip(s, i + 1)
      end
    elseif c == "[" then
      local arr = {}
      i = skip(s, i + 1)
      if s:sub(i, i) == "]" then return arr, i + 1 end
      while true do
        arr[#arr + 1], i = value(s, i)
        i = skip(s, i)
        local d = s:sub(i, i)
        if d == "]" then return arr, i + 1 end
        if d ~= "," then error("expected , or ]") end
        i = i + 1
      end
    elseif c == '"' then
      return str(s, i)
    elseif s:sub(i, i + 3) == "true" then return true, i + 4
    elseif s:sub(i, i + 4) == "false" then return false, i + 5
    elseif s:sub(i, i + 3) == "null" then return nil, i + 4
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
      if not num or num == "" or not tonumber(num) then error("unexpected " .. (c == "" and "end" or c)) end
      return tonumber(num), i + #num
    end
  end
  json_decode = function(s)
    if type(s) ~= "string" then return nil, "not text" end
    local ok, v, i = pcall(value, s, 1)
    if not ok then return nil, (tostring(v):gsub("^.-:%d+: ", "")) end
    if skip(s, i) <= #s then return nil, "text after the value" end
    return v
  end
  local function quote(s)
    return '"' .. s:gsub('[%c"\\]', function(ch)
      local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
      return named[ch] or string.format("\\u%04x", ch:byte())
    end) .. '"'
  end
  json_encode = function(v)
    local t = type(v)
    if t == "string" then return quote(v) end
    if t == "number" then return (v == math.floor(v) and string.format("%d", v) or tostring(v)) end
    if t == "boolean" then return tostring(v) end
    if v == nil then return "null" end
    if t == "table" then
      if v[1] ~= nil or next(v) == nil and getmetatable(v) == array_mt then
        local out = {}
        for i = 1, #v do out[i] = json_encode(v[i]) end
        return "[" .. table.concat(out, ",") .. "]"
      end
      local keys, out = {}, {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do out[#out + 1] = quote(k) .. ":" .. json_encode(v[k]) end
      return "{" .. table.concat(out, ",") .. "}"
    end
    error("cannot encode a " .. t)
  end
end
local function array(t) return setmetatable(t, array_mt) end
_M.json_decode, _M.json_encode = json_decode, json_encode

---------------------------------------------------------------- state
local function members_key(upstream) return "members:" .. upstream end
local function version_key(upstream) return "version:" .. upstream end
local function loaded_key(upstream) return "loadedAt:" .. upstream end
local function inflight_key(upstream, name) return "inflight:" .. upstream .. ":" .. name end
local function rr_key(upstream) return "rr:" .. upstream end

-- One upstream's members as the file gives them, checked; nil and a reason when unusable.
local function check_members(upstream, list)
  if type(list) ~= "table" then return nil, "upstream " .. upstream .. " is not a list of members" end
  local out, seen = {}, {}
  for i, m in ipairs(list) do
    local where = "upstream " .. upstream .. " member " .. i
    if type(m) ~= "table" then return nil, where .. " is not an object" end
    if type(m.name) ~= "string" or not m.name:match(MEMBER_NAME) then return nil, where .. ": name must be letters, digits and . _ : -" end
    if seen[m.name] then return nil, where .. ": name " .. m.name .. " twice" end
    seen[m.name] = true
    if type(m.address) ~= "string" or not m.address:match("^[%w.:%-]+$") then return nil, where .. " (" .. m.name .. "): address must be an IP address or host name" end
    if type(m.port) ~= "number" or m.port < 1 or m.port > 65535 or m.port % 1 ~= 0 then return nil, where .. " (" .. m.name .. "): port must be 1-65535" end
    if m.state ~= "ready" and m.state ~= "drain" then return nil, where .. " (" .. m.name .. "): state must be ready or drain" end
    local weight = m.weight
    if weight == nil then weight = 1 end
    if type(weight) ~= "number" or weight < 1 or weight > MAX_WEIGHT or weight % 1 ~= 0 then return nil, where .. " (" .. m.name .. "): weight must be a whole number 1-" .. MAX_WEIGHT end
    out[i] = { name = m.name, address = m.address, port = m.port, state = m.state, weight = weight }
  end
  return out
end

-- The whole state file, decoded and checked; nil and a reason when it cannot be used.
local function read_state(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read the state file: " .. tostring(err), "missing" end
  local text = f:read("*a")
  f:close()
  local state, why = json_decode(text)
  if type(state) ~= "table" then return nil, "state file " .. path .. " is not JSON: " .. tostring(why or "expected an object") end
  local out = {}
  for upstream, list in pairs(state) do
    if type(upstream) ~= "string" or not upstream:match(UPSTREAM_NAME) then return nil, "state file " .. path .. ": bad upstream name " .. tostring(upstream) end
    local members, bad = check_members(upstream, list)
    if not members then return nil, "state file " .. path .. ": " .. bad end
    out[upstream] = members
  end
  return out
end

local function store(upstream, members)
  local d = dict()
  local ok, err = d:set(members_key(upstream), json_encode(array(members)))
  if not ok then return nil, "shared dict " .. DICT_NAME .. ": " .. tostring(err) end
  d:incr(version_key(upstream), 1, 0)
  d:set(loaded_key(upstream), ngx.now())
  return true
end

local function gcd(a, b)
  while b ~= 0 do a, b = b, a % b end
  return a
end

-- The order ready members take requests in over one cycle of sum(weights) (divided by their
-- greatest common divisor): nginx's smooth weighted round robin, so weights 19 and 1 send the
-- light member every 20th request, not 1 after 19 in a row. Every worker computes the same order
-- from the same members, and the shared counter walks it. Equal weights: the members in order.
local function schedule(members, skip)
  local ready, g = {}, 0
  for _, m in ipairs(members) do
    if m.state == "ready" and m.name ~= skip then
      ready[#ready + 1] = m
      g = gcd(m.weight or 1, g)
    end
  end
  local weights, current, total, order = {}, {}, 0, {}
  for i, m in ipairs(ready) do
    weights[i] = (m.weight or 1) / g
    current[i] = 0
    total = total + weights[i]
  end
  for k = 1, total do
    local best
    for i = 1, #ready do
      current[i] = current[i] + weights[i]
      if not best or current[i] > current[best] then best = i end
    end
    current[best] = current[best] - total
    order[k] = ready[best]
  end
  return order
end

-- Members of an upstream and the order they take requests in, decoded once per worker per change.
local function current(upstream)
  local d = dict()
  local version = d:get(version_key(upstream))
  if not version then return nil end
  local c = cache[upstream]
  if c and c.version == version then return c.members, c.order end
  local members = json_decode(d:get(members_key(upstream)) or "[]") or {}
  cache[upstream] = { version = version, members = members, order = schedule(members) }
  return members, cache[upstream].order
end

function _M.init(path)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then error("baton: init needs the state file's absolute path") end
  state_file = path
  local state, err, missing = read_state(path)
  if missing then
    -- nginx still starts: upstreams without members answer 502 until the file is written.
    ngx.log(ngx.WARN, "baton: ", err, "; upstreams balanced by baton have no members until it is written")
    return
  end
  -- A file that cannot be used stops a start (nginx -t does not run init_by_lua), rather than
  -- serving with no members; baton only ever writes files it has checked.
  if not state then error("baton: " .. err) end
  for upstream, members in pairs(state) do
    local ok, why = store(upstream, members)
    if not ok then error("baton: " .. why) end
  end
end

---------------------------------------------------------------- balancing
-- The next member in the order; after a failed attempt, the next in the order of the others.
local function pick(upstream, members, order, skip)
  if skip then order = schedule(members, skip) end
  if #order == 0 then return nil end
  local n = dict():incr(rr_key(upstream), 1, 0)
  return order[(n - 1) % #order + 1]
end

-- The request's member, also kept by connection and request number: an internal redirect after
-- proxying (error_page to a named location) clears ngx.ctx, but not these.
local function request_key()
  return "req:" .. ngx.var.connection .. ":" .. ngx.var.connection_requests
end

local function no_longer_in_flight(upstream, name)
  local d = dict()
  local left = d:incr(inflight_key(upstream, name), -1, 0)
  if left and left < 0 then d:set(inflight_key(upstream, name), 0) end
end

local function release(ctx)
  local peer = ctx.baton_peer
  if not peer then return end
  ctx.baton_peer = nil
  no_longer_in_flight(peer.upstream, peer.name)
end

function _M.balance(upstream)
  local balancer = require "ngx.balancer"
  local ctx = ngx.ctx
  local members, order = current(upstream)
  local failed
  if ctx.baton_peer then
    -- A retry (the first attempt failed): that member is not in flight any more; try another.
    failed = ctx.baton_peer.name
    local state, code = balancer.get_last_failure()
    ngx.log(ngx.INFO, "baton: upstream ", upstream, " member ", failed, " failed (", tostring(state), " ", tostring(code), "), trying another")
    release(ctx)
  else
    balancer.set_more_tries(1)
  end
  local m = pick(upstream, members or {}, order or {}, failed)
  if not m then
    ngx.log(ngx.ERR, "baton: upstream ", upstream, " has no ready member", failed and (" besides " .. failed) or "")
    -- NGX_BUSY: nginx answers 502 and logs "no live upstreams" (ngx.exit(502) here would be a 500).
    return ngx.exit(NGX_BUSY)
  end
  local ok, err = balancer.set_current_peer(m.address, m.port)
  if not ok then
    ngx.log(ngx.ERR, "baton: upstream ", upstream, " member ", m.name, ": ", err)
    return ngx.exit(502)
  end
  local d = dict()
  d:incr(inflight_key(upstream, m.name), 1, 0)
  -- safe_set: a full dict refuses this record rather than evicting an upstream's members
  d:safe_set(request_key(), upstream .. "\n" .. m.name, 3600)
  ctx.baton_peer = { upstream = upstream, name = m.name }
end

function _M.log()
  local ctx = ngx.ctx
  local d = dict()
  local key = request_key()
  if ctx.baton_peer then
    release(ctx)
  else
    local peer = d:get(key)
    local upstream, name = (peer or ""):match("^(.-)\n(.+)$")
    if upstream then no_longer_in_flight(upstream, name) end
  end
  d:delete(key)
end

---------------------------------------------------------------- control
local function answer(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json_encode(body))
  return ngx.exit(status)
end

local function refuse(status, message)
  return answer(status, { error = message })
end

local function report(upstream)
  local d = dict()
  local members = current(upstream)
  if not members then
    return refuse(404, "no upstream " .. upstream .. " is loaded: the state file " .. tostring(state_file) .. " has none (write it, then POST {\"upstream\":\"" .. upstream .. "\",\"reload\":true})")
  end
  local out = {}
  for i, m in ipairs(members) do
    out[i] = { name = m.name, address = m.address, port = m.port, state = m.state, weight = m.weight or 1, inflight = d:get(inflight_key(upstream, m.name)) or 0 }
  end
  return answer(200, { upstream = upstream, members = array(out), loadedAt = d:get(loaded_key(upstream)), stateFile = state_file })
end

function _M.control()
  local method = ngx.req.get_method()
  if method == "GET" then
    local upstream = ngx.req.get_uri_args().upstream
    if type(upstream) ~= "string" or not upstream:match(UPSTREAM_NAME) then
      return refuse(400, "expected GET ?upstream=NAME (letters, digits, _ . -)")
    end
    return report(upstream)
  end
  if method ~= "POST" then return refuse(400, "expected GET ?upstream=NAME or POST {\"upstream\":\"NAME\",\"reload\":true}, not " .. method) end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  local req = body and json_decode(body)
  if type(req) ~= "table" or type(req.upstream) ~= "string" or not req.upstream:match(UPSTREAM_NAME) or req.reload ~= true then
    return refuse(400, "expected POST {\"upstream\":\"NAME\",\"reload\":true}: the members are read from the state file, never from the request")
  end
  if not state_file then return refuse(500, "baton_balancer.init(state_file) was not called from init_by_lua_block") end
  local state, err = read_state(state_file)
  if not state then return refuse(500, err) end
  if not state[req.upstream] then return refuse(404, "the state file " .. state_file .. " has no upstream " .. req.upstream) end
  local ok, why = store(req.upstream, state[req.upstream])
  if not ok then return refuse(500, why) end
  return report(req.upstream)
end

return _M
