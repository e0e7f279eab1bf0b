//! `static_ipaddress` and `static_routes`: the director's own addresses
//! and routes, `dev` naming a dataplane port.

use super::words::expanded;
use super::words::{err, Cx};
use crate::config::error::ConfigError;
use crate::config::lexer::{Node, Word};

/// keepalived's interface when `default_interface` does not name one.
const DEFAULT_INTERFACE: &str = "eth0";

impl Cx<'_> {
    /// `static_ipaddress { ADDR[/LEN] [dev PORT] ... }`: the director's own
    /// addresses, `dev` naming a dataplane port (keepalived's interface);
    /// without `dev`, keepalived's default interface (`default_interface`,
    /// else `eth0`). keepalived's other words (`brd`, `scope`, `label` ...)
    /// are warned and ignored. A bad line is an error and only that address
    /// is lost.
    pub(super) fn static_addresses(&mut self, n: &Node) -> Result<(), ConfigError> {
        let block = self.lines(n)?;
        for line in block {
            if let Err(e) = self.static_address(line) {
                self.errors.push(e);
            }
        }
        Ok(())
    }

    pub(super) fn static_address(&mut self, line: &Node) -> Result<(), ConfigError> {
        self.no_block(line)?;
        expanded(line)?;
        let address: crate::config::model::IfAddr = line
            .key
            .text
            .parse()
            .map_err(|e| err(&line.key, format!("invalid address: {e}")))?;
        let mut port = None;
        let mut words = line.args.iter();
        while let Some(w) = words.next() {
            match w.text.as_str() {
                "dev" => match words.next() {
                    Some(d) => port = Some(d.text.clone()),
                    None => return Err(err(w, "'dev' needs an interface (a dataplane port)")),
                },
                other => {
                    let m =
                        format!("static_ipaddress: '{other}' is not supported by rvs - ignoring");
                    self.warn(w, m);
                    // Its value, when it takes one.
                    if matches!(
                        other,
                        "brd" | "broadcast" | "scope" | "label" | "peer" | "track_group"
                    ) {
                        words.next();
                    }
                }
            }
        }
        let port = port.unwrap_or_else(|| {
            self.draft
                .global
                .default_interface
                .clone()
                .unwrap_or_else(|| DEFAULT_INTERFACE.to_string())
        });
        self.draft
            .network
            .address
            .push(crate::config::model::PortAddress { port, address });
        Ok(())
    }

    /// `static_routes { [OPTIONS] [to] [TYPE] DST[/LEN]|default [OPTIONS] }`
    /// in keepalived's `ip route` grammar ([`crate::config::iproute`]):
    /// rvs acts on the destination, `via` and `dev` (a dataplane port); other options
    /// are warned about and ignored, and a route of another type than
    /// unicast (`blackhole`, `unreachable` ...) is warned about and skipped.
    /// A line that does not parse is an error and only that route is lost.
    pub(super) fn static_routes(&mut self, n: &Node) -> Result<(), ConfigError> {
        let block = self.lines(n)?;
        for line in block {
            if let Err(e) = self.static_route(line) {
                self.errors.push(e);
            }
        }
        Ok(())
    }

    pub(super) fn static_route(&mut self, line: &Node) -> Result<(), ConfigError> {
        self.no_block(line)?;
        expanded(line)?;
        let words: Vec<Word> = std::iter::once(line.key.clone())
            .chain(line.args.iter().cloned())
            .collect();
        let p = crate::config::iproute::parse(&words).map_err(|e| {
            let at = e.at.map_or(&line.key, |i| &words[i]);
            err(at, e.message)
        })?;
        for w in &p.ignored {
            let m = format!(
                "static_routes: '{}' is not supported by rvs - ignoring",
                w.text
            );
            self.warn(w, m);
        }
        if let Some(kind) = &p.kind {
            let m = format!("static_routes: a {kind} is not supported by rvs - ignoring the route");
            self.warn(&line.key, m);
            return Ok(());
        }
        if p.via.is_none() && p.dev.is_none() {
            return Err(err(
                &line.key,
                "a static route needs 'via GW' or 'dev PORT'",
            ));
        }
        self.draft.network.route.push(crate::config::model::Route {
            dst: p.dst,
            via: p.via,
            port: p.dev,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    /// keepalived's `static_ipaddress` and `static_routes` become the network's
    /// addresses and routes (`dev` naming a dataplane port), reach the
    /// dataplane as one `SetNetwork`, and round-trip through TOML.
    #[test]
    fn static_addresses_and_routes_from_keepalived() {
        let text = "static_ipaddress {\n  198.18.2.2/24 dev lan0 scope global\n}\n\
                static_routes {\n  198.19.0.0/16 via 198.18.0.1 dev lan0\n  default via 198.18.0.1\n}\n";
        let (m, warnings) = parse_ok(text);
        assert_eq!(
        messages(&warnings),
        ["/nonexistent/test.conf:2:26: static_ipaddress: 'scope' is not supported by rvs - ignoring"]
    );
        let set = m
            .requests()
            .into_iter()
            .find_map(|r| match r {
                Request::SetNetwork(n) => Some(n),
                _ => None,
            })
            .expect("a SetNetwork");
        assert_eq!(
            set.addresses,
            [rvs_api::NetAddress {
                port: "lan0".into(),
                addr: "198.18.2.2".parse().unwrap(),
                prefix_len: 24
            }]
        );
        let routes: Vec<String> = set
            .routes
            .iter()
            .map(|r| format!("{}/{} {:?} {:?}", r.dst.addr, r.dst.len, r.via, r.port))
            .collect();
        assert_eq!(
            routes,
            [
                "198.19.0.0/16 Some(198.18.0.1) Some(\"lan0\")",
                "0.0.0.0/0 Some(198.18.0.1) None"
            ]
        );
        assert_eq!(from_toml(&m.to_toml()).0, m);
        for (bad, why) in [
            (
                "static_ipaddress {\n  198.18.2.300/24 dev lan0\n}\n",
                "test.conf:2:3: invalid address",
            ),
            (
                "static_routes {\n  198.19.0.0/16 via nowhere\n}\n",
                "test.conf:2:21: 'nowhere' is not a gateway address",
            ),
            (
                "static_routes {\n  198.19.0.0/16\n}\n",
                "test.conf:2:3: a static route needs 'via GW' or 'dev PORT'",
            ),
        ] {
            let e = parse(bad).expect_err(bad).to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
