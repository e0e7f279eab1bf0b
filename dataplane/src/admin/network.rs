//! The director's own network (addresses, routes, ports) and the way to a
//! next hop: which port and which neighbour a dest is reached through.

use super::*;

impl AdminState {
    /// The extra addresses and static routes (`SetNetwork`).
    pub fn network(&self) -> &rvs_api::Network {
        &self.network
    }

    /// The port a route leaves by: its own, or its gateway's.
    pub fn route_port(&self, r: &rvs_api::NetRoute) -> Option<u16> {
        match (&r.port, r.via) {
            (Some(name), _) => self
                .port_names
                .iter()
                .position(|n| n == name)
                .map(|i| i as u16),
            (None, Some(via)) => connected_port(&self.ports, &self.port_names, &self.network, via),
            (None, None) => None,
        }
    }

    /// The port called `name`.
    pub fn port_id(&self, name: &str) -> Option<u16> {
        self.port_names
            .iter()
            .position(|n| n == name)
            .map(|i| i as u16)
    }

    /// `SetNetwork`: check the new settings, then move every dest whose way
    /// changes to its new next hop (the old neighbour slot retires with the
    /// generation).
    pub(super) fn set_network(
        &mut self,
        net: rvs_api::Network,
        now_ms: u64,
    ) -> Result<(), ApiError> {
        let port_id = |name: &str| {
            self.port_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| {
                    err(
                        ErrorKind::Invalid,
                        format!(
                            "no dataplane port is called {name:?} (the ports are {})",
                            self.port_names.join(", ")
                        ),
                    )
                })
        };
        for (i, a) in net.addresses.iter().enumerate() {
            let p = port_id(&a.port)?;
            let bits = if a.addr.is_ipv4() { 32 } else { 128 };
            if a.prefix_len > bits
                || a.addr.is_unspecified()
                || a.addr.is_multicast()
                || a.addr.is_loopback()
            {
                return Err(err(
                    ErrorKind::Invalid,
                    format!(
                        "{}/{} is not a unicast interface address",
                        a.addr, a.prefix_len
                    ),
                ));
            }
            if net.addresses[..i].iter().any(|b| b.addr == a.addr)
                || self.ports.iter().any(|q| match a.addr {
                    IpAddr::V4(v) => q.addr == v,
                    IpAddr::V6(v) => q.addr6 == Some(v),
                })
            {
                return Err(err(
                    ErrorKind::Exists,
                    format!("{} is given twice (or is a port's own address)", a.addr),
                ));
            }
            if a.addr.is_ipv6() && self.ports[p].addr6.is_none() {
                return Err(err(
                    ErrorKind::Invalid,
                    format!(
                        "port {} has no IPv6 address (address6) to add {} beside",
                        a.port, a.addr
                    ),
                ));
            }
            if self.services.iter().any(|s| s.addr.1 == a.addr)
                || self.services.iter().any(|s| s.laddrs.contains(&a.addr))
            {
                return Err(err(
                    ErrorKind::Invalid,
                    format!(
                        "{} is a virtual or local address of a service, not the director's own",
                        a.addr
                    ),
                ));
            }
        }
        for r in &net.routes {
            if let Some(name) = &r.port {
                port_id(name)?;
            }
            match r.via {
                Some(via) => {
                    if via.is_ipv4() != r.dst.addr.is_ipv4() {
                        return Err(err(
                            ErrorKind::Invalid,
                            format!(
                                "route {}/{}: gateway {via} is of the other family",
                                r.dst.addr, r.dst.len
                            ),
                        ));
                    }
                    let on = connected_port(&self.ports, &self.port_names, &net, via);
                    let wanted = r.port.as_deref().map(port_id).transpose()?;
                    match (on, wanted) {
                        (None, _) => {
                            return Err(err(
                                ErrorKind::Invalid,
                                format!(
                                "route {}/{}: gateway {via} is on no directly connected network",
                                r.dst.addr, r.dst.len
                            ),
                            ))
                        }
                        (Some(on), Some(w)) if usize::from(on) != w => {
                            return Err(err(
                                ErrorKind::Invalid,
                                format!(
                                    "route {}/{}: gateway {via} is not on port {}",
                                    r.dst.addr, r.dst.len, self.port_names[w]
                                ),
                            ))
                        }
                        _ => {}
                    }
                }
                None if r.port.is_none() => {
                    return Err(err(
                        ErrorKind::Invalid,
                        format!(
                            "route {}/{}: needs a gateway (via) or a port",
                            r.dst.addr, r.dst.len
                        ),
                    ))
                }
                None => {}
            }
        }
        // Every dest must keep a way; those whose way changes move.
        let mut moves = vec![];
        for (si, svc) in self.services.iter().enumerate() {
            for (di, d) in svc.dests.iter().enumerate() {
                let (hop, port) = way_for_dest(&self.ports, &self.port_names, &net, &d.config)
                    .map_err(|e| {
                        err(
                            e.kind,
                            format!(
                                "real server {} of a service would lose its way: {}",
                                d.config.addr, e.message
                            ),
                        )
                    })?;
                if (d.port_id, d.hop) != (port, hop) {
                    moves.push((si, di, hop, port));
                }
            }
        }
        let mut wanted = vec![];
        for &(_, _, hop, port) in &moves {
            let Some(slot) = self.resolver.want(port, hop, now_ms) else {
                for s in wanted {
                    self.resolver.unwant(s);
                }
                return Err(err(ErrorKind::NoMemory, "the neighbour table is full"));
            };
            wanted.push(slot);
        }
        let next_generation = self.generation + 1;
        for (&(si, di, hop, port), slot) in moves.iter().zip(wanted) {
            let d = &mut self.services[si].dests[di];
            self.retiring_neigh.push((d.neigh_slot, next_generation));
            d.neigh_slot = slot;
            d.hop = hop;
            d.port_id = port;
            self.services[si].built = None;
        }
        self.network = net;
        Ok(())
    }

    /// The port an announcement of `addr` leaves by: the one whose
    /// connected network holds it, else the first.
    pub fn announce_port(&self, addr: IpAddr) -> u16 {
        connected_port(&self.ports, &self.port_names, &self.network, addr).unwrap_or(0)
    }
}

/// The port whose directly connected network holds `addr`.
fn connected_port(
    ports: &[PortInfo],
    names: &[String],
    net: &rvs_api::Network,
    addr: IpAddr,
) -> Option<u16> {
    let own = ports.iter().position(|p| match addr {
        IpAddr::V4(_) => {
            Prefix::new(IpAddr::V4(p.addr), p.prefix_len).is_some_and(|n| n.contains(addr))
        }
        IpAddr::V6(_) => p.addr6.is_some_and(|mine| {
            Prefix::new(IpAddr::V6(mine), p.prefix6_len).is_some_and(|n| n.contains(addr))
        }),
    });
    own.or_else(|| {
        net.addresses
            .iter()
            .find(|a| Prefix::new(a.addr, a.prefix_len).is_some_and(|n| n.contains(addr)))
            .and_then(|a| names.iter().position(|n| *n == a.port))
    })
    .map(|i| i as u16)
}

/// How `addr` is reached: (port, next hop, directly connected).
fn way_to(
    ports: &[PortInfo],
    names: &[String],
    net: &rvs_api::Network,
    addr: IpAddr,
) -> Option<(u16, IpAddr, bool)> {
    if let Some(p) = connected_port(ports, names, net, addr) {
        return Some((p, addr, true));
    }
    let route = net
        .routes
        .iter()
        .filter(|r| r.dst.contains(addr))
        .max_by_key(|r| r.dst.len)?;
    match route.via {
        Some(via) => connected_port(ports, names, net, via).map(|p| (p, via, false)),
        None => {
            let name = route.port.as_deref()?;
            let p = names.iter().position(|n| n == name)?;
            Some((p as u16, addr, true))
        }
    }
}

/// The next hop and port of dest `d`: direct routing needs a directly
/// connected real server; the other methods may go through a gateway.
pub(super) fn way_for_dest(
    ports: &[PortInfo],
    names: &[String],
    net: &rvs_api::Network,
    d: &DestConfig,
) -> Result<(IpAddr, u16), ApiError> {
    let addr = d.addr.ip();
    match way_to(ports, names, net, addr) {
        Some((port, hop, connected)) if connected || d.forward != Forward::Route => Ok((hop, port)),
        Some(_) => Err(err(
            ErrorKind::Invalid,
            format!("{addr} is reached through a gateway: direct routing needs a directly connected real server"),
        )),
        None => Err(err(
            ErrorKind::Invalid,
            format!("{addr} is on no directly connected network of the dataplane's ports and no route leads there"),
        )),
    }
}
