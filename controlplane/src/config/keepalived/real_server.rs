//! `real_server` (§A.9): weight, method, and its checkers
//! (`checkers`).

use super::words::expanded;
use super::words::{err, Cx};
use crate::config::draft::Locus;
use crate::config::draft::{CheckKindName, DestDraft};
use crate::config::error::ConfigError;
use crate::config::lexer::Node;
use crate::config::model::WEIGHT_MAX;

impl Cx<'_> {
    /// A weight 0..2147483647: out of range is an error.
    pub(super) fn weight(&mut self, n: &Node) -> Result<u32, ConfigError> {
        let Some(v) = n.args.first() else {
            return Err(err(&n.key, "weight needs a value"));
        };
        match v.text.parse::<u64>() {
            Ok(w) if w <= u64::from(WEIGHT_MAX) => Ok(w as u32),
            _ => Err(err(
                v,
                format!("weight '{}' is outside range 0..{WEIGHT_MAX}", v.text),
            )),
        }
    }

    pub(super) fn dest(&mut self, i: usize, j: usize, n: &Node) -> Result<DestDraft, ConfigError> {
        expanded(n)?;
        let addr = self.addr_port("real server", &n.args, &n.key)?;
        let block = self.block(n)?;
        let mut d = DestDraft::new(addr);
        for n in block {
            let kw = n.key.text.as_str();
            if let Some(kind) = CheckKindName::from_keyword(kw) {
                // A checker in error is lost alone.
                let k = d.check.len();
                self.pos.set(Locus::Check(i, j, k), n.key.pos.clone());
                match self.check(kind, n) {
                    Ok(checks) => d.check.extend(checks),
                    Err(e) => self.errors.push(e),
                }
                continue;
            }
            if matches!(kw, "FILE_CHECK" | "BFD_CHECK") {
                self.unsupported(n);
                continue;
            }
            let known = 'kw: {
                match kw {
                    "weight" => d.weight = Some(self.weight(n)?),
                    "lvs_method" | "lb_kind" => {
                        if let Some((f, t)) = self.method(n)? {
                            d.forward = Some(f);
                            d.tunnel = t;
                        }
                    }
                    "inhibit_on_failure" => {
                        d.inhibit_on_failure = self.boolean(n).or(d.inhibit_on_failure)
                    }
                    "uthreshold" => {
                        d.u_threshold = self.number(n, 0u32, u32::MAX).or(d.u_threshold)
                    }
                    "lthreshold" => {
                        d.l_threshold = self.number(n, 0u32, u32::MAX).or(d.l_threshold)
                    }
                    "notify_up" => d.notify_up = self.command(n),
                    "notify_down" => d.notify_down = self.command(n),
                    "alpha" => d.alpha = self.boolean(n).or(d.alpha),
                    "retry" => d.retry = self.number(n, 0u32, u32::MAX).or(d.retry),
                    "delay_before_retry" => {
                        d.delay_before_retry = self.timer(n).or(d.delay_before_retry)
                    }
                    "warmup" => d.warmup = self.timer(n).or(d.warmup),
                    "delay_loop" => d.delay_loop = self.timer(n).or(d.delay_loop),
                    "connect_timeout" => d.connect_timeout = self.timer(n).or(d.connect_timeout),
                    "virtualhost" => d.virtualhost = self.value(n).map(|v| v.text.clone()),
                    "smtp_alert" => d.smtp_alert = self.boolean(n).or(d.smtp_alert),
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(n, known, &[])?;
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    fn real_server(body: &str) -> String {
        format!(
            "virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 80 {{\n{body}\n }}\n}}\n"
        )
    }

    #[test]
    fn weight_method_and_thresholds_of_a_real_server() {
        let (m, w) = parse_ok(&real_server(
            "  weight 0\n  lvs_method TUN\n  uthreshold 100\n  lthreshold 10",
        ));
        assert!(messages(&w).is_empty(), "{:?}", messages(&w));
        let d = &m.services[0].dests[0];
        assert_eq!((d.addr, d.weight), (sa("10.0.0.2:80"), 0));
        assert_eq!(d.forward, Forward::Tunnel, "its own method");
        assert_eq!((d.u_threshold, d.l_threshold), (100, 10));
    }

    #[test]
    fn a_bad_weight_or_address_is_an_error_at_its_word() {
        let e = parse(&real_server("  weight 2147483648")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:6:10: weight '2147483648' is outside range 0..2147483647"
        );
        let e = parse(&real_server("  weight")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:6:3: weight needs a value"
        );
        let text =
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.300 80 {\n }\n}\n";
        let e = parse(text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:3:14: invalid real server address '10.0.0.300'"
        );
    }
}
