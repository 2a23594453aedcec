--[[
  A worker finished batch ARGV[1] of a run: count it once, note when, wake the run's collector.
  Idempotent: a batch done twice (a retry after a lost reply, a stalled job redone) counts once.

  KEYS[1] run hash          ({prefix}:run:ID)
  KEYS[2] done bitmap       ({prefix}:run:ID:done)
  KEYS[3] timeline zset     ({prefix}:run:ID:timeline)
  KEYS[4] wake-up list      ({prefix}:run:ID:ready)

  ARGV[1] seq
  ARGV[2] now (ms)
  ARGV[3] timeline cut-off (ms): entries older than this go

  Returns 1 when counted, 0 when the batch was counted already, -1 when the run is gone.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local counted = 0
if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 0 then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
  counted = 1
end
redis.call('RPUSH', KEYS[4], ARGV[1])
return counted
