#!/bin/sh
# Seeds the datadir at image build: accounts from the credentials list, then
# the fake schema. One statement per line, FLUSH PRIVILEGES first (bootstrap
# mode starts without the grant tables loaded).
set -eu
mkdir -p /run/mysqld /var/log/mysql && chown mysql: /run/mysqld /var/log/mysql
[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --skip-test-db >/dev/null
{
    echo "FLUSH PRIVILEGES;"
    grep -v '^#' /tmp/credentials.txt | grep ':' | while IFS=: read -r user pass; do
        echo "CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$pass';"
        echo "GRANT ALL PRIVILEGES ON *.* TO '$user'@'%' WITH GRANT OPTION;"
    done
    grep -v '^--' /tmp/seed.sql | grep -v '^$'
} | mariadbd --user=mysql --bootstrap --log-warnings=0 >/dev/null 2>&1
touch /var/log/mysql/general.log && chown -R mysql: /var/lib/mysql /var/log/mysql
