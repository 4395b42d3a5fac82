#!/bin/sh
# Adds the ACL users (a random password for the monitor account), then
# loads the fake keys and saves them into dump.rdb.
set -eu
mon=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
pw=$(grep -v '^#' /tmp/credentials.txt | grep ':' | cut -d: -f2- | sed 's/^/>/' | paste -sd' ' -)
echo "user default on $pw ~* &* +@all" >> /etc/redis/kyoka.conf
grep -v '^#' /tmp/credentials.txt | grep ':' | while IFS=: read -r user pass; do
    [ "$user" = default ] || echo "user $user on >$pass ~* &* +@all" >> /etc/redis/kyoka.conf
done
echo "user sentinel-mon on >$mon +monitor +ping" >> /etc/redis/kyoka.conf
printf '%s\n' "$mon" > /etc/redis/.mon && chown redis: /etc/redis/.mon && chmod 400 /etc/redis/.mon
mkdir -p /var/lib/redis && chown redis: /var/lib/redis
su -s /bin/sh redis -c "redis-server /etc/redis/kyoka.conf --port 0 --unixsocket /tmp/seed.sock --daemonize yes --logfile /tmp/seed.log"
i=0; while [ ! -S /tmp/seed.sock ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
first=$(grep -v '^#' /tmp/credentials.txt | grep ':' | head -1 | cut -d: -f2-)
grep -v '^#' /tmp/seed.redis | grep -v '^$' | redis-cli -s /tmp/seed.sock --no-auth-warning -a "$first" >/dev/null
redis-cli -s /tmp/seed.sock --no-auth-warning -a "$first" SAVE >/dev/null
redis-cli -s /tmp/seed.sock --no-auth-warning -a "$first" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
