-- SPDX-License-Identifier: MIT
-- wrk script of bench/ims/run.sh: every request is POST /v3/public-keys with the same JSON body,
-- so each one creates a record (IMS checks no uniqueness of name or key). Counts the answers by
-- status per thread and prints the sums at the end, for the no-lost-writes check:
--   created_201: N     answers 201
--   other_status: N    any other status
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "bench-key", "public_key": "ssh-ed25519 '
    .. 'AAAAC3NzaC1lZDI1NTE5AAAAIGJlbmNoLWltZ2QtaW1zLWNyZWF0ZS1yYXRlLWtleQ bench@imgd"}'

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    created = 0
    other = 0
end

function response(status, headers, body)
    if status == 201 then
        created = created + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local c, o = 0, 0
    for _, t in ipairs(threads) do
        c = c + t:get("created")
        o = o + t:get("other")
    end
    io.write(string.format("created_201: %d\nother_status: %d\n", c, o))
end
