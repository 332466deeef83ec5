-- batch_post.lua - wrk script for bench/batch.sh: every request is
-- POST /v1/users:batch with the JSON body read from the file named by the
-- environment variable BATCH_BODY ({"ids": [...]}).
local f = assert(io.open(assert(os.getenv("BATCH_BODY"), "BATCH_BODY is not set"), "rb"))
wrk.method = "POST"
wrk.path = "/v1/users:batch"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
