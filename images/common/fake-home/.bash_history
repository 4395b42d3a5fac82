cd /srv/app
git pull
sudo systemctl restart app
mysql -u app -p shop
tail -f /var/log/nginx/access.log
scp backup.tar.gz backup@10.0.4.12:/srv/backups/
redis-cli -h cache01.internal
