-- batch_get.lua - wrk script for bench/batch.sh: GET /v1/users/{id}, cycling
-- through the ids listed one per line in the file named by the environment
-- variable BATCH_IDS (the same profiles as the batch).
local path = assert(os.getenv("BATCH_IDS"), "BATCH_IDS is not set")
local ids = {}
for line in io.lines(path) do
    if line ~= "" then
        ids[#ids + 1] = line
    end
end
assert(#ids > 0, "no ids in BATCH_IDS")
local i = 0

function request()
    i = i % #ids + 1
    return wrk.format("GET", "/v1/users/" .. ids[i])
end
