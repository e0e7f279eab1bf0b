//! TCP_CHECK (keepalived's `check_tcp.c`): up when a connection opens.

#![forbid(unsafe_code)]

use super::{tcp_connect, Target};

/// A TCP_CHECK: the connection opens (the caller bounds the time).
pub(super) async fn tcp(target: &Target) -> Result<(), String> {
    tcp_connect(target).await.map(drop)
}

#[cfg(test)]
mod tests {
    use crate::config::CheckKind;
    use crate::health::machine::Verdict;
    use crate::health::probe::probe;
    use crate::health::probe::testing::*;
    use std::net::{Ipv4Addr, SocketAddr};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn tcp_up_and_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let t = target(listener.local_addr().unwrap(), 1000);
        assert_eq!(probe(&CheckKind::Tcp, &t, None).await, Verdict::Up);
        let v = probe(&CheckKind::Tcp, &target(closed_port(), 1000), None).await;
        assert!(down_with(&v, "connection refused"), "{v:?}");
    }

    #[tokio::test]
    async fn tcp_bind_source() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut t = target(listener.local_addr().unwrap(), 1000);
        t.bind = Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0));
        assert_eq!(probe(&CheckKind::Tcp, &t, None).await, Verdict::Up);
        // A fixed source port.
        let port = closed_port().port();
        t.bind = Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
        assert_eq!(probe(&CheckKind::Tcp, &t, None).await, Verdict::Up);
        // A source address of the wrong family cannot be bound.
        t.bind = Some("[::1]:0".parse().unwrap());
        assert!(matches!(
            probe(&CheckKind::Tcp, &t, None).await,
            Verdict::Down(_)
        ));
    }
}
