--[[
  Gives a failed batch another go (the dashboard's Retry): its failure record goes, uncounted.

  KEYS[1] run hash          ({prefix}:run:ID)
  KEYS[2] failure record    ({prefix}:run:ID:err:SEQ)

  Returns 1 when a record was removed, 0 when there was none.
]]
if redis.call('DEL', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'failed', -1)
  return 1
end
return 0
