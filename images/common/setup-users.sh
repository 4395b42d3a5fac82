#!/bin/sh
# Creates one login account per user:password pair (root only gets the
# password) and drops a few plausible files into their homes.
set -eu
grep -v '^#' "$1" | grep ':' | while IFS=: read -r user pass; do
    if ! id "$user" >/dev/null 2>&1; then
        useradd -m -s /bin/bash "$user"
    fi
    echo "$user:$pass" | chpasswd
    home=$(getent passwd "$user" | cut -d: -f6)
    cp -r /tmp/fake-home/. "$home/"
    chown -R "$user:" "$home"
done
mkdir -p /srv/app /var/backups
cat > /srv/app/.env <<'ENV'
APP_ENV=production
DB_HOST=db01.internal
DB_USER=app
DB_PASSWORD=Summer2023!
REDIS_URL=redis://cache01.internal:6379/0
AWS_ACCESS_KEY_ID=AKIAQX4EXAMPLE7FAKE2
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
ENV
