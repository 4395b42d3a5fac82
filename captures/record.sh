#!/usr/bin/env bash
# Record small, real captures of every protocol Kyoka dissects, with Debian's
# own daemons and clients, inside two private network namespaces.
#
#   sudo bash captures/record.sh [all | SCENARIO...]
#   scenarios: ftp ftp-hydra ssh ssh-hydra rsync mysql mysql-hydra redis http mongo
#
# attacker namespace kyk-att (192.0.2.1, 2001:db8::1) --veth-- server namespace
# kyk-srv (192.0.2.2, 2001:db8::2). Addresses are documentation ranges that
# exist only on that veth pair: no packet leaves the two namespaces. tcpdump
# records on the server side's veth. For every capture <proto>/<name>.pcap
# the script writes <proto>/<name>.facts.json (shape in captures/README.md)
# from what it did and what the daemons logged. Idempotent; everything it
# started is stopped and the namespaces removed on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=$HERE/config
WORK=/var/tmp/kyoka-captures
ATT=kyk-att SRV=kyk-srv
A4=192.0.2.1 S4=192.0.2.2 A6=2001:db8::1 S6=2001:db8::2
PY=/usr/bin/python3
SSH_USER=webadmin SSH_PASS=123456
PACKAGES=(vsftpd ftp lftp openssh-server openssh-client sshpass rsync mariadb-server
    mariadb-client redis-server redis-tools nginx curl hydra tcpdump tshark jq
    python3-pymongo iproute2 procps)
PIDS=()
CAP_PID=

log() { printf '[record] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
att() { ip netns exec "$ATT" "$@"; }
srv() { ip netns exec "$SRV" "$@"; }

# ---------------------------------------------------------------- setup ----

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

pkg_version() { dpkg-query -W -f='${Version}' "$1"; }

make_namespaces() {
    remove_namespaces
    ip netns add "$ATT"
    ip netns add "$SRV"
    ip link add kyk-a netns "$ATT" address 02:00:00:00:0a:01 type veth \
        peer name kyk-s netns "$SRV" address 02:00:00:00:0a:02
    for ns in "$ATT" "$SRV"; do ip -n "$ns" link set lo up; done
    ip -n "$ATT" addr add $A4/24 dev kyk-a
    ip -n "$SRV" addr add $S4/24 dev kyk-s
    ip -n "$ATT" -6 addr add $A6/64 dev kyk-a nodad
    ip -n "$SRV" -6 addr add $S6/64 dev kyk-s nodad
    ip -n "$ATT" link set kyk-a up
    ip -n "$SRV" link set kyk-s up
    ip -n "$ATT" -br addr show kyk-a | grep -q "$A4" || die "attacker address missing"
}

remove_namespaces() {
    for ns in "$ATT" "$SRV"; do
        if ip netns list | grep -qw "$ns"; then
            # End only processes living in our own namespaces.
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
            ip netns del "$ns"
        fi
    done
}

cleanup() {
    local rc=$?
    stop_capture || true
    stop_daemons || true
    remove_namespaces || true
    ((rc == 0)) || log "failed (exit $rc); logs in $WORK/log"
    exit $rc
}

# Render a config from captures/config with @WORK@ filled in.
render() { sed "s#@WORK@#$WORK#g" "$CONF/$1" >"$WORK/run/$1"; echo "$WORK/run/$1"; }

prepare_work() {
    mkdir -p "$WORK"/{run,log,facts,att,ssh,rsync,redis,www,nginx,mysql-out}
    rm -f "$WORK"/log/* "$WORK"/facts/*
    if ! id "$SSH_USER" >/dev/null 2>&1; then
        useradd -m -s /bin/bash "$SSH_USER"
    fi
    echo "$SSH_USER:$SSH_PASS" | chpasswd
}

# Deterministic bytes: seed, size.
det_bytes() { $PY -c 'import random,sys; sys.stdout.buffer.write(random.Random(sys.argv[1]).randbytes(int(sys.argv[2])))' "$1" "$2"; }

# Wait until HOST:PORT accepts connections from the attacker namespace.
wait_port() {
    local host=$1 port=$2
    for _ in $(seq 1 100); do
        if att bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "nothing listens on $host:$port"
}

start_daemon() {   # start_daemon NAME CMD... (runs in the server namespace)
    local name=$1; shift
    # ip netns exec execs the command: $! is the daemon itself (not a subshell).
    ip netns exec "$SRV" "$@" >>"$WORK/log/$name.out" 2>&1 &
    PIDS+=($!)
}

stop_daemons() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    # Daemons that fork (vsftpd sessions, sshd children) die with their parent;
    # anything left in the server namespace is ours too.
    for pid in $(ip netns pids "$SRV" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
}

# ----------------------------------------------------------- recording ----

start_capture() {   # start_capture PROTO NAME
    mkdir -p "$HERE/$1"
    CAP_FILE=$HERE/$1/$2.pcap
    rm -f "$CAP_FILE"
    # Let the readiness probe's connection (wait_port) finish before recording.
    sleep 1
    ip netns exec "$SRV" tcpdump -i kyk-s -s 0 -B 8192 -U --immediate-mode -Z root -w "$CAP_FILE" >"$WORK/log/tcpdump-$2.out" 2>&1 &
    CAP_PID=$!
    for _ in $(seq 1 50); do
        grep -q 'listening on' "$WORK/log/tcpdump-$2.out" 2>/dev/null && break
        sleep 0.1
    done
    sleep 0.3
}

stop_capture() {
    [[ -n "$CAP_PID" ]] || return 0
    # On a busy machine tcpdump lags: wait until the file stops growing, or
    # packets still queued in the kernel are lost when it exits.
    local last=-1 size
    for _ in $(seq 1 40); do
        sleep 0.5
        size=$(stat -c %s "$CAP_FILE" 2>/dev/null || echo 0)
        [[ $size == "$last" ]] && break
        last=$size
    done
    # (background jobs of a script ignore SIGINT: TERM makes tcpdump flush and exit)
    kill -TERM "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    CAP_PID=
    local out=$WORK/log/tcpdump-$(basename "$CAP_FILE" .pcap).out
    local got seen
    got=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$out")
    seen=$(sed -n 's/^\([0-9]*\) packets received by filter.*/\1/p' "$out")
    [[ $got == "$seen" ]] || die "tcpdump wrote $got of the $seen packets it saw in $CAP_FILE"
}

# --------------------------------------------------------------- facts -----
# A journal of JSON lines per capture, folded into <name>.facts.json at the end.

facts_begin() {   # facts_begin PROTO NAME SERVER_IP PORT DAEMON_PKG CLIENT_PKGS DESCRIPTION
    F_PROTO=$1 F_NAME=$2 F_IP=$3 F_PORT=$4 F_DAEMON=$5 F_CLIENTS=$6 F_DESC=$7
    J=$WORK/facts/$F_NAME.jsonl
    : >"$J"
}

fact_login() {   # user password success(true|false) [extra-json]
    local x=${4:-}; [[ -n $x ]] || x='{}'
    jq -nc --arg user "$1" --arg password "$2" --argjson success "$3" --argjson x "$x" \
        '{k:"login",user:$user,password:$password,success:$success} + $x' >>"$J"
}

fact_cmd() {   # a JSON object: at least command and arg
    jq -c '{k:"command"} + .' <<<"$1" >>"$J"
}

fact_file() {   # name direction(download|upload) local-path
    jq -nc --arg name "$1" --arg direction "$2" --arg sha256 "$(sha256sum <"$3" | cut -d' ' -f1)" \
        --argjson size "$(stat -c %s "$3")" \
        '{k:"file",name:$name,direction:$direction,size:$size,sha256:$sha256}' >>"$J"
}

fact_request() {   # a JSON object
    jq -c '{k:"request"} + .' <<<"$1" >>"$J"
}

fact_brute() {   # tool users-file passwords-file hydra-output-file
    jq -nc --arg tool "$1" --rawfile users "$2" --rawfile pw "$3" --rawfile found "$4" '
        {k:"brute", tool:$tool,
         users:($users|split("\n")|map(select(length>0))),
         passwords:($pw|split("\n")|map(select(length>0))),
         found:[$found|split("\n")[]|capture("login: (?<user>\\S+)\\s+password: (?<password>\\S+)")]}' >>"$J"
}

fact_versions() {   # client server (either may be "")
    jq -nc --arg c "$1" --arg s "$2" \
        '{k:"versions",client:(if $c=="" then null else $c end),server:(if $s=="" then null else $s end)}' >>"$J"
}

fact_note() { jq -nc --arg n "$1" '{k:"note",note:$n}' >>"$J"; }

facts_end() {
    local clients_json="{}"
    for p in $F_CLIENTS; do
        clients_json=$(jq -c --arg p "$p" --arg v "$(pkg_version "$p")" '. + {($p):$v}' <<<"$clients_json")
    done
    jq -s --arg capture "$F_NAME.pcap" --arg protocol "$F_PROTO" --arg desc "$F_DESC" \
        --arg sip "$F_IP" --argjson port "$F_PORT" --arg cip "$([[ $F_IP == *:* ]] && echo $A6 || echo $A4)" \
        --arg dpkg "$F_DAEMON" --arg dver "$(pkg_version "$F_DAEMON" 2>/dev/null || echo stand-in)" \
        --argjson clients "$clients_json" --arg sha "$(sha256sum <"$CAP_FILE" | cut -d' ' -f1)" '
        def of(k): map(select(.k==k)|del(.k));
        {capture:$capture, capture_sha256:$sha, protocol:$protocol, description:$desc,
         server:{ip:$sip, port:$port}, client:{ip:$cip},
         daemon:{package:$dpkg, version:$dver}, clients:$clients,
         logins:of("login"), commands:of("command"), files:of("file"),
         requests:of("request"), versions:(of("versions")|first // null),
         brute_force:(of("brute")|first // null),
         notes:(of("note")|map(.note))}' "$J" >"$HERE/$F_PROTO/$F_NAME.facts.json"
    log "wrote $F_PROTO/$F_NAME.pcap ($(stat -c %s "$CAP_FILE") bytes) and its facts"
}

# The FTP command/reply sequence as vsftpd logged it (log_ftp_protocol=YES),
# PASS arguments filled in from the logins journal (vsftpd masks them).
ftp_commands_from_log() {
    $PY - "$WORK/log/vsftpd.log" "$J" <<'EOF'
import json, re, sys
log_path, journal = sys.argv[1], sys.argv[2]
entries = [json.loads(l) for l in open(journal)]
passwords = [e["password"] for e in entries if e["k"] == "login"]
pat = re.compile(r'\[pid \d+\](?: \[[^\]]*\])? FTP (command|response): Client "([^"]*)", "(.*)"$')
cmds = []
for line in open(log_path, errors="replace"):
    m = pat.search(line.rstrip("\n"))
    if not m:
        continue
    kind, client, text = m.groups()
    if kind == "command":
        verb, _, arg = text.partition(" ")
        verb = verb.upper()
        if verb == "PASS" and passwords:
            arg = passwords.pop(0)
        cmds.append({"k": "command", "command": verb, "arg": arg or None, "client": client, "replies": []})
    elif cmds:
        code = text[:3]
        if code.isdigit():
            cmds[-1]["replies"].append({"code": int(code), "text": text[4:]})
        else:
            # A continuation line of a multi-line reply (FEAT's " EPRT"):
            # vsftpd writes it raw and logs its CRLF as "??".
            cmds[-1]["replies"].append({"code": None, "text": text.removesuffix("??")})
with open(journal, "a") as out:
    for c in cmds:
        last = c["replies"][-1] if c["replies"] else {"code": None, "text": None}
        c["reply_code"], c["reply_msg"] = last["code"], last["text"]
        out.write(json.dumps(c) + "\n")
EOF
}

# ------------------------------------------------------------------ FTP ----

start_vsftpd() {   # extra -o options for IPv6
    mkdir -p /var/run/vsftpd/empty
    start_daemon vsftpd /usr/sbin/vsftpd "$(render vsftpd.conf)" "$@"
}

ftp_files() {
    local home=/home/$SSH_USER
    det_bytes ftp-report 49152 >"$home/report.bin"
    printf 'Quarterly numbers are in report.bin.\nDo not share.\n' >"$home/notes.txt"
    rm -f "$home/upload.bin" "$home/upload6.txt"
    chown "$SSH_USER:" "$home/report.bin" "$home/notes.txt"
    mkdir -p "$WORK/att/ftp"
    rm -f "$WORK/att/ftp/"*
    det_bytes ftp-upload 20000 >"$WORK/att/ftp/upload.bin"
    printf 'uploaded over IPv6 with lftp\n' >"$WORK/att/ftp/upload6.txt"
}

scenario_ftp() {
    ftp_files
    : >"$WORK/log/vsftpd.log"
    start_vsftpd
    wait_port $S4 21
    start_capture ftp ftp-session
    facts_begin ftp ftp-session $S4 21 vsftpd "ftp" \
        "tnftp (Debian ftp): failed then good login, PASV LIST/RETR/STOR, then active-mode PORT RETR and LIST"
    fact_login "$SSH_USER" wrongpass false
    fact_login "$SSH_USER" "$SSH_PASS" true
    (cd "$WORK/att/ftp" && att ftp -n -v $S4 <<EOF) >"$WORK/log/ftp-client.out" 2>&1
user $SSH_USER wrongpass
user $SSH_USER $SSH_PASS
epsv4 off
binary
pwd
ls
get report.bin
put upload.bin
passive off
get notes.txt
ls
bye
EOF
    stop_capture
    cmp -s "$WORK/att/ftp/report.bin" "/home/$SSH_USER/report.bin" || die "ftp RETR report.bin failed"
    cmp -s "$WORK/att/ftp/upload.bin" "/home/$SSH_USER/upload.bin" || die "ftp STOR upload.bin failed"
    cmp -s "$WORK/att/ftp/notes.txt" "/home/$SSH_USER/notes.txt" || die "ftp active RETR notes.txt failed"
    fact_file report.bin download "$WORK/att/ftp/report.bin"
    fact_file upload.bin upload "$WORK/att/ftp/upload.bin"
    fact_file notes.txt download "$WORK/att/ftp/notes.txt"
    fact_note "report.bin and the first LIST go over PASV; notes.txt and the second LIST over PORT (server connects from port 20)"
    ftp_commands_from_log
    facts_end
    stop_daemons

    # The same daemon over IPv6: lftp uses EPSV there.
    ftp_files
    rm -f "$WORK/att/ftp/notes.txt"
    : >"$WORK/log/vsftpd.log"
    start_vsftpd -olisten=NO -olisten_ipv6=YES
    wait_port $S6 21
    start_capture ftp ftp-ipv6-epsv
    facts_begin ftp ftp-ipv6-epsv $S6 21 vsftpd "lftp" \
        "lftp over IPv6: login, EPSV LIST, RETR notes.txt, STOR upload6.txt"
    fact_login "$SSH_USER" "$SSH_PASS" true
    (cd "$WORK/att/ftp" && att lftp -e "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; ls; get notes.txt; put upload6.txt; bye" \
        -u "$SSH_USER,$SSH_PASS" "ftp://[$S6]") >"$WORK/log/lftp-client.out" 2>&1
    stop_capture
    cmp -s "$WORK/att/ftp/notes.txt" "/home/$SSH_USER/notes.txt" || die "lftp RETR failed"
    cmp -s "$WORK/att/ftp/upload6.txt" "/home/$SSH_USER/upload6.txt" || die "lftp STOR failed"
    fact_file notes.txt download "$WORK/att/ftp/notes.txt"
    fact_file upload6.txt upload "$WORK/att/ftp/upload6.txt"
    ftp_commands_from_log
    facts_end
    stop_daemons
}

wordlists() {   # wordlists USERS... -- PASSWORDS...
    local f=$WORK/att/users.txt
    : >"$f"; : >"$WORK/att/passwords.txt"
    for w in "$@"; do
        if [[ $w == -- ]]; then f=$WORK/att/passwords.txt; continue; fi
        echo "$w" >>"$f"
    done
}

run_hydra() {   # run_hydra NAME TARGET-URL
    rm -f "$WORK/att/hydra-$1.txt" ./hydra.restore
    (cd "$WORK/att" && att timeout 120 hydra -I -t 2 -L users.txt -P passwords.txt \
        -o "hydra-$1.txt" "$2") >"$WORK/log/hydra-$1.out" 2>&1 || true
    touch "$WORK/att/hydra-$1.txt"
}

scenario_ftp_hydra() {
    ftp_files
    start_vsftpd
    wait_port $S4 21
    wordlists root admin "$SSH_USER" -- admin password "$SSH_PASS" qwerty
    start_capture ftp ftp-hydra
    facts_begin ftp ftp-hydra $S4 21 vsftpd "hydra" \
        "hydra -t 2 brute force of FTP: 3 users x 4 passwords, one valid pair"
    run_hydra ftp "ftp://$S4"
    stop_capture
    fact_brute hydra "$WORK/att/users.txt" "$WORK/att/passwords.txt" "$WORK/att/hydra-ftp.txt"
    fact_note "attempt order depends on hydra's two tasks: compare the set of USER/PASS pairs, not their order; hydra stops trying a user once its password is found"
    facts_end
    stop_daemons
}

# ------------------------------------------------------------------ SSH ----

ssh_keys() {
    [[ -f $WORK/ssh/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/ssh_host_ed25519_key"
    [[ -f $WORK/ssh/ssh_host_ecdsa_key ]] || ssh-keygen -q -t ecdsa -N '' -f "$WORK/ssh/ssh_host_ecdsa_key"
    mkdir -p /run/sshd
}

SSH_OPTS=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o PreferredAuthentications=password -o PubkeyAuthentication=no
    -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 -o LogLevel=ERROR)

ssh_session() {   # port password command
    att sshpass -p "$2" ssh "${SSH_OPTS[@]}" -p "$1" "$SSH_USER@$S4" "$3"
}

scenario_ssh() {
    ssh_keys
    local conf; conf=$(render sshd_config)
    local port name
    for port in 22 80; do
        name=ssh-session; [[ $port == 80 ]] && name=ssh-port80
        start_daemon sshd /usr/sbin/sshd -D -e -f "$conf" -p $port
        wait_port $S4 $port
        start_capture ssh $name
        facts_begin ssh $name $S4 $port openssh-server "openssh-client sshpass" \
            "OpenSSH client via sshpass on port $port: a failed password login, then a good one that runs a command"
        if ssh_session $port wrongpass true >>"$WORK/log/ssh-client.out" 2>&1; then die "bad ssh password accepted"; fi
        fact_login "$SSH_USER" wrongpass false
        ssh_session $port "$SSH_PASS" 'id; uname -s; ls -la' >>"$WORK/log/ssh-client.out" 2>&1 || die "ssh login failed"
        fact_login "$SSH_USER" "$SSH_PASS" true
        fact_cmd '{"command":"exec","arg":"id; uname -s; ls -la"}'
        local banner; banner="SSH-2.0-$(ssh -V 2>&1 | cut -d, -f1)"
        fact_versions "$banner" "$banner"
        fact_note "commands and passwords travel encrypted: a dissector sees versions, KEXINIT and algorithms only; logins are here for cross-checks with sshd's log"
        stop_capture
        facts_end
        stop_daemons
    done
}

scenario_ssh_hydra() {
    ssh_keys
    start_daemon sshd /usr/sbin/sshd -D -e -f "$(render sshd_config)"
    wait_port $S4 22
    wordlists root admin "$SSH_USER" -- admin password "$SSH_PASS" qwerty
    start_capture ssh ssh-hydra
    facts_begin ssh ssh-hydra $S4 22 openssh-server "hydra" \
        "hydra -t 2 brute force of SSH: 3 users x 4 passwords, one valid pair"
    run_hydra ssh "ssh://$S4"
    stop_capture
    fact_brute hydra "$WORK/att/users.txt" "$WORK/att/passwords.txt" "$WORK/att/hydra-ssh.txt"
    fact_note "every hydra connection is a separate SSH handshake with libssh's client version"
    facts_end
    stop_daemons
}

# ---------------------------------------------------------------- rsync ----

scenario_rsync() {
    rm -rf "$WORK/rsync" "$WORK/att/rsync-pull" "$WORK/att/rsync-push"
    mkdir -p "$WORK/rsync/pub/docs" "$WORK/rsync/backup" "$WORK/att/rsync-pull" "$WORK/att/rsync-push"
    printf 'Kyoka test mirror. Nothing to see here.\n' >"$WORK/rsync/pub/README.txt"
    det_bytes rsync-pub 30000 >"$WORK/rsync/pub/docs/data.bin"
    printf -- '-- nightly dump\nCREATE TABLE t (id int);\n' >"$WORK/att/rsync-push/dump.sql"
    touch -d '2026-01-01 00:00:00' "$WORK/rsync/pub/README.txt" "$WORK/rsync/pub/docs/data.bin" "$WORK/att/rsync-push/dump.sql"
    cp "$CONF/rsyncd.secrets" "$WORK/run/rsyncd.secrets"; chmod 600 "$WORK/run/rsyncd.secrets"
    cp "$CONF/rsyncd.motd" "$WORK/run/rsyncd.motd"
    start_daemon rsyncd rsync --daemon --no-detach --config="$(render rsyncd.conf)"
    wait_port $S4 873
    start_capture rsync rsync-daemon
    facts_begin rsync rsync-daemon $S4 873 rsync "rsync" \
        "rsync client against the rsync daemon: module list, anonymous pull of [pub], authenticated push to [backup], a push with a wrong password"
    att rsync "rsync://$S4/" >"$WORK/log/rsync-list.out" 2>&1 || die "rsync list failed"
    fact_cmd '{"command":"list","arg":null,"module":null,"user":null,"success":true}'
    att rsync -a "rsync://$S4/pub/" "$WORK/att/rsync-pull/" >"$WORK/log/rsync-pull.out" 2>&1 || die "rsync pull failed"
    fact_cmd '{"command":"pull","arg":"pub/","module":"pub","user":null,"success":true}'
    att env RSYNC_PASSWORD=backup2024 rsync -a "$WORK/att/rsync-push/" "rsync://backup@$S4/backup/" \
        >"$WORK/log/rsync-push.out" 2>&1 || die "rsync push failed"
    fact_login backup backup2024 true '{"module":"backup"}'
    fact_cmd '{"command":"push","arg":"backup/","module":"backup","user":"backup","success":true}'
    if att env RSYNC_PASSWORD=letmein rsync -a "$WORK/att/rsync-push/" "rsync://backup@$S4/backup/" \
        >"$WORK/log/rsync-badauth.out" 2>&1; then die "rsync accepted a bad password"; fi
    fact_login backup letmein false '{"module":"backup"}'
    fact_cmd '{"command":"push","arg":"backup/","module":"backup","user":"backup","success":false}'
    stop_capture
    fact_file README.txt download "$WORK/att/rsync-pull/README.txt"
    fact_file docs/data.bin download "$WORK/att/rsync-pull/docs/data.bin"
    fact_file dump.sql upload "$WORK/rsync/backup/dump.sql"
    local proto; proto=$(rsync --version | sed -n '1s/.*protocol version \([0-9]*\).*/\1/p')
    fact_versions "$proto.0" "$proto.0"
    fact_note "client and daemon greet with '@RSYNCD: $proto.0' followed by their auth digest list"
    fact_note "four TCP connections in this order: list, pull, push (auth ok), push (auth failed, @ERROR: auth failed on module backup)"
    facts_end
    stop_daemons
}

# ---------------------------------------------------------------- MySQL ----

start_mariadb() {
    local cnf; cnf=$(render my.cnf)
    rm -rf "$WORK/mysql" "$WORK/mysql-out"; mkdir -p "$WORK/mysql-out"
    mariadb-install-db --defaults-file="$cnf" --skip-test-db --auth-root-authentication-method=normal \
        >"$WORK/log/mariadb-install.out" 2>&1 || die "mariadb-install-db failed"
    # The stock datadir only allows root@localhost: add users with --bootstrap.
    mariadbd --defaults-file="$cnf" --bootstrap <"$CONF/mysql-bootstrap.sql" \
        >"$WORK/log/mariadb-bootstrap.out" 2>&1 || die "mariadbd --bootstrap failed"
    start_daemon mariadbd mariadbd --defaults-file="$cnf"
    wait_port $S4 3306
}

# The query / init_db / quit sequence in the facts must be what MariaDB's
# general log saw (it does not log COM_PING).
mysql_check_against_general_log() {
    $PY - "$WORK/log/mysql-general.log" "$J" <<'EOF' || die "mysql facts differ from the general log"
import json, re, sys
names = {"Query": "query", "Init DB": "init_db", "Quit": "quit"}
logged, current = [], None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^(?:\d{6} [\d:]+)?\s+\d+ (Connect|Query|Init DB|Quit|Ping)\t?(.*)$", line.rstrip("\n"))
    if m:
        current = [names.get(m.group(1)), m.group(2) or None]
        if current[0]:
            logged.append(current)
    elif current and current[0] == "query":
        current[1] += "\n" + line.rstrip("\n")   # a query spanning lines
facts = [[e["command"], e["arg"]] for e in map(json.loads, open(sys.argv[2]))
         if e["k"] == "command" and e["command"] in ("query", "init_db", "quit")]
if logged != facts:
    print("general log:", json.dumps(logged, indent=0), "\nfacts:", json.dumps(facts, indent=0), file=sys.stderr)
    sys.exit(1)
EOF
}

MYSQL=(mysql --no-defaults -h $S4 -P 3306 --skip-ssl --connect-timeout=10)

scenario_mysql() {
    start_mariadb
    start_capture mysql mysql-session
    facts_begin mysql mysql-session $S4 3306 mariadb-server "mariadb-client" \
        "mysql client: failed login, a session with queries (rows, an error, USE, LOAD_FILE, INTO OUTFILE), a login with a database, mysqladmin ping"
    if att "${MYSQL[@]}" -u dbadmin -pwrongpass -e 'SELECT 1' >>"$WORK/log/mysql-client.out" 2>&1; then
        die "bad mysql password accepted"
    fi
    fact_login dbadmin wrongpass false "{\"database\":null,\"error_code\":1045,\"error\":\"Access denied for user 'dbadmin'@'$A4' (using password: YES)\"}"
    local sql="SELECT VERSION();
SHOW DATABASES;
USE shop;
SELECT id, name, email FROM customers;
SELECT * FROM no_such_table;
INSERT INTO customers VALUES (4,'Mallory','mallory@example.net');
SELECT LOAD_FILE('/etc/passwd');
SELECT name, email FROM customers INTO OUTFILE '$WORK/mysql-out/customers.txt';"
    # From stdin, not -e: with -e the client stops at the first error despite --force.
    att "${MYSQL[@]}" -u dbadmin -padmin123 --force <<<"$sql" >>"$WORK/log/mysql-client.out" 2>&1 || true
    [[ -s $WORK/mysql-out/customers.txt ]] || die "INTO OUTFILE wrote nothing"
    fact_login dbadmin admin123 true '{"database":null}'
    fact_cmd '{"command":"query","arg":"SELECT VERSION()","success":true,"rows":1}'
    fact_cmd '{"command":"query","arg":"SHOW DATABASES","success":true,"rows":5}'
    # The client's `use` asks SELECT DATABASE() before COM_INIT_DB.
    fact_cmd '{"command":"query","arg":"SELECT DATABASE()","success":true,"rows":1}'
    fact_cmd '{"command":"init_db","arg":"shop","success":true,"rows":null}'
    fact_cmd '{"command":"query","arg":"SELECT id, name, email FROM customers","success":true,"rows":3}'
    fact_cmd '{"command":"query","arg":"SELECT * FROM no_such_table","success":false,"rows":null,"error_code":1146,"error":"Table '"'"'shop.no_such_table'"'"' doesn'"'"'t exist"}'
    fact_cmd "$(jq -nc --arg a "INSERT INTO customers VALUES (4,'Mallory','mallory@example.net')" '{command:"query",arg:$a,success:true,rows:null,affected_rows:1}')"
    fact_cmd "$(jq -nc --arg a "SELECT LOAD_FILE('/etc/passwd')" '{command:"query",arg:$a,success:true,rows:1}')"
    fact_cmd "$(jq -nc --arg a "SELECT name, email FROM customers INTO OUTFILE '$WORK/mysql-out/customers.txt'" '{command:"query",arg:$a,success:true,rows:null,affected_rows:4}')"
    fact_cmd '{"command":"quit","arg":null,"success":true,"rows":null}'
    att "${MYSQL[@]}" -u dbadmin -padmin123 -D shop -e 'SELECT COUNT(*) FROM customers' >>"$WORK/log/mysql-client.out" 2>&1 \
        || die "mysql login with database failed"
    fact_login dbadmin admin123 true '{"database":"shop"}'
    fact_cmd '{"command":"query","arg":"SELECT COUNT(*) FROM customers","success":true,"rows":1}'
    fact_cmd '{"command":"quit","arg":null,"success":true,"rows":null}'
    att mysqladmin --no-defaults -h $S4 --skip-ssl -u dbadmin -padmin123 ping >>"$WORK/log/mysql-client.out" 2>&1 \
        || die "mysqladmin ping failed"
    fact_login dbadmin admin123 true '{"database":null}'
    fact_cmd '{"command":"ping","arg":null,"success":true,"rows":null}'
    fact_cmd '{"command":"quit","arg":null,"success":true,"rows":null}'
    stop_capture
    fact_versions "" "5.5.5-$(grep -m1 -- '-MariaDB-' "$WORK/log/mysql-client.out")"
    fact_note "four connections: failed login; session (commands 1-9); login with database shop (10-11); mysqladmin ping (12-13)"
    mysql_check_against_general_log
    facts_end
    stop_daemons
}

scenario_mysql_hydra() {
    start_mariadb
    wordlists root admin dbadmin -- root admin admin123 password
    start_capture mysql mysql-hydra
    facts_begin mysql mysql-hydra $S4 3306 mariadb-server "hydra" \
        "hydra -t 2 brute force of MariaDB: 3 users x 4 passwords, one valid pair"
    run_hydra mysql "mysql://$S4"
    stop_capture
    fact_brute hydra "$WORK/att/users.txt" "$WORK/att/passwords.txt" "$WORK/att/hydra-mysql.txt"
    facts_end
    stop_daemons
}

# ---------------------------------------------------------------- Redis ----

resp() {   # resp ARG... -> one RESP array
    printf '*%d\r\n' $#
    for a in "$@"; do printf '$%d\r\n%s\r\n' "${#a}" "$a"; done
}

redis_fact() {   # success reply-kind ARGS...
    local ok=$1 reply=$2; shift 2
    jq -nc --argjson success "$ok" --arg reply "$reply" --args \
        '{command:($ARGS.positional[0]|ascii_upcase), arg:($ARGS.positional[1:]|join(" ")),
          name:($ARGS.positional[0]|ascii_upcase), args:$ARGS.positional[1:], reply:$reply, success:$success}' \
        "$@" | jq -c '{k:"command"} + .' >>"$J"
}

scenario_redis() {
    rm -rf "$WORK/redis" "$WORK/redis-evil"; mkdir -p "$WORK/redis" "$WORK/redis-evil"
    start_daemon redis redis-server "$(render redis.conf)"
    wait_port $S4 6379
    local R=(redis-cli -h $S4 -p 6379)
    start_capture redis redis-session
    facts_begin redis redis-session $S4 6379 redis-server "redis-tools python3" \
        "redis-cli and a raw socket: NOAUTH, failed and good AUTH, SET/GET/lists, --pipe, inline pipelining, CONFIG SET dir, RESP3 HELLO 3"
    # 1. no AUTH
    att "${R[@]}" PING >>"$WORK/log/redis-client.out" 2>&1 || true
    redis_fact false "-NOAUTH Authentication required." PING
    # 2. wrong password
    att "${R[@]}" AUTH wrongpass >>"$WORK/log/redis-client.out" 2>&1 || true
    fact_login default wrongpass false
    redis_fact false "-WRONGPASS invalid username-password pair or user is disabled." AUTH wrongpass
    # 3. a session of commands read from stdin, one by one. redis-cli's REPL
    # first asks COMMAND DOCS (then COMMAND) for its hints: NOAUTH before AUTH,
    # which also keeps the capture small (the docs reply is ~170 kB).
    printf 'AUTH foobared\nSET greeting hello\nGET greeting\nRPUSH queue a b c\nLRANGE queue 0 -1\nDEL greeting\nGET greeting\nKEYS *\n' \
        | att "${R[@]}" >>"$WORK/log/redis-client.out" 2>&1
    redis_fact false "-NOAUTH Authentication required." COMMAND DOCS
    redis_fact false "-NOAUTH Authentication required." COMMAND
    fact_login default foobared true
    redis_fact true "+OK" AUTH foobared
    redis_fact true "+OK" SET greeting hello
    redis_fact true "hello" GET greeting
    redis_fact true ":3" RPUSH queue a b c
    redis_fact true "[a,b,c]" LRANGE queue 0 -1
    redis_fact true ":1" DEL greeting
    redis_fact true "(nil)" GET greeting
    redis_fact true "[queue]" KEYS '*'
    # 4. redis-cli --pipe (mass insertion); it appends an ECHO of 20 random bytes
    { resp AUTH foobared; resp SET k1 v1; resp SET k2 v2; resp INCR counter; resp INCR counter; } \
        | att "${R[@]}" --pipe >>"$WORK/log/redis-client.out" 2>&1
    fact_login default foobared true
    redis_fact true "+OK" AUTH foobared
    redis_fact true "+OK" SET k1 v1
    redis_fact true "+OK" SET k2 v2
    redis_fact true ":1" INCR counter
    redis_fact true ":2" INCR counter
    fact_cmd '{"command":"ECHO","arg":"(20 random bytes added by redis-cli --pipe)","name":"ECHO","args":null,"reply":"(the same bytes)","success":true}'
    # 5. inline commands, pipelined in one write, with an ACL user
    att $PY - $S4 <<'EOF' >>"$WORK/log/redis-client.out" 2>&1
import socket, sys, time
s = socket.create_connection((sys.argv[1], 6379), timeout=5)
s.sendall(b"AUTH alice alicepass\r\nPING\r\nGET k1\r\nEXISTS k1 k2 nokey\r\nQUIT\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data)
EOF
    fact_login alice alicepass true
    redis_fact true "+OK" AUTH alice alicepass
    redis_fact true "+PONG" PING
    redis_fact true "v1" GET k1
    redis_fact true ":2" EXISTS k1 k2 nokey
    redis_fact true "+OK" QUIT
    # 6. the classic write-a-file attack: CONFIG SET dir/dbfilename, SAVE
    printf 'AUTH foobared\nCONFIG SET dir %s\nCONFIG SET dbfilename evil.rdb\nSET payload "*/1 * * * * touch /tmp/pwned"\nSAVE\nCONFIG GET dir\n' "$WORK/redis-evil" \
        | att "${R[@]}" >>"$WORK/log/redis-client.out" 2>&1
    [[ -s $WORK/redis-evil/evil.rdb ]] || die "redis SAVE to the new dir failed"
    redis_fact false "-NOAUTH Authentication required." COMMAND DOCS
    redis_fact false "-NOAUTH Authentication required." COMMAND
    fact_login default foobared true
    redis_fact true "+OK" AUTH foobared
    redis_fact true "+OK" CONFIG SET dir "$WORK/redis-evil"
    redis_fact true "+OK" CONFIG SET dbfilename evil.rdb
    redis_fact true "+OK" SET payload "*/1 * * * * touch /tmp/pwned"
    redis_fact true "+OK" SAVE
    redis_fact true "[dir,$WORK/redis-evil]" CONFIG GET dir
    # 7. RESP3: HELLO 3 with AUTH from a raw socket, then redis-cli -3 (which
    # sends AUTH, then HELLO 3) for a map and a set reply, one command each.
    att $PY - $S4 <<'EOF' >>"$WORK/log/redis-client.out" 2>&1
import socket, sys
def resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
s = socket.create_connection((sys.argv[1], 6379), timeout=5)
s.sendall(resp(b"HELLO", b"3", b"AUTH", b"alice", b"alicepass") + resp(b"HSET", b"user:1", b"name", b"alice", b"role", b"admin")
          + resp(b"SADD", b"tags", b"red", b"blue") + resp(b"QUIT"))
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data)
EOF
    fact_login alice alicepass true '{"via":"HELLO"}'
    redis_fact true "%7 (server map)" HELLO 3 AUTH alice alicepass
    redis_fact true ":2" HSET user:1 name alice role admin
    redis_fact true ":2" SADD tags red blue
    redis_fact true "+OK" QUIT
    att "${R[@]}" -3 --user alice --pass alicepass --no-auth-warning HGETALL user:1 >>"$WORK/log/redis-client.out" 2>&1
    fact_login alice alicepass true
    redis_fact true "+OK" AUTH alice alicepass
    redis_fact true "%7 (server map)" HELLO 3
    redis_fact true "%2 {name:alice,role:admin}" HGETALL user:1
    att "${R[@]}" -3 --user alice --pass alicepass --no-auth-warning SMEMBERS tags >>"$WORK/log/redis-client.out" 2>&1
    fact_login alice alicepass true
    redis_fact true "+OK" AUTH alice alicepass
    redis_fact true "%7 (server map)" HELLO 3
    redis_fact true "~2 {red,blue} (any order)" SMEMBERS tags
    stop_capture
    fact_versions "" "$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')"
    fact_note "nine connections, in the order of the commands; reply shows the value or a summary ([..] array, %N map, ~N set, (nil) null)"
    facts_end
    stop_daemons
}

# ----------------------------------------------------------------- HTTP ----

scenario_http() {
    rm -rf "$WORK/www" "$WORK/nginx"; mkdir -p "$WORK/www/admin" "$WORK/www/files" "$WORK/nginx" "$WORK/att/http"
    cat >"$WORK/www/index.html" <<'EOF'
<!doctype html>
<html><head><title>Kyoka Shop</title></head>
<body><h1>Kyoka Shop</h1><p>Welcome. <a href="/files/catalogue.txt">Catalogue</a></p></body></html>
EOF
    printf 'User-agent: *\nDisallow: /admin/\n' >"$WORK/www/robots.txt"
    printf '<html><body>admin panel</body></html>\n' >"$WORK/www/admin/index.html"
    for i in $(seq 1 400); do printf 'item %04d  widget model %d  price %d.99 EUR\n' "$i" $((i * 7 % 97)) $((i % 50)); done \
        >"$WORK/www/files/catalogue.txt"
    cp "$CONF/htpasswd" "$WORK/run/htpasswd"
    det_bytes http-upload 12000 >"$WORK/att/http/shell.php.bin"
    det_bytes http-chunked 5000 >"$WORK/att/http/chunked.bin"
    start_daemon nginx nginx -c "$(render nginx.conf)"
    wait_port $S4 80
    start_capture http http-session
    facts_begin http http-session $S4 80 nginx "curl python3" \
        "curl against nginx: GET, HEAD, gzip'd chunked response, 404, SQL-injection-looking query, multipart upload, chunked request body, basic auth failed and ok, then three pipelined requests on one connection"
    local H=www.kyoka.test
    local C=(curl -sS --resolve "$H:80:$S4" -o /dev/null -w '%{http_code} %{size_download} %{size_upload}\n')
    http_req() {   # method uri user expected-status ua body-sha curl-args...
        local method=$1 uri=$2 user=$3 want=$4 ua=$5; shift 5
        local out; out=$(att "${C[@]}" -A "$ua" "$@" "http://$H$uri")
        read -r code down up <<<"$out"
        LAST_DOWN=$down
        [[ $code == "$want" ]] || die "HTTP $method $uri gave $code, wanted $want"
        fact_request "$(jq -nc --arg m "$method" --arg u "$uri" --arg h "$H" --arg ua "$ua" --arg user "$user" \
            --argjson s "$code" --argjson down "${RESP_LEN:-$down}" --argjson up "${BODY_LEN:-$up}" \
            '{method:$m,host:$h,uri:$u,status_code:$s,user_agent:$ua,username:(if $user=="" then null else $user end),
              request_body_len:$up,response_body_len:$down}')"
    }
    local UA="curl/$(curl --version | awk 'NR==1{print $2}')"
    http_req GET / "" 200 "$UA"
    http_req HEAD / "" 200 "$UA" -I
    RESP_LEN=$(stat -c %s "$WORK/www/files/catalogue.txt") http_req GET /files/catalogue.txt "" 200 "$UA" --compressed
    GZ_LEN=$LAST_DOWN
    http_req GET /missing.php "" 404 "$UA"
    http_req GET "/index.html?id=1%27%20OR%201=1--" "" 200 "sqlmap/1.7.2#stable (https://sqlmap.org)"
    http_req POST /upload "" 201 "$UA" -F "file=@$WORK/att/http/shell.php.bin;filename=shell.php" -F note=hello
    BODY_LEN=5000 http_req POST /upload "" 201 "$UA" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' \
        --data-binary "@$WORK/att/http/chunked.bin"
    fact_note "body lengths are of the decoded entity (Zeek's meaning): the chunked POST sends 5000 bytes in 5013 bytes of chunk framing"
    http_req GET /admin/ admin 401 "$UA" -u admin:wrongpass
    http_req GET /admin/ admin 200 "$UA" -u admin:s3cret
    fact_file shell.php upload "$WORK/att/http/shell.php.bin"
    fact_file chunked.bin upload "$WORK/att/http/chunked.bin"
    # Three pipelined requests in one write on one connection.
    att $PY - $S4 $H <<'EOF' >"$WORK/log/http-pipeline.out" 2>&1
import socket, sys
host, name = sys.argv[1], sys.argv[2]
ua = "kyoka-pipeline/1.0"
reqs = (f"GET /robots.txt HTTP/1.1\r\nHost: {name}\r\nUser-Agent: {ua}\r\n\r\n"
        f"HEAD /index.html HTTP/1.1\r\nHost: {name}\r\nUser-Agent: {ua}\r\n\r\n"
        f"GET /nothing-here HTTP/1.1\r\nHost: {name}\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n")
s = socket.create_connection((host, 80), timeout=5)
s.sendall(reqs.encode())
data = b""
while chunk := s.recv(65536):
    data += chunk
# One line per response: status and body length (HEAD has none).
pos = 0
for method in ["GET", "HEAD", "GET"]:
    end = data.index(b"\r\n\r\n", pos)
    head = data[pos:end].decode()
    status = int(head.split()[1])
    length = int(next(l.split(":")[1] for l in head.split("\r\n") if l.lower().startswith("content-length:")))
    body = 0 if method == "HEAD" else length
    print("RESPONSE", status, body)
    pos = end + 4 + body
EOF
    local n; n=$(grep -c '^RESPONSE ' "$WORK/log/http-pipeline.out")
    [[ $n == 3 ]] || die "pipelined requests got $n responses"
    local lens; mapfile -t lens < <(awk '/^RESPONSE /{print $3" "$2}' "$WORK/log/http-pipeline.out")
    for r in "GET /robots.txt ${lens[0]}" "HEAD /index.html ${lens[1]}" "GET /nothing-here ${lens[2]}"; do
        read -r m u len s <<<"$r"
        fact_request "$(jq -nc --arg m "$m" --arg u "$u" --arg h "$H" --argjson s "$s" --argjson len "$len" \
            '{method:$m,host:$h,uri:$u,status_code:$s,user_agent:"kyoka-pipeline/1.0",username:null,request_body_len:0,response_body_len:$len}')"
    done
    stop_capture
    fact_versions "$UA" "$(nginx -v 2>&1 | sed 's/.*: //')"
    fact_note "/files/catalogue.txt comes gzip'd (Content-Encoding: gzip) and chunked: $GZ_LEN gzip bytes on the wire; response_body_len is the uncompressed size, other lengths are what curl received; the 404 body is nginx's stock page"
    facts_end
    stop_daemons
}

# ---------------------------------------------------------------- Mongo ----

scenario_mongo() {
    local journal=$WORK/log/mongo-journal.jsonl
    : >"$journal"
    start_daemon mongo-standin $PY "$HERE/mongo_standin.py" --host 0.0.0.0 --port 3717 --journal "$journal"
    wait_port $S4 3717
    : >"$journal"   # forget wait_port's probe (it sent nothing, but keep it clean)
    start_capture mongo mongo-pymongo
    facts_begin mongo mongo-pymongo $S4 3717 mongo_standin.py "python3-pymongo" \
        "pymongo against captures/mongo_standin.py (a stand-in: no MongoDB in Debian): failed SCRAM-SHA-256 login, good login, ping, buildInfo, listDatabases, insert_one and insert_many (pymongo 3.11 sends both as a kind-0 body plus a kind-1 documents sequence), find"
    att $PY "$HERE/mongo_client.py" $S4 3717 >"$WORK/log/mongo-client.out" 2>&1 || die "pymongo client failed"
    grep -q 'bad-login: failed as expected' "$WORK/log/mongo-client.out" || die "mongo bad login not refused"
    stop_capture
    fact_login mongoadmin wrongpass false '{"mechanism":"SCRAM-SHA-256","database":"admin"}'
    fact_login mongoadmin mongo123 true '{"mechanism":"SCRAM-SHA-256","database":"admin"}'
    # The commands the stand-in received, in order, as journalled by it.
    jq -c '{k:"command", arg:.collection} + .' "$journal" >>"$J"
    fact_note "daemon is the stand-in (server replies synthetic); client bytes are pymongo $(pkg_version python3-pymongo). pymongo 3.11 handshakes with OP_QUERY isMaster on admin.\$cmd (answered by OP_REPLY), then uses OP_MSG; its monitor connection sends isMaster too; client_port tells connections apart"
    facts_end
    stop_daemons
}

# ----------------------------------------------------------------- main ----

ALL=(ftp ftp-hydra ssh ssh-hydra rsync mysql mysql-hydra redis http mongo)

main() {
    [[ $(id -u) == 0 ]] || die "run as root: sudo bash captures/record.sh"
    local todo=("$@")
    ((${#todo[@]})) && [[ ${todo[0]} != all ]] || todo=("${ALL[@]}")
    install_packages
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    prepare_work
    make_namespaces
    for s in "${todo[@]}"; do
        declare -F "scenario_${s//-/_}" >/dev/null || die "unknown scenario $s (known: ${ALL[*]})"
        log "scenario $s"
        "scenario_${s//-/_}"
    done
    log "done"
}

main "$@"
