#!/bin/sh
# Redis in the background, MONITOR in front: every command (AUTH redacted)
# with the client's address goes to stdout.
redis-server /etc/redis/kyoka.conf &
pid=$!
mon=$(cat /etc/redis/.mon)
i=0
until redis-cli --no-auth-warning --user sentinel-mon --pass "$mon" PING >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.02; i=$((i+1)); done
redis-cli --no-auth-warning --user sentinel-mon --pass "$mon" MONITOR &
wait $pid
