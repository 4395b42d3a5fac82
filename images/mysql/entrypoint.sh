#!/bin/sh
set -e
: > /var/log/mysql/general.log
tail -q -n 0 -F /var/log/mysql/general.log 2>/dev/null &
exec /usr/sbin/mariadbd
