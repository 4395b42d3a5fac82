#!/bin/sh
set -e
[ -z "${FTP_BANNER:-}" ] || echo "ftpd_banner=$FTP_BANNER" >> /etc/vsftpd.conf
# Created here, not in the image: tail would follow the lower layer's inode.
: > /var/log/vsftpd.log
tail -q -n 0 -F /var/log/vsftpd.log 2>/dev/null &
exec /usr/sbin/vsftpd /etc/vsftpd.conf
