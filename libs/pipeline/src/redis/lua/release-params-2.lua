--[[
  A run no longer uses a SelfNorm parameter object: the object goes with its last user.

  KEYS[1] parameters        ({prefix}:params:HASH)
  KEYS[2] their users (set) ({prefix}:params:HASH:runs)

  ARGV[1] run id

  Returns 1 when the parameters were deleted, 0 when other runs still use them.
]]
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
