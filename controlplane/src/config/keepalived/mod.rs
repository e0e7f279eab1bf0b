//! keepalived.conf (`spec/keepalived.md` Part A) into a [`Draft`].
//!
//! Contract, keepalived's behaviour unless noted:
//! - the keywords of §A.3–A.10 are read into the draft, with the old names
//!   of §A.10 (`lb_algo`/`lb_kind`, `nb_get_retry` with its deprecation
//!   warning, `lvs_flush_onstop`, the positional `lvs_sync_daemon`, ...);
//!   keepalived for DPVS adds `lb_kind FNAT`, `laddr_group_name` and
//!   `local_address_group NAME { ADDR[-END] [IFNAME] ... }`;
//! - an unknown keyword is a warning (`Unknown keyword 'X'`) and the line
//!   is ignored. **Decision** (the spec leaves it open): an unknown keyword
//!   with a block has its whole block skipped, balanced, with the warning
//!   `Unknown keyword 'X' - skipping its block`. keepalived's own quirk
//!   (the block's lines read at the current level, its `}` closing the
//!   enclosing block) silently changes what the rest of the file means; we
//!   do not reproduce it;
//! - `static_ipaddress` and `static_routes` become the network's addresses
//!   and routes, `dev` naming a dataplane port (an address without `dev`:
//!   `default_interface`, else `eth0`); routes follow keepalived's `ip
//!   route` grammar ([`super::iproute`]);
//! - known keepalived keywords rvs does not act on (SNMP, process tuning,
//!   `static_rules`, `FILE_CHECK` ...) warn `Keyword 'X' is not supported
//!   by rvs - ignoring` and are skipped;
//! - a malformed value of an ordinary keyword is a warning and the keyword
//!   is ignored (keepalived logs it and keeps the default); these are
//!   errors, each losing its item only (keepalived's granularity: the
//!   top-level block, or a `real_server`, a checker, a `sorry_server`, a
//!   `global_defs` keyword, one line of `virtual_ipaddress`,
//!   `unicast_peer`, `static_ipaddress`, `static_routes`, a group or a
//!   pool): a bad address (virtual server, real server, sorry server, group
//!   entry, local address, VIP, route), a weight outside 0..2147483647, an
//!   unknown `lb_algo`/`lvs_sched` or `lb_kind`/`lvs_method`, a protocol rvs
//!   cannot serve (SCTP, or an unknown name), a block where none belongs or
//!   none where one must, an unexpanded `$NAME` (see `expanded`), and what
//!   [`super::resolve`] refuses (a duplicate real server ...); a bad brace
//!   or an include loop is the whole file's error ([`lexer`]);
//!
//! One file a section of keepalived.conf: `global_defs`, `vrrp` (scripts,
//! sync groups, instances), `virtual_server` (groups, pools, virtual
//! servers), `real_server`, `checkers` (and `SSL`), `network`
//! (`static_ipaddress`, `static_routes`); `words` holds the readers they
//! share. The top-level dispatch is `Cx::top` below.

mod checkers;
mod global_defs;
mod network;
mod real_server;
mod virtual_server;
mod vrrp;
mod words;

#[cfg(test)]
mod testing;

use std::path::Path;
use std::sync::Arc;

use super::draft::{Draft, Locus, Positions};
use super::error::{ConfigError, Position, Warning};
use super::lexer::{self, Node};
use super::preprocess;
use words::{err, expanded, Cx};

/// Read `text`, the contents of `path`, into a draft and its positions.
/// The `Err` is a file that cannot be read at all (a brace, an include);
/// an item in error is left out of the draft and its error added to
/// `errors`.
pub fn parse_text(
    text: &str,
    path: &Path,
    opts: &preprocess::Options,
    warnings: &mut Vec<Warning>,
    errors: &mut Vec<ConfigError>,
) -> Result<(Draft, Positions), ConfigError> {
    let file: Arc<Path> = Arc::from(path);
    let tree = lexer::parse_text_with(text, file.clone(), opts, warnings, errors)?;
    let mut cx = Cx {
        draft: Draft::default(),
        pos: Positions::new(Position::whole(file)),
        warnings,
        errors,
    };
    cx.top(&tree);
    Ok((cx.draft, cx.pos))
}

/// Top-level blocks keepalived knows that rvs does not act on.
const TOP_UNSUPPORTED: &[&str] = &[
    "static_rules",
    "vrrp_track_process",
    "track_process",
    "track_file",
    "vrrp_track_file",
    "garp_group",
    "linkbeat_interfaces",
    "bfd_instance",
    "static_track_group",
];

impl Cx<'_> {
    /// `r`'s error, if any, as the error of an item left out.
    fn keep(&mut self, r: Result<(), ConfigError>) {
        if let Err(e) = r {
            self.errors.push(e);
        }
    }

    /// The top-level items, each on its own: one in error is left out.
    fn top(&mut self, nodes: &[Node]) {
        for n in nodes {
            let kw = n.key.text.as_str();
            if let Err(e) = expanded(n) {
                self.errors.push(e);
                continue;
            }
            let r = match kw {
                "global_defs" => {
                    self.pos.set(Locus::Global, n.key.pos.clone());
                    self.lines(n).map(|block| self.global(block))
                }
                "vrrp_script" => self.vrrp_script(n),
                "vrrp_sync_group" => self.sync_group(n),
                "vrrp_instance" => self.instance(n),
                "virtual_server_group" => self.group(n),
                "virtual_server" => self.service(n),
                "local_address_group" => self.pool(n),
                "static_ipaddress" => self.static_addresses(n),
                "static_routes" => self.static_routes(n),
                "SSL" => self.ssl(n),
                "bgp" => self.bgp(n),
                _ => {
                    self.not_ours(n, TOP_UNSUPPORTED);
                    Ok(())
                }
            };
            self.keep(r);
        }
    }

    /// `bgp { ... }` ([`crate::config::bgp`]): all or nothing, once.
    fn bgp(&mut self, n: &Node) -> Result<(), ConfigError> {
        if self.draft.bgp.is_some() {
            return Err(err(
                &n.key,
                "bgp: the block is given twice (the first one applies)",
            ));
        }
        let b = super::bgp::from_keepalived(n, self.warnings);
        self.draft.bgp_in_error = b.is_err();
        self.draft.bgp = Some(b?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;

    #[test]
    fn unknown_keywords_warn_with_their_position_and_parsing_goes_on() {
        let text =
            "vrrp_instance VI_1 {\n    state MASTER\n    foo_bar 1\n    virtual_router_id 9\n}\n";
        let (m, w) = parse_ok(text);
        assert_eq!(
            messages(&w),
            ["/nonexistent/test.conf:3:5: Unknown keyword 'foo_bar'"]
        );
        let vi = &m.vrrp.instances[0];
        assert_eq!(
            (vi.virtual_router_id, vi.priority, vi.state),
            (9, 255, VrrpState::Master)
        );
    }

    #[test]
    fn blocks_where_none_belong_and_unknown_nested_blocks() {
        let e = parse(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  weight 1 {\n  }\n }\n}\n")
    .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:4:12: unexpected '{': 'weight' takes no block"
        );
        let e = parse("virtual_server 10.0.0.1 80\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:1:1: 'virtual_server' needs a block: missing '{'"
        );
        // `{` on the next line opens the block; an unknown block inside a real
        // server is skipped whole.
        let (m, w) = parse_ok(
        "virtual_server 10.0.0.1 80\n{\n protocol TCP\n real_server 10.0.0.2 80 {\n  FOO_CHECK {\n   weight 9\n  }\n }\n}\n");
        assert_eq!(m.services[0].dests[0].weight, 1);
        assert!(messages(&w).contains(
            &"/nonexistent/test.conf:5:3: Unknown keyword 'FOO_CHECK' - skipping its block"
                .to_string()
        ));
    }
}
