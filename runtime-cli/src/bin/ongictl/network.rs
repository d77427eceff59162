//! `network ...` and `port`: parsing and output in docker's shapes; the engine's `network`
//! module does the work.

use std::io::{BufRead, Write};

use clap::Subcommand;
use ongi_engine::container as ctr;
use ongi_engine::network::{self, model, NetworkError};
use ongi_engine::store::Store;

use crate::{fmt, Fail};

/// `run`/`create`'s network flags beyond --network and -p.
#[derive(clap::Args, Clone, Default)]
pub struct NetArgs {
    /// Add a custom host-to-IP mapping (host:ip; ip may be host-gateway).
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    ip: Option<String>,
    /// Add network-scoped alias for the container.
    #[arg(long = "network-alias", alias = "net-alias")]
    network_alias: Vec<String>,
    /// Add link to another container (NAME[:ALIAS]).
    #[arg(long)]
    link: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
}

impl NetArgs {
    /// The engine's form.
    pub fn flags(&self) -> network::options::NetFlags {
        network::options::NetFlags {
            add_host: self.add_host.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_option: self.dns_option.clone(),
            ip: self.ip.clone(),
            alias: self.network_alias.clone(),
            link: self.link.clone(),
            publish_all: self.publish_all,
        }
    }
}

#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        /// Driver (only "bridge").
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR form.
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway for the subnet.
        #[arg(long)]
        gateway: Option<String>,
        /// Restrict external access to the network.
        #[arg(long)]
        internal: bool,
        /// Set metadata on a network.
        #[arg(long)]
        label: Vec<String>,
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        /// Only network IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Do not truncate the output.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// name=, id=, driver=, label=KEY[=VALUE], type=custom|builtin.
        #[arg(short, long)]
        filter: Vec<String>,
    },
    /// Display detailed information on one or more networks.
    Inspect {
        /// Go template.
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Connect a running container to a network.
    Connect {
        /// IPv4 address (e.g., 172.30.100.104).
        #[arg(long)]
        ip: Option<String>,
        /// Add network-scoped alias for the container.
        #[arg(long)]
        alias: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        /// Force the container to disconnect from a network.
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm {
        /// Do not error if the network does not exist.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all unused networks.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

fn matches(n: &model::Network, filters: &[String]) -> Result<bool, Fail> {
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            Fail(
                1,
                format!("bad format of filter (expected name=value): {f}"),
            )
        })?;
        let ok = match k {
            "name" => n.name.contains(v),
            "id" => n.id.starts_with(v),
            "driver" => n.driver == v,
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(v),
            },
            "type" => match v {
                "custom" => !n.predefined(),
                "builtin" => n.predefined(),
                _ => return Err(Fail(1, format!("invalid filter 'type={v}'"))),
            },
            _ => return Err(Fail(1, format!("invalid filter '{k}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn dispatch(store: &Store, cmd: &NetworkCmd) -> Result<u8, Fail> {
    match cmd {
        NetworkCmd::Connect {
            ip,
            alias,
            network: net,
            container,
        } => {
            let ip = ip
                .as_deref()
                .map(|v| {
                    v.parse()
                        .map_err(|_| Fail(1, format!("invalid IPv4 address: {v}")))
                })
                .transpose()?;
            network::connect::connect(store, net, container, ip, alias)?;
            Ok(0)
        }
        NetworkCmd::Disconnect {
            force,
            network: net,
            container,
        } => {
            network::connect::disconnect(store, net, container, *force)?;
            Ok(0)
        }
        NetworkCmd::Create {
            driver,
            subnet,
            gateway,
            internal,
            label,
            name,
        } => {
            let n = model::create(
                store,
                &model::CreateOptions {
                    name: name.clone(),
                    subnet: subnet.clone(),
                    gateway: gateway.clone(),
                    internal: *internal,
                    labels: label.clone(),
                    driver: driver.clone(),
                },
            )?;
            println!("{}", n.id);
            Ok(0)
        }
        NetworkCmd::Ls {
            quiet,
            no_trunc,
            filter,
        } => {
            let mut rows = Vec::new();
            for n in model::list(store)? {
                if !matches(&n, filter)? {
                    continue;
                }
                let id = if *no_trunc {
                    n.id.clone()
                } else {
                    n.id[..12].to_string()
                };
                if *quiet {
                    println!("{id}");
                } else {
                    rows.push(vec![id, n.name, n.driver, "local".into()]);
                }
            }
            if !*quiet {
                fmt::table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows);
            }
            Ok(0)
        }
        NetworkCmd::Inspect { format, names } => {
            let mut out = Vec::new();
            let mut rc = 0;
            for k in names {
                match model::get(store, k).and_then(|n| network::inspect(store, &n)) {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                }
            }
            fmt::print_objects(&out, format.as_deref())?;
            Ok(rc)
        }
        NetworkCmd::Rm { force, names } => {
            let mut rc = 0;
            for k in names {
                match network::remove(store, k) {
                    Ok(_) => println!("{k}"),
                    Err(NetworkError::NotFound(_)) if *force => {}
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                }
            }
            Ok(rc)
        }
        NetworkCmd::Prune { force } => {
            if !*force {
                eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    return Ok(0);
                }
            }
            let names = network::prune(store)?;
            if !names.is_empty() {
                println!("Deleted Networks:");
                for n in names {
                    println!("{n}");
                }
            }
            Ok(0)
        }
    }
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub fn port(store: &Store, container: &str, private: Option<&str>) -> Result<u8, Fail> {
    let id = ctr::resolve(store, container)?;
    let c = ctr::load(store, &id)?;
    let ports = network::ports(store, &c);
    match private {
        None => {
            for (k, v) in ports {
                println!("{k} -> {v}");
            }
        }
        Some(p) => {
            let want = if p.contains('/') {
                p.to_string()
            } else {
                format!("{p}/tcp")
            };
            let hits: Vec<&String> = ports
                .iter()
                .filter(|(k, _)| *k == want)
                .map(|(_, v)| v)
                .collect();
            if hits.is_empty() {
                return Err(Fail(
                    1,
                    format!("No public port '{want}' published for {container}"),
                ));
            }
            for v in hits {
                println!("{v}");
            }
        }
    }
    Ok(0)
}
