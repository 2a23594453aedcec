--[[
  Batch ARGV[2] failed for good (bad input): keep its reason, count it once, wake the collector.
  Idempotent: a second failure record of the same batch changes nothing.

  KEYS[1] run hash          ({prefix}:run:ID)
  KEYS[2] failure record    ({prefix}:run:ID:err:SEQ)
  KEYS[3] wake-up list      ({prefix}:run:ID:ready)

  ARGV[1] failure record (JSON)
  ARGV[2] seq

  Returns 1 when recorded, 0 when it was recorded already, -1 when the run is gone.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local recorded = 0
if redis.call('SET', KEYS[2], ARGV[1], 'NX') then
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
  recorded = 1
end
redis.call('RPUSH', KEYS[3], ARGV[2])
return recorded
