#!/bin/sh
# Records the rsync daemon protocol between Debian's rsync client and daemon
# on 127.0.0.1:8730, one pcap per scenario. Run as root from this folder.
set -eu
out=$(pwd)
work=$(mktemp -d)
mkdir -p "$work/pub" "$work/priv" "$work/pushdest" "$work/src"
printf 'hello rsync\n' > "$work/pub/hello.txt"
printf 'secret data\n' > "$work/priv/secret.txt"
printf 'pushed file\n' > "$work/src/pushed.txt"
printf 'alice:s3cret\n' > "$work/secrets"
chmod 600 "$work/secrets"
printf 'Welcome to the kyoka test daemon\n' > "$work/motd"
cat > "$work/rsyncd.conf" <<CONF
port = 8730
address = 127.0.0.1
use chroot = no
reverse lookup = no
pid file = $work/rsyncd.pid
motd file = $work/motd
log file = $work/rsyncd.log

[pub]
    path = $work/pub
    comment = public files
    read only = yes

[priv]
    path = $work/priv
    comment = private files
    auth users = alice
    secrets file = $work/secrets
    read only = yes

[drop]
    path = $work/pushdest
    comment = uploads
    read only = no
    uid = root
    gid = root
CONF
rsync --daemon --config="$work/rsyncd.conf"
sleep 1

record() {
    name=$1; shift
    tcpdump -i lo -U -Z root -w "$out/$name.pcap" 'tcp port 8730' 2>/dev/null &
    tpid=$!
    sleep 1
    "$@" || true
    sleep 1
    kill "$tpid"; wait "$tpid" || true
}

record list rsync rsync://127.0.0.1:8730/
record pull rsync -av rsync://127.0.0.1:8730/pub/ "$work/pulled/"
record push rsync -av "$work/src/" rsync://127.0.0.1:8730/drop/
record auth-ok env RSYNC_PASSWORD=s3cret rsync -av rsync://alice@127.0.0.1:8730/priv/ "$work/pulled-priv/"
record auth-failed env RSYNC_PASSWORD=wrong rsync -av rsync://alice@127.0.0.1:8730/priv/ "$work/pulled-priv2/"
record protocol29 rsync --protocol=29 -av rsync://127.0.0.1:8730/pub/ "$work/pulled29/"

kill "$(cat "$work/rsyncd.pid")"
rm -rf "$work"
