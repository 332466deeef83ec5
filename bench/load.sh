#!/usr/bin/env bash
# load.sh - cameo against nginx on the same bytes: a 4 KiB PNG avatar and a
# ~300-byte profile JSON, both answered from memory by cameo
# (GET /v1/avatars/{id}/{V}, GET /v1/users/{id}) and served as static files by
# nginx at the same URLs, with sendfile on (production-like) and off.
#
# Method (as in /work/shared/notes/http-stack.md): server pinned to CPU 1
# (cameo --workers 1; nginx 1 worker process), wrk -t1 -c64 --latency pinned
# to CPU 0, runs interleaved round by round, medians. CPU per request = the
# server's utime+stime (all its threads; nginx master + worker) over the run,
# from /proc/PID/stat, divided by the requests wrk completed. The order of the
# servers rotates from round to round.
#
# Other load on the machine (builds, tests) skews every figure. On a quiet
# machine the server's CPU time is all of CPU 1's busy time (softirq included),
# so a run where more than CONTENDED_PCT (10) percent of CPU 1's busy time went
# to other work is marked "contended" and left out of the medians (unless all
# runs of a server are).
#
# usage: bench/load.sh
#   DURATION  seconds per measured run (default 4)
#   ROUNDS    interleaved rounds (default 5)
#   WARMUP    seconds of warm-up per target before round 1 (default 2)
#   CONNS     wrk connections (default 64)
#   CONTENDED_PCT  see above (default 10)
#   CAMEO_BIN path to the cameo binary (default build/cameo, built if missing)
# Runtime with the defaults: about 2 minutes. Prints markdown tables.
set -euo pipefail

DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

bench_init load
need nginx nginx-light
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# ---- cameo, seeded ----
start_cameo

user=u1042
# A profile as an application would store it; cameo adds "id" and "avatar".
profile_in='{"name":"Ada Lovelace","handle":"ada","email":"ada@example.org","locale":"en-GB","timezone":"Europe/London","bio":"Mathematician and writer; first published algorithm for a computing engine.","followers":18231,"verified":true}'
curl -sf -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "$profile_in" "$cameo/v1/users/$user" >/dev/null || die "PUT profile failed"
# 4096 bytes: the PNG magic, then padding.
{
    printf '\x89PNG\r\n\x1a\n'
    head -c 4088 /dev/zero | tr '\0' 'A'
} >"$tmp/avatar.png"
put=$(curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary "@$tmp/avatar.png" \
    "$cameo/v1/users/$user/avatar") || die "PUT avatar failed"
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$put")
[ -n "$version" ] || die "no version in $put"
avatar_path=/v1/avatars/$user/$version
profile_path=/v1/users/$user

# ---- nginx: the same bytes at the same paths ----
www=$tmp/www
mkdir -p "$www/v1/avatars/$user" "$www/v1/users"
cp "$tmp/avatar.png" "$www$avatar_path"
curl -sf -o "$www$profile_path" "$cameo$profile_path" || die "GET profile failed"
chmod -R a+rX "$tmp" # nginx's worker runs as an unprivileged user

# nginx_conf SENDFILE PORT PREFIX: a production-like static config, 1 worker.
nginx_conf() {
    local nopush=on
    [ "$1" = on ] || nopush=off
    cat <<EOF
worker_processes 1;
pid $3/nginx.pid;
error_log $3/error.log warn;
events {
    worker_connections 1024;
}
http {
    sendfile $1;
    tcp_nopush $nopush;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    access_log off;
    open_file_cache max=1000 inactive=60s;
    server_tokens off;
    client_body_temp_path $3/body;
    proxy_temp_path $3/proxy;
    fastcgi_temp_path $3/fastcgi;
    uwsgi_temp_path $3/uwsgi;
    scgi_temp_path $3/scgi;
    server {
        listen 127.0.0.1:$2;
        root $www;
        location /v1/avatars/ {
            default_type image/png;
            add_header Cache-Control "public, max-age=31536000, immutable";
        }
        location /v1/users/ {
            default_type application/json;
            add_header Cache-Control "no-cache";
        }
    }
}
EOF
}

declare -A port
for sf in on off; do
    prefix=$tmp/nginx-sendfile-$sf
    mkdir -p "$prefix"
    port[$sf]=$(free_port)
    nginx_conf "$sf" "${port[$sf]}" "$prefix" >"$prefix/nginx.conf"
    taskset -c "$SERVER_CPU" "$nginx_bin" -c "$prefix/nginx.conf" -p "$prefix" -g 'daemon off;' \
        >"$prefix/stdout.log" 2>&1 &
    nginx_pids+=("$!")
    wait_up "http://127.0.0.1:${port[$sf]}/"
done
nginx_on=http://127.0.0.1:${port[on]}
nginx_off=http://127.0.0.1:${port[off]}

# server_pids NAME: the processes whose CPU counts for a target's server.
server_pids() {
    case $1 in
    cameo) echo "$cameo_pid" ;;
    nginx-sendfile-on) echo "${nginx_pids[0]}" "$(pgrep -P "${nginx_pids[0]}" | tr '\n' ' ')" ;;
    nginx-sendfile-off) echo "${nginx_pids[1]}" "$(pgrep -P "${nginx_pids[1]}" | tr '\n' ' ')" ;;
    esac
}
base_of() {
    case $1 in
    cameo) echo "$cameo" ;;
    nginx-sendfile-on) echo "$nginx_on" ;;
    nginx-sendfile-off) echo "$nginx_off" ;;
    esac
}

# ---- the responses are right ----
# check URL FILE: status 200 and a body equal to FILE.
check() {
    local status
    status=$(curl -s -o "$tmp/got" -w '%{http_code}' "$1")
    [ "$status" = 200 ] || die "$1 answered $status"
    cmp -s "$tmp/got" "$2" || die "$1 did not answer the bytes of $2"
}
for server in cameo nginx-sendfile-on nginx-sendfile-off; do
    b=$(base_of "$server")
    check "$b$avatar_path" "$tmp/avatar.png"
    check "$b$profile_path" "$www$profile_path"
done
avatar_bytes=$(wc -c <"$tmp/avatar.png")
profile_bytes=$(wc -c <"$www$profile_path")
echo "# responses checked: avatar $avatar_bytes bytes, profile $profile_bytes bytes, identical from all servers"
for server in cameo nginx-sendfile-on; do
    b=$(base_of "$server")
    echo "# $server response head of $avatar_path:"
    curl -s -D - -o /dev/null "$b$avatar_path" | tr -d '\r' | sed 's/^/#   /'
done

# ---- measure ----
cmdline="DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP CONNS=$CONNS bench/load.sh"
wrk_cmd="taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -d${DURATION}s --latency URL"
echo "# command: $cmdline"
echo "# each run: $wrk_cmd; servers pinned with taskset -c $SERVER_CPU"
host_line "$("$nginx_bin" -v 2>&1 | sed 's/.*: //')"

# run NAME PATH SECONDS: one wrk run (wrk_run) of target NAME.
run() {
    wrk_run "$1 $2" "$(server_pids "$1")" "$CONNS" "$3" "$(base_of "$1")$2"
}

targets=(cameo nginx-sendfile-on nginx-sendfile-off)
objects=(avatar profile)
path_of() { if [ "$1" = avatar ]; then echo "$avatar_path"; else echo "$profile_path"; fi; }

for obj in "${objects[@]}"; do
    for t in "${targets[@]}"; do
        run "$t" "$(path_of "$obj")" "$WARMUP" >/dev/null
    done
done

results=$tmp/results
: >"$results"
echo
echo "| round | object | server | rps | p99 ms | requests | server CPU s | µs CPU/req | req per CPU-s | CPU 1 busy on other work |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
    for obj in "${objects[@]}"; do
        for i in "${!targets[@]}"; do
            t=${targets[$(((i + round - 1) % ${#targets[@]}))]}
            read -r rps p50 p99 reqs ticks busy <<<"$(run "$t" "$(path_of "$obj")" "$DURATION")"
            echo "$obj $t $rps $p50 $p99 $reqs $ticks $busy" >>"$results"
            bench_awk -v r="$round" -v o="$obj" -v t="$t" -v rps="$rps" -v p99="$p99" -v n="$reqs" \
                -v k="$ticks" -v b="$busy" 'BEGIN {
                s = k / hz
                printf "| %d | %s | %s | %.0f | %.2f | %d | %.2f | %.2f | %.0f | %s |\n",
                    r, o, t, rps, p99, n, s, s * 1e6 / n, n / s, contention_cell(k, b) }'
        done
    done
done

# Medians per object and server, then the ratios cameo / nginx.
echo
summarize "$results" '
END {
    print "| object | server | runs used | median rps | median p99 ms | median µs CPU/req | req per CPU-s |"
    print "|---|---|---|---|---|---|---|"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, ks, " ")
        k2 = runs_key(k)
        R[k] = median(rps[k2]); P[k] = median(p99[k2]); U[k] = median(us[k2])
        printf "| %s | %s | %s | %.0f | %.2f | %.2f | %.0f |\n", ks[1], ks[2], runs_used(k), R[k], P[k], U[k], 1e6 / U[k]
    }
    print ""
    print "| object | cameo vs | rps ratio | req per CPU-s ratio (target >= 1.15) | p99 ratio (target <= 1) | target |"
    print "|---|---|---|---|---|---|"
    split("avatar profile", objs, " ")
    split("nginx-sendfile-on nginx-sendfile-off", ngx, " ")
    for (o = 1; o <= 2; o++)
        for (g = 1; g <= 2; g++) {
            c = objs[o] " cameo"; n = objs[o] " " ngx[g]
            eff = U[n] / U[c]; lat = P[c] / P[n]
            printf "| %s | %s | %.2f | %.2f | %.2f | %s |\n", objs[o], ngx[g], R[c] / R[n], eff, lat,
                (eff >= 1.15 && lat <= 1) ? "met" : "not met"
        }
    print ""
    print "Ratios of the medians: rps and p99 are cameo / nginx; req per CPU-s is nginx µs/req over cameo µs/req."
    warn_contended()
}'
