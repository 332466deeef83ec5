-- redis_random.lua - wrk script for bench/redis_l2.sh and bench/propagation.sh:
-- GET a path chosen uniformly at random among those listed one per line in
-- the file named by the environment variable REDIS_PATHS.
local file = assert(os.getenv("REDIS_PATHS"), "REDIS_PATHS is not set")
local paths = {}
for line in io.lines(file) do
    if line ~= "" then
        paths[#paths + 1] = line
    end
end
assert(#paths > 0, "no paths in REDIS_PATHS")
math.randomseed(os.time())

function request()
    return wrk.format("GET", paths[math.random(#paths)])
end
