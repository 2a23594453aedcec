--[[
  Sets fields of a run's hash only while the run exists: a figure written late (after the run was
  removed) must not bring back a husk of it.

  KEYS[1] run hash          ({prefix}:run:ID)
  ARGV    field, value, field, value, ...

  Returns 1 when set, 0 when the run is gone.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
