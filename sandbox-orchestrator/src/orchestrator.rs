//! Creating, finding, assigning, freezing and destroying sandboxes through
//! the Docker API. Every call reads the truth back from Docker (labels), so
//! the CLI and the service agree and a restart adopts what runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerSummaryStateEnum, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};
use bollard::Docker;
use futures_util::future::join_all;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::labels;
use crate::sandbox::{Assignment, SandboxInfo, State};
use crate::services;

pub struct Orchestrator {
    pub docker: Docker,
    pub config: Config,
}

fn label_filter(instance: &str, extra: Option<(&str, &str)>) -> HashMap<String, Vec<String>> {
    let mut values = vec![labels::SANDBOX.to_string(), format!("{}={instance}", labels::INSTANCE)];
    if let Some((k, v)) = extra {
        values.push(format!("{k}={v}"));
    }
    HashMap::from([("label".to_string(), values)])
}

/// A network made ahead (see `spare_networks`), with the container that
/// holds its address if that still runs.
#[derive(Clone, Debug)]
struct Spare {
    id: String,
    subnet: Ipv4Addr,
    netns: Option<String>,
}

fn random_id() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    format!("sb-{}", hex::encode(b))
}

impl Orchestrator {
    /// Connects to the local engine, agrees on an API version and checks
    /// that every sandbox image is there.
    pub async fn connect(config: Config) -> Result<Orchestrator> {
        config.check()?;
        let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
        docker.ping().await?;
        let o = Orchestrator { docker, config };
        for image in o.config.services.iter().map(|s| o.image(s)).chain([o.netns_image()]) {
            if o.docker.inspect_image(&image).await.is_err() {
                return Err(Error::MissingImage { image });
            }
        }
        Ok(o)
    }

    fn image(&self, service: &str) -> String {
        format!("{}{}:latest", self.config.image_prefix, service)
    }

    /// The netns container runs `sleep` from the images' common base.
    fn netns_image(&self) -> String {
        self.image("base")
    }

    /// Every sandbox Docker knows of, complete or not.
    pub async fn sandboxes(&self) -> Result<Vec<SandboxInfo>> {
        Ok(self.inventory().await?.0)
    }

    /// Spare networks (id, subnet): made ahead with their netns container,
    /// no service in them yet.
    pub async fn spare_networks(&self) -> Result<Vec<(String, Ipv4Addr)>> {
        Ok(self.inventory().await?.1.into_iter().map(|s| (s.id, s.subnet)).collect())
    }

    /// The sandboxes, and the spare networks apart from them.
    async fn inventory(&self) -> Result<(Vec<SandboxInfo>, Vec<Spare>)> {
        // Three independent listings, asked at once (this is on the path of
        // every warm assignment).
        let filter = label_filter(&self.config.instance, None);
        let (containers, networks, volumes) = tokio::join!(
            self.docker.list_containers(Some(ListContainersOptions { all: true, filters: Some(filter.clone()), ..Default::default() })),
            self.docker.list_networks(Some(ListNetworksOptions { filters: Some(filter.clone()) })),
            self.docker.list_volumes(Some(ListVolumesOptions { filters: Some(filter.clone()) })),
        );
        let (containers, networks) = (containers?, networks?);
        let volumes = volumes?.volumes.unwrap_or_default();
        let mut by_id: BTreeMap<String, SandboxInfo> = BTreeMap::new();
        let mut spare_ids = BTreeSet::new();
        for n in &networks {
            let Some(l) = n.labels.as_ref() else { continue };
            let (Some(id), Some(subnet)) = (l.get(labels::SANDBOX), l.get(labels::SUBNET)) else { continue };
            let Ok(subnet) = subnet.parse::<Ipv4Addr>() else { continue };
            if l.contains_key(labels::SPARE) {
                spare_ids.insert(id.clone());
            }
            let attacker = l.get(labels::ATTACKER).filter(|a| a.as_str() != labels::POOL).cloned();
            by_id.insert(
                id.clone(),
                SandboxInfo {
                    id: id.clone(),
                    attacker,
                    state: State::Broken,
                    subnet,
                    bridge: labels::bridge_name(id),
                    containers: BTreeMap::new(),
                    netns: None,
                    paused: 0,
                    running: 0,
                },
            );
        }
        let mut orphans = Vec::new();
        for c in &containers {
            let Some(l) = c.labels.as_ref() else { continue };
            let (Some(id), Some(service)) = (l.get(labels::SANDBOX), l.get(labels::SERVICE)) else { continue };
            let Some(sb) = by_id.get_mut(id) else {
                orphans.push(id.clone());
                continue;
            };
            if service == labels::NETNS {
                if c.state == Some(ContainerSummaryStateEnum::RUNNING) {
                    sb.netns = c.id.clone();
                }
                continue;
            }
            sb.containers.insert(service.clone(), c.id.clone().unwrap_or_default());
            match c.state {
                Some(ContainerSummaryStateEnum::PAUSED) => sb.paused += 1,
                Some(ContainerSummaryStateEnum::RUNNING) => sb.running += 1,
                _ => {}
            }
        }
        for v in &volumes {
            let (Some(id), Some(attacker)) = (v.labels.get(labels::SANDBOX), v.labels.get(labels::ATTACKER)) else { continue };
            if let Some(sb) = by_id.get_mut(id) {
                sb.attacker = Some(attacker.clone());
            } else {
                orphans.push(id.clone());
            }
        }
        // A spare network no service has joined yet is not a sandbox. Once
        // a create has taken it, it is one (broken until complete).
        let mut spares = Vec::new();
        by_id.retain(|id, sb| {
            let spare = spare_ids.contains(id) && sb.containers.is_empty() && sb.attacker.is_none();
            if spare {
                spares.push(Spare { id: id.clone(), subnet: sb.subnet, netns: sb.netns.clone() });
            }
            !spare
        });
        let wanted = self.config.services.len();
        let mut out: Vec<SandboxInfo> = by_id.into_values().collect();
        for sb in &mut out {
            let complete = sb.containers.len() == wanted && sb.paused + sb.running == wanted && sb.netns.is_some();
            sb.state = match (complete, sb.attacker.is_some(), sb.paused) {
                (false, _, _) => State::Broken,
                (true, false, p) if p == wanted => State::Pooled,
                (true, false, _) => State::Broken,
                (true, true, 0) => State::Active,
                (true, true, _) => State::Frozen,
            };
        }
        // Containers or volumes whose network is gone: broken sandboxes too.
        for id in orphans.into_iter().collect::<BTreeSet<_>>() {
            if out.iter().all(|s| s.id != id) {
                out.push(SandboxInfo {
                    id: id.clone(),
                    attacker: None,
                    state: State::Broken,
                    subnet: Ipv4Addr::UNSPECIFIED,
                    bridge: labels::bridge_name(&id),
                    containers: BTreeMap::new(),
                    netns: None,
                    paused: 0,
                    running: 0,
                });
            }
        }
        Ok((out, spares))
    }

    pub async fn get(&self, id: &str) -> Result<SandboxInfo> {
        self.sandboxes().await?.into_iter().find(|s| s.id == id).ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// After a restart: removes what is broken (half-made pre-creates,
    /// sandboxes missing parts), keeps the rest. Returns what was kept.
    pub async fn adopt(&self) -> Result<Vec<SandboxInfo>> {
        let all = self.sandboxes().await?;
        let mut kept = Vec::new();
        for sb in all {
            if sb.state == State::Broken {
                tracing::warn!(sandbox = %sb.id, "removing a broken sandbox");
                self.remove(&sb.id).await?;
            } else {
                kept.push(sb);
            }
        }
        Ok(kept)
    }

    /// The sandbox for `attacker`: its own if it has one (thawed if frozen),
    /// else a pool sandbox, else a new one; the shared one past `max_sandboxes`.
    /// Callers racing for one attacker (in this process or another) get one
    /// sandbox: the decision and the creation run under [`crate::assign_lock`].
    pub async fn assign(&self, attacker: IpAddr) -> Result<Assignment> {
        let _lock = crate::assign_lock::acquire(&self.config.instance).await?;
        // Spare networks are only ever taken here, under the lock: no two
        // creates take the same one.
        let (all, spares) = self.inventory().await?;
        let spare = spares.into_iter().next();
        let key = attacker.to_string();
        let result = |sb: &SandboxInfo, how: &str| Assignment {
            sandbox: sb.id.clone(),
            attacker: key.clone(),
            how: how.to_string(),
            endpoints: sb.endpoints(&self.config.services),
        };
        if let Some(sb) = all.iter().find(|s| s.attacker.as_deref() == Some(key.as_str()) && s.state != State::Broken) {
            if sb.state == State::Frozen {
                self.thaw(sb).await?;
            }
            return Ok(result(sb, "existing"));
        }
        let owned = all.iter().filter(|s| s.attacker.is_some() && !s.is_shared() && s.state != State::Broken).count();
        if owned >= self.config.max_sandboxes {
            let shared = match all.iter().find(|s| s.is_shared() && s.state != State::Broken) {
                Some(sb) => {
                    if sb.state == State::Frozen {
                        self.thaw(sb).await?;
                    }
                    sb.clone()
                }
                None => self.create_in(Some(labels::SHARED), spare).await?,
            };
            return Ok(result(&shared, "shared"));
        }
        if let Some(sb) = all.iter().find(|s| s.state == State::Pooled) {
            let (labelled, thawed) = tokio::join!(self.label_assignment(&sb.id, &key), self.thaw(sb));
            labelled?;
            thawed?;
            return Ok(result(sb, "warm"));
        }
        let sb = self.create_in(Some(&key), spare).await?;
        Ok(result(&sb, "cold"))
    }

    async fn label_assignment(&self, id: &str, attacker: &str) -> Result<()> {
        let labels = HashMap::from([
            (labels::SANDBOX.to_string(), id.to_string()),
            (labels::INSTANCE.to_string(), self.config.instance.clone()),
            (labels::ATTACKER.to_string(), attacker.to_string()),
            (labels::SERVICE.to_string(), labels::ASSIGNMENT.to_string()),
        ]);
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(labels::assignment_volume(id)),
                labels: Some(labels),
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Pre-creates one pool sandbox: started (host keys made, daemons
    /// initialised, every service answering), then paused.
    pub async fn precreate(&self) -> Result<SandboxInfo> {
        let sb = self.create(None).await?;
        // Pause only once sshd has its final keys, so a handed-out sandbox
        // never restarts sshd under its attacker.
        if !self.wait_ready(&sb, Duration::from_secs(60)).await {
            self.remove(&sb.id).await?;
            return Err(Error::Config(format!("pre-created sandbox {} did not answer on every service", sb.id)));
        }
        self.freeze(&sb).await?;
        self.get(&sb.id).await
    }

    /// Waits until every service answers like a client expects and sshd
    /// runs with its final host keys; false if that took over `deadline`.
    /// A banner alone is not enough: a sandbox that makes its RSA key
    /// after start (see the ssh entrypoint) has sshd re-execute on SIGHUP
    /// once the key is there, and a login in that moment is refused.
    pub async fn wait_ready(&self, sb: &SandboxInfo, deadline: Duration) -> bool {
        let ready = join_all(self.config.services.iter().filter_map(|s| {
            let addr = sb.address_of(s)?;
            Some(async move { crate::probe::wait_until_answers(s, addr, deadline).await })
        }))
        .await;
        if ready.iter().any(|ok| !ok) {
            return false;
        }
        self.wait_for_sshd_reload(sb, deadline).await
    }

    /// The entrypoint's RSA step runs in a forked copy of the script
    /// (keygen, then SIGHUP to sshd); once no such copy is left, the
    /// signal was sent, and sshd answering again is the reloaded one.
    async fn wait_for_sshd_reload(&self, sb: &SandboxInfo, deadline: Duration) -> bool {
        let (Some(container), Some(addr)) = (sb.containers.get("ssh"), sb.address_of("ssh")) else { return true };
        let start = tokio::time::Instant::now();
        loop {
            let top = match self.docker.top_processes(container, None).await {
                Ok(top) => top,
                Err(e) => {
                    tracing::warn!(%e, sandbox = %sb.id, "cannot list the ssh container's processes");
                    return false;
                }
            };
            let pending = top.processes.unwrap_or_default().iter().flatten().any(|cmd| cmd.starts_with("/bin/sh ") && cmd.contains("kyoka-entry"));
            if !pending {
                break;
            }
            if start.elapsed() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // sshd handles the signal in its main loop: a moment, then it answers.
        tokio::time::sleep(Duration::from_millis(100)).await;
        crate::probe::wait_until_answers("ssh", addr, deadline.saturating_sub(start.elapsed()).max(Duration::from_secs(5))).await
    }

    /// Creates and starts a sandbox: its network, then every service.
    pub async fn create(&self, attacker: Option<&str>) -> Result<SandboxInfo> {
        self.create_in(attacker, None).await
    }

    /// [`Self::create`] in a spare network if given: its id becomes the
    /// sandbox's. The attacker is then recorded by the assignment volume
    /// alone (the spare's labels say `pool`).
    async fn create_in(&self, attacker: Option<&str>, spare: Option<Spare>) -> Result<SandboxInfo> {
        crate::containment::install()?;
        let attacker_label = attacker.unwrap_or(labels::POOL).to_string();
        let t = std::time::Instant::now();
        let (id, subnet, netns) = match spare {
            Some(s) => (s.id, s.subnet, s.netns),
            None => {
                let id = random_id();
                let subnet = self.create_network(&id, &attacker_label, false).await?;
                (id, subnet, None)
            }
        };
        let netns = match netns {
            Some(running) => running,
            None => self.start_netns(&id, subnet).await?,
        };
        let network_ms = t.elapsed().as_millis();
        // A cold sandbox goes straight to its attacker: sshd must not
        // reload under them (see hostkeys).
        let ssh_key = if attacker.is_some() { crate::hostkeys::take() } else { None };
        // Each container starts as soon as it exists (no barrier between
        // creating all and starting all: the engine starts the first while
        // it still creates the others), slowest daemon first; the
        // assignment volume is made meanwhile.
        let (made, labelled) = tokio::join!(
            join_all(self.start_order().into_iter().map(|s| async {
                let container = self.create_container(&id, &attacker_label, &netns, s).await?;
                if let (Some(key), "ssh") = (&ssh_key, s.as_str()) {
                    self.put_host_key(&container, key).await;
                }
                self.docker.start_container(&container, None).await?;
                Ok::<_, Error>((s.clone(), container))
            })),
            async {
                match attacker {
                    Some(a) => self.label_assignment(&id, a).await,
                    None => Ok(()),
                }
            }
        );
        let mut containers = BTreeMap::new();
        let mut failed = labelled.err();
        for r in made {
            match r {
                Ok((service, container)) => {
                    containers.insert(service, container);
                }
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(err) = failed {
            self.remove(&id).await?;
            return Err(err);
        }
        tracing::info!(sandbox = %id, attacker = %attacker_label, %subnet, network_ms, total_ms = t.elapsed().as_millis(), "sandbox created");
        // What Docker would now list, without asking it again.
        let running = containers.len();
        Ok(SandboxInfo {
            id: id.clone(),
            attacker: attacker.map(str::to_string),
            state: if attacker.is_some() { State::Active } else { State::Broken },
            subnet,
            bridge: labels::bridge_name(&id),
            containers,
            netns: Some(netns),
            paused: 0,
            running,
        })
    }

    /// Puts a made-ahead RSA host key into a created (not yet started) ssh
    /// container; without it, the container makes its own.
    async fn put_host_key(&self, container: &str, key: &crate::hostkeys::HostKey) {
        let options = bollard::query_parameters::UploadToContainerOptions { path: "/etc/ssh".into(), ..Default::default() };
        let tar = bollard::body_full(crate::hostkeys::archive(key).into());
        if let Err(e) = self.docker.upload_to_container(container, Some(options), tar).await {
            tracing::warn!(%e, container, "host key not put in place; the container makes its own");
        }
    }

    /// The configured services, the slowest to answer first.
    fn start_order(&self) -> Vec<&String> {
        let mut order: Vec<&String> = self.config.services.iter().collect();
        order.sort_by_key(|s| services::spec(s).map(|x| x.start_rank).unwrap_or(u8::MAX));
        order
    }

    async fn create_network(&self, id: &str, attacker: &str, spare: bool) -> Result<Ipv4Addr> {
        // Every instance's networks count: they share the engine's address space.
        let all = HashMap::from([("label".to_string(), vec![labels::SUBNET.to_string()])]);
        let networks = self.docker.list_networks(Some(ListNetworksOptions { filters: Some(all) })).await?;
        let mut used: BTreeSet<Ipv4Addr> = networks
            .iter()
            .filter_map(|n| n.labels.as_ref()?.get(labels::SUBNET)?.parse().ok())
            .collect();
        // Another orchestrator may take the same block at the same moment:
        // the engine refuses the overlap and we take the next one.
        let mut attempt = 0;
        loop {
            let subnet = crate::subnets::allocate(&self.config.subnet_pool, &used)?;
            match self.create_network_in(id, attacker, subnet, spare).await {
                Ok(()) => return Ok(subnet),
                Err(e) if attempt < 8 => {
                    tracing::debug!(%e, %subnet, "network create failed, next block");
                    used.insert(subnet);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn create_network_in(&self, id: &str, attacker: &str, subnet: Ipv4Addr, spare: bool) -> Result<()> {
        let mut labels = HashMap::from([
            (labels::SANDBOX.to_string(), id.to_string()),
            (labels::INSTANCE.to_string(), self.config.instance.clone()),
            (labels::ATTACKER.to_string(), attacker.to_string()),
            (labels::SERVICE.to_string(), labels::NETWORK.to_string()),
            (labels::SUBNET.to_string(), subnet.to_string()),
        ]);
        if spare {
            labels.insert(labels::SPARE.to_string(), "1".to_string());
        }
        let options = HashMap::from([
            ("com.docker.network.bridge.name".to_string(), labels::bridge_name(id)),
            // No NAT out: nothing may leave anyway (containment), and the
            // sandbox must see attackers' real addresses.
            ("com.docker.network.bridge.enable_ip_masquerade".to_string(), "false".to_string()),
        ]);
        self.docker
            .create_network(NetworkCreateRequest {
                name: labels::network_name(id),
                driver: Some("bridge".into()),
                // Not `internal`: containers need their default route to
                // answer redirected attackers; the nft table keeps them in.
                internal: Some(false),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(format!("{subnet}/{}", crate::subnets::PREFIX)),
                        gateway: Some(crate::subnets::host(subnet, 1).to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                options: Some(options),
                labels: Some(labels),
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Creates and starts the container that holds a sandbox's address on
    /// its network: `sleep` as nobody with nothing else allowed, so the
    /// namespace outlives any daemon the attacker kills. Made ahead with
    /// spare networks: joining a namespace costs the engine far less than
    /// a new endpoint (veth pair, embedded-DNS rules) per service. When
    /// that fails, the network goes too.
    async fn start_netns(&self, id: &str, subnet: Ipv4Addr) -> Result<String> {
        let started = self.create_and_start_netns(id, subnet).await;
        if started.is_err() {
            self.remove(id).await?;
        }
        started
    }

    async fn create_and_start_netns(&self, id: &str, subnet: Ipv4Addr) -> Result<String> {
        let labels = HashMap::from([
            (labels::SANDBOX.to_string(), id.to_string()),
            (labels::INSTANCE.to_string(), self.config.instance.clone()),
            (labels::SERVICE.to_string(), labels::NETNS.to_string()),
        ]);
        let network = labels::network_name(id);
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(crate::subnets::host(subnet, crate::subnets::SANDBOX_HOST).to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let memory = 16 << 20;
        let host_config = HostConfig {
            network_mode: Some(network.clone()),
            memory: Some(memory),
            memory_swap: Some(memory),
            pids_limit: Some(4),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            init: Some(true),
            ..Default::default()
        };
        let made = self
            .docker
            .create_container(
                Some(CreateContainerOptions { name: Some(labels::container_name(id, labels::NETNS)), ..Default::default() }),
                ContainerCreateBody {
                    image: Some(self.netns_image()),
                    entrypoint: Some(vec!["sleep".into()]),
                    cmd: Some(vec!["infinity".into()]),
                    user: Some("65534:65534".into()),
                    // The services share its UTS namespace too.
                    hostname: Some(self.config.hostname.clone()),
                    labels: Some(labels),
                    host_config: Some(host_config),
                    networking_config: Some(NetworkingConfig { endpoints_config: Some(HashMap::from([(network, endpoint)])) }),
                    ..Default::default()
                },
            )
            .await?;
        self.docker.start_container(&made.id, None).await?;
        Ok(made.id)
    }

    /// Creates one service's container in the sandbox's network namespace; its id.
    async fn create_container(&self, id: &str, attacker: &str, netns: &str, service: &str) -> Result<String> {
        let spec = services::spec(service).ok_or_else(|| Error::Config(format!("unknown service {service}")))?;
        let c = &self.config;
        let labels = HashMap::from([
            (labels::SANDBOX.to_string(), id.to_string()),
            (labels::INSTANCE.to_string(), self.config.instance.clone()),
            (labels::ATTACKER.to_string(), attacker.to_string()),
            (labels::SERVICE.to_string(), service.to_string()),
        ]);
        let env: Vec<String> = c.service_env.get(service).into_iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
        let memory = (c.memory_limit_mb * 1024 * 1024) as i64;
        let host_config = HostConfig {
            network_mode: Some(format!("container:{netns}")),
            memory: Some(memory),
            // No swap beyond the limit: a memory hog meets the OOM killer.
            memory_swap: Some(memory),
            nano_cpus: Some((c.cpu_limit_cores * 1e9) as i64),
            pids_limit: Some(c.pids_limit),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(spec.cap_add.iter().map(|s| s.to_string()).collect()),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(spec.read_only),
            tmpfs: Some(spec.tmpfs.iter().map(|p| (p.to_string(), "rw,nosuid,nodev,size=16m".to_string())).collect()),
            init: Some(true),
            ..Default::default()
        };
        let made = self
            .docker
            .create_container(
                Some(CreateContainerOptions { name: Some(labels::container_name(id, service)), ..Default::default() }),
                ContainerCreateBody {
                    image: Some(self.image(service)),
                    labels: Some(labels),
                    env: Some(env),
                    host_config: Some(host_config),
                    ..Default::default()
                },
            )
            .await?;
        Ok(made.id)
    }

    /// Pauses every container (the kernel still completes TCP handshakes).
    pub async fn freeze(&self, sb: &SandboxInfo) -> Result<()> {
        let r = join_all(sb.containers.values().map(|c| self.docker.pause_container(c))).await;
        r.into_iter().filter_map(|r| r.err()).for_each(|e| tracing::debug!(%e, "pause"));
        Ok(())
    }

    pub async fn thaw(&self, sb: &SandboxInfo) -> Result<()> {
        let r = join_all(sb.containers.values().map(|c| self.docker.unpause_container(c))).await;
        r.into_iter().filter_map(|r| r.err()).for_each(|e| tracing::debug!(%e, "unpause"));
        Ok(())
    }

    /// Destroys a sandbox, keeping evidence of what changed on disk first.
    pub async fn destroy(&self, id: &str) -> Result<Option<std::path::PathBuf>> {
        let sb = self.get(id).await?;
        let evidence = if sb.attacker.is_some() { Some(crate::evidence::collect(self, &sb).await?) } else { None };
        self.remove(id).await?;
        tracing::info!(sandbox = %id, "sandbox destroyed");
        Ok(evidence)
    }

    /// Removes containers, network and assignment, ignoring what is gone.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(label_filter(&self.config.instance, Some((labels::SANDBOX, id)))),
                ..Default::default()
            }))
            .await?;
        join_all(containers.iter().filter_map(|c| c.id.as_deref()).map(|c| {
            self.docker.remove_container(c, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() }))
        }))
        .await;
        let _ = self.docker.remove_network(&labels::network_name(id)).await;
        let _ = self
            .docker
            .remove_volume(&labels::assignment_volume(id), Some(RemoveVolumeOptions { force: true }))
            .await;
        Ok(())
    }

    /// Tops the pool up to `pool_size` paused sandboxes (and the spare
    /// networks up to `spare_networks` first: they take a moment, no memory).
    /// Returns how many sandboxes it pre-created.
    pub async fn fill_pool(&self) -> Result<usize> {
        // Spares only speed up cold sandboxes: the pool is filled regardless.
        if let Err(e) = self.fill_spare_networks().await {
            tracing::warn!(%e, "spare networks not made");
        }
        let have = self.sandboxes().await?.iter().filter(|s| s.state == State::Pooled).count();
        let mut made = 0;
        for _ in have..self.config.pool_size {
            self.precreate().await?;
            made += 1;
        }
        Ok(made)
    }

    /// Tops the spare networks up to `spare_networks`, and as many RSA host
    /// keys for cold sandboxes; how many networks it made.
    pub async fn fill_spare_networks(&self) -> Result<usize> {
        crate::hostkeys::fill(self.config.spare_networks, &self.config.hostname).await;
        let have = self.spare_networks().await?.len();
        let mut made = 0;
        for _ in have..self.config.spare_networks {
            let id = random_id();
            let subnet = self.create_network(&id, labels::POOL, true).await?;
            self.start_netns(&id, subnet).await?;
            made += 1;
        }
        Ok(made)
    }
}
