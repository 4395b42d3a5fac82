#!/bin/sh
# First start (pre-create): fresh host keys for this sandbox only. The fast
# keys come first so sshd answers at once; RSA follows and sshd re-reads its
# keys on SIGHUP. Command log (snoopy) and sshd's own log go to stdout, which
# the orchestrator forwards as syslog.
set -e
mkdir -p /run/sshd
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
[ -f /etc/ssh/ssh_host_ecdsa_key ] || ssh-keygen -q -t ecdsa -N '' -f /etc/ssh/ssh_host_ecdsa_key
[ -z "${SSH_VERSION_ADDENDUM:-}" ] || echo "VersionAddendum $SSH_VERSION_ADDENDUM" >> /etc/ssh/sshd_config
# Created here, not in the image: tail would follow the lower layer's inode.
: > /var/log/snoopy.log && chmod 0622 /var/log/snoopy.log
tail -q -n 0 -F /var/log/snoopy.log 2>/dev/null &
if [ ! -f /etc/ssh/ssh_host_rsa_key ]; then
    ( ssh-keygen -q -t rsa -b 3072 -N '' -f /etc/ssh/ssh_host_rsa_key \
        && while [ ! -s /run/sshd.pid ]; do sleep 0.05; done \
        && kill -HUP "$(cat /run/sshd.pid)" ) &
fi
exec /usr/sbin/sshd -D -e
