//! What each sandbox service needs from Docker: its port, the capabilities
//! its daemon cannot run without (everything else is dropped), whether its
//! root can be read-only, and where it needs scratch space.

#[derive(Debug)]
pub struct ServiceSpec {
    pub name: &'static str,
    pub port: u16,
    pub cap_add: &'static [&'static str],
    /// Read-only root: the daemon writes nothing an attacker leaves behind.
    /// Writable for ssh, ftp, mysql and redis: what attackers write there
    /// is the evidence.
    pub read_only: bool,
    pub tmpfs: &'static [&'static str],
    /// Cold start order (lower first): the daemons slowest to answer
    /// (MariaDB, sshd making host keys) are started first.
    pub start_rank: u8,
}

pub const SPECS: &[ServiceSpec] = &[
    ServiceSpec {
        name: "ftp",
        port: 21,
        // vsftpd: privilege separation (setuid, chroot), port 21, file ownership.
        cap_add: &["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"],
        read_only: false,
        tmpfs: &[],
        start_rank: 2,
    },
    ServiceSpec {
        name: "ssh",
        port: 22,
        // sshd: privilege separation (setuid, chroot), port 22, ptys.
        cap_add: &["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"],
        read_only: false,
        tmpfs: &[],
        start_rank: 1,
    },
    ServiceSpec {
        name: "http",
        port: 80,
        // nginx: port 80, workers as www-data, temp dirs chowned to them.
        cap_add: &["NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN"],
        read_only: true,
        tmpfs: &["/run", "/tmp", "/var/lib/nginx", "/var/log/nginx"],
        start_rank: 2,
    },
    ServiceSpec {
        name: "rsync",
        port: 873,
        // rsyncd: port 873, then uid nobody.
        cap_add: &["NET_BIND_SERVICE", "SETUID", "SETGID"],
        read_only: true,
        tmpfs: &["/run", "/tmp"],
        start_rank: 2,
    },
    // The rest run as their own unprivileged user on high ports: no capabilities.
    ServiceSpec { name: "mysql", port: 3306, cap_add: &[], read_only: false, tmpfs: &[], start_rank: 0 },
    ServiceSpec { name: "redis", port: 6379, cap_add: &[], read_only: false, tmpfs: &[], start_rank: 2 },
    ServiceSpec { name: "mongo", port: 27017, cap_add: &[], read_only: true, tmpfs: &["/tmp"], start_rank: 2 },
];

pub fn spec(name: &str) -> Option<&'static ServiceSpec> {
    SPECS.iter().find(|s| s.name == name)
}
