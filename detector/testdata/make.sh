#!/usr/bin/env bash
# Regenerates the normaliser test data from the real Debian daemons, each
# started here on a loopback port in a temporary folder and driven by real
# clients. Run as root (sshd, a throwaway local user for password logins).
# Usage: bash detector/testdata/make.sh [service...]   (default: all)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
user=kyokatd
pass='Corr3ct-horse'
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    userdel -r "$user" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
echo "$user:$pass" | chpasswd

sshd() {
    local p; p=$(port); mkdir -p /run/sshd "$tmp/ssh"
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh/host"
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh/client"
    cp "$tmp/ssh/client.pub" "$tmp/ssh/authorized_keys"
    /usr/sbin/sshd -D -p "$p" -o ListenAddress=127.0.0.1 -h "$tmp/ssh/host" -E "$tmp/ssh/sshd.log" \
        -o PidFile="$tmp/ssh/pid" -o PasswordAuthentication=yes -o KbdInteractiveAuthentication=no \
        -o AuthorizedKeysFile="$tmp/ssh/authorized_keys" -o StrictModes=no -o PermitRootLogin=yes -o MaxAuthTries=3 &
    pids+=($!); wait_port "$p"
    local o=(-p "$p" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=no -o ConnectTimeout=5)
    printf '#!/bin/sh\necho "$ASKPASS_WORD"\n' >"$tmp/askpass"; chmod +x "$tmp/askpass"
    askssh() { ASKPASS_WORD="$1" SSH_ASKPASS="$tmp/askpass" SSH_ASKPASS_REQUIRE=force setsid -w ssh "${o[@]}" -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 "$2@127.0.0.1" true </dev/null || true; }
    askssh wrong root
    askssh wrong nosuchuser
    askssh "$pass" "$user"
    ssh "${o[@]}" -o BatchMode=yes -i "$tmp/ssh/client" root@127.0.0.1 true </dev/null || true
    hydra -l root -p nope -p nope2 -t 1 -s "$p" ssh://127.0.0.1 >/dev/null 2>&1 || true
    sleep 0.5
    mkdir -p "$here/sshd"; cp "$tmp/ssh/sshd.log" "$here/sshd/sshd-E.log"
}

vsftpd() {
    local p; p=$(port); local d="$tmp/ftp"; mkdir -p "$d/root/incoming" /var/run/vsftpd/empty
    echo hello >"$d/root/readme.txt"; chown ftp "$d/root/incoming"; chmod 555 "$d/root"
    cat >"$d/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$p
background=NO
anonymous_enable=YES
anon_root=$d/root
anon_upload_enable=YES
write_enable=YES
local_enable=YES
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
pasv_enable=YES
pasv_address=127.0.0.1
xferlog_enable=YES
dual_log_enable=YES
log_ftp_protocol=YES
vsftpd_log_file=$d/vsftpd.log
xferlog_file=$d/xferlog
pam_service_name=vsftpd
CONF
    /usr/sbin/vsftpd "$d/vsftpd.conf" & pids+=($!); wait_port "$p"
    echo upload-body >"$tmp/up.txt"
    lftp -e "set net:max-retries 1; ls; bye" -u "root,wrong" -p "$p" 127.0.0.1 >/dev/null 2>&1 || true
    lftp -e "set net:max-retries 1; ls; bye" -u "admin,admin" -p "$p" 127.0.0.1 >/dev/null 2>&1 || true
    lftp -e "set net:max-retries 1; get readme.txt -o $tmp/down.txt; cd incoming; put $tmp/up.txt; bye" -u "anonymous,x@y" -p "$p" 127.0.0.1 >/dev/null 2>&1 || true
    lftp -e "set net:max-retries 1; ls; bye" -u "$user,$pass" -p "$p" 127.0.0.1 >/dev/null 2>&1 || true
    hydra -l root -p nope -p nope2 -t 1 -s "$p" ftp://127.0.0.1 >/dev/null 2>&1 || true
    sleep 0.5
    mkdir -p "$here/vsftpd"; cp "$d/vsftpd.log" "$here/vsftpd/vsftpd.log"; cp "$d/xferlog" "$here/vsftpd/xferlog"
}

rsyncd() {
    local p; p=$(port); local d="$tmp/rsync"; mkdir -p "$d/pub" "$d/secret"
    echo data >"$d/pub/file.txt"; echo secret >"$d/secret/s.txt"
    echo "bob:sesame" >"$d/secrets"; chmod 600 "$d/secrets"
    cat >"$d/rsyncd.conf" <<CONF
port = $p
address = 127.0.0.1
use chroot = no
reverse lookup = no
log file = $d/rsyncd.log
pid file = $d/pid
uid = root
gid = root
[pub]
path = $d/pub
read only = no
[secret]
path = $d/secret
auth users = bob
secrets file = $d/secrets
CONF
    rsync --daemon --no-detach --config="$d/rsyncd.conf" & pids+=($!); wait_port "$p"
    rsync "rsync://127.0.0.1:$p/" >/dev/null || true
    rsync "rsync://127.0.0.1:$p/pub/file.txt" "$tmp/got.txt" || true
    echo up >"$tmp/up.txt"; rsync "$tmp/up.txt" "rsync://127.0.0.1:$p/pub/" || true
    RSYNC_PASSWORD=wrong rsync "rsync://bob@127.0.0.1:$p/secret/" >/dev/null 2>&1 || true
    RSYNC_PASSWORD=sesame rsync "rsync://bob@127.0.0.1:$p/secret/s.txt" "$tmp/s.txt" || true
    sleep 0.5
    mkdir -p "$here/rsyncd"; cp "$d/rsyncd.log" "$here/rsyncd/rsyncd.log"
}

redis() {
    local p; p=$(port); local d="$tmp/redis"; mkdir -p "$d"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$d" --save '' --requirepass s3cret --enable-module-command yes >/dev/null & pids+=($!); wait_port "$p"
    redis-cli -p "$p" -a s3cret --no-auth-warning monitor >"$d/monitor.log" & pids+=($!); sleep 0.3
    local c=(redis-cli -p "$p" --no-auth-warning)
    "${c[@]}" -a wrong ping >/dev/null || true
    "${c[@]}" -a s3cret set k v >/dev/null
    "${c[@]}" -a s3cret get k >/dev/null
    "${c[@]}" -a s3cret config set dbfilename x.rdb >/dev/null || true
    "${c[@]}" -a s3cret config set dir /tmp >/dev/null || true
    "${c[@]}" -a s3cret slaveof no one >/dev/null || true
    "${c[@]}" -a s3cret replicaof no one >/dev/null || true
    "${c[@]}" -a s3cret eval "return redis.call('get', KEYS[1])" 1 k >/dev/null || true
    "${c[@]}" -a s3cret module load /nonexistent.so >/dev/null 2>&1 || true
    "${c[@]}" -a s3cret flushall >/dev/null || true
    "${c[@]}" -a s3cret set "$(printf 'bin\xff\x01key')" "a b\"c" >/dev/null || true
    hydra -P <(printf 'a\nb\n') -t 1 -s "$p" redis://127.0.0.1 >/dev/null 2>&1 || true
    sleep 0.5
    mkdir -p "$here/redis"; cp "$d/monitor.log" "$here/redis/monitor.log"
}

mariadb() {
    local p; p=$(port); local d="$tmp/mysql"; mkdir -p "$d"
    mariadb-install-db --no-defaults --datadir="$d/data" --user=root --auth-root-authentication-method=normal >/dev/null 2>&1
    printf "FLUSH PRIVILEGES;\nCREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'apppw';\nGRANT ALL ON *.* TO 'app'@'127.0.0.1';\n" \
        | mariadbd --no-defaults --bootstrap --datadir="$d/data" --user=root >/dev/null 2>&1
    mariadbd --no-defaults --datadir="$d/data" --user=root --port="$p" --bind-address=127.0.0.1 --socket="$d/sock" \
        --pid-file="$d/pid" --general-log=1 --general-log-file="$d/general.log" --log-error="$d/error.log" --log-warnings=2 --skip-name-resolve & pids+=($!)
    wait_port "$p"
    local m=(mysql --no-defaults -h 127.0.0.1 -P "$p")
    "${m[@]}" -u root -pwrong -e 'select 1' >/dev/null 2>&1 || true
    "${m[@]}" -u nobody -pwrong -e 'select 1' >/dev/null 2>&1 || true
    "${m[@]}" -u app -papppw -e "select user, password from mysql.user; select load_file('/etc/passwd'); select 1 into outfile '/tmp/kyoka-$$-out'; create function sys_exec returns integer soname 'lib_mysqludf_sys.so'; show databases" >/dev/null 2>&1 || true
    "${m[@]}" -u app -papppw -e 'select 1' >/dev/null 2>&1 || true
    hydra -l root -p a -p b -t 1 -s "$p" mysql://127.0.0.1 >/dev/null 2>&1 || true
    rm -f "/tmp/kyoka-$$-out"
    sleep 0.5
    mkdir -p "$here/mariadb"; cp "$d/general.log" "$here/mariadb/general.log"; grep -a 'Access denied' "$d/error.log" >"$here/mariadb/error.log" || true
}

services=("$@"); ((${#services[@]})) || services=(sshd vsftpd rsyncd redis mariadb)
for s in "${services[@]}"; do echo "== $s" >&2; "$s"; done
