#!/bin/bash
# Records redis-session.pcap: Debian's redis-server 7 and redis-cli talking
# over loopback in a private network namespace (run as root).
# Covers: failed and good AUTH, SET/GET, a 300 kB SET value (more than the
# driver buffers), pipelining, inline commands with quotes, CLIENT REPLY
# SKIP/OFF/ON, HELLO 3 with client tracking (RESP3 maps and invalidate
# pushes), pub/sub (SUBSCRIBE, PSUBSCRIBE, messages), MONITOR, and a
# five-password hydra run.
set -euo pipefail
out=$(realpath "${1:-redis-session.pcap}")
ns=kyoka-redis-rec-$$
ip netns add "$ns"
trap 'ip netns pids "$ns" | xargs -r kill; sleep 0.3; ip netns del "$ns"' EXIT
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
dir=$(mktemp -d)
in_ns redis-server --port 6379 --save '' --appendonly no --dir "$dir" --daemonize no \
    --requirepass hunter2 --user alice on '>wonderland' '~*' '&*' '+@all' >/dev/null &
sleep 0.5
in_ns tcpdump -i lo -w "$out" -U -s 0 tcp port 6379 2>/dev/null &
tcpdump_pid=$!
sleep 0.5
cli() { in_ns redis-cli --no-auth-warning "$@"; }
raw() { in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379; printf "$1" >&3; sleep 0.3; timeout 0.3 cat <&3 >/dev/null || true' _ "$1"; }

cli -a wrongpass PING || true
cli --user alice --pass wonderland SET greeting hello
cli -a hunter2 GET greeting
head -c 300000 /dev/zero | tr '\0' 'x' > "$dir/big"
cli -a hunter2 -x SET bigvalue < "$dir/big"
raw 'AUTH hunter2\r\nPING\r\nSET "quoted key" '"'"'single q'"'"'\r\nGET "quoted key"\r\nPING\r\nPING\r\n'
raw 'AUTH hunter2\r\nCLIENT REPLY SKIP\r\nSET a 1\r\nGET a\r\nCLIENT REPLY OFF\r\nSET b 2\r\nCLIENT REPLY ON\r\nGET b\r\n'
# RESP3 with client tracking: the second client's SET invalidates the key.
in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379
    printf "HELLO 3 AUTH alice wonderland\r\nCLIENT TRACKING ON\r\nGET greeting\r\n" >&3
    timeout 2 cat <&3 >/dev/null; printf "QUIT\r\n" >&3; sleep 0.2' &
jobs_to_wait=($!)
# Pub/sub and MONITOR.
timeout 2 ip netns exec "$ns" redis-cli -a hunter2 --no-auth-warning SUBSCRIBE news >/dev/null &
jobs_to_wait+=($!)
timeout 2 ip netns exec "$ns" redis-cli -a hunter2 --no-auth-warning PSUBSCRIBE 'n*' >/dev/null &
jobs_to_wait+=($!)
timeout 2 ip netns exec "$ns" redis-cli -a hunter2 --no-auth-warning MONITOR >/dev/null &
jobs_to_wait+=($!)
sleep 0.5
cli -a hunter2 SET greeting changed
cli -a hunter2 PUBLISH news "first item"
cli -a hunter2 PUBLISH nope 'x'
wait "${jobs_to_wait[@]}" || true  # timeout ends them with 124
# A short brute force, as attackers run it.
printf 'admin\nredis\n123456\nhunter2\nfoobared\n' > "$dir/words"
in_ns hydra -t 2 -P "$dir/words" -s 6379 127.0.0.1 redis >/dev/null || true
sleep 0.5
kill "$tcpdump_pid" 2>/dev/null || true
sleep 0.3
rm -rf "$dir"
