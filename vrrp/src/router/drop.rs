//! Why an advert was not taken: keepalived's names for its checks' failures.

use crate::wire::WireError;

/// Why an advert was not taken, named after keepalived's per-instance
/// statistics (`vrrp_t.stats`, its `--signum=STATS` dump and SNMP
/// `vrrpStatistics`) where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than its header or than its address list says.
    PacketLen,
    /// Not version 2 or 3, or not the instance's version.
    Version,
    /// Not an advertisement (type 1).
    InvalidType,
    /// The checksum does not match.
    Checksum,
    /// VRID 0.
    Vrid,
    /// Interval 0, or (v2) not the instance's `advert_int`.
    AdvertInterval,
    /// TTL or hop limit not 255 (multicast).
    IpTtl,
    /// An authentication type rvs does not know (AH).
    InvalidAuthType,
    /// Another authentication type than the instance's.
    AuthTypeMismatch,
    /// The password differs.
    AuthFailure,
    /// Not as many addresses as the instance's, or one of its missing.
    AddrList,
    /// Addresses of the other family.
    Family,
}

impl DropReason {
    pub const ALL: [DropReason; 12] = [
        DropReason::PacketLen,
        DropReason::Version,
        DropReason::InvalidType,
        DropReason::Checksum,
        DropReason::Vrid,
        DropReason::AdvertInterval,
        DropReason::IpTtl,
        DropReason::InvalidAuthType,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
        DropReason::AddrList,
        DropReason::Family,
    ];

    /// The metric label: keepalived's statistics field where it has one.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::PacketLen => "packet_len_err",
            DropReason::Version => "version_err",
            DropReason::InvalidType => "invalid_type_rcvd",
            DropReason::Checksum => "checksum_err",
            DropReason::Vrid => "vrid_err",
            DropReason::AdvertInterval => "advert_interval_err",
            DropReason::IpTtl => "ip_ttl_err",
            DropReason::InvalidAuthType => "invalid_authtype",
            DropReason::AuthTypeMismatch => "authtype_mismatch",
            DropReason::AuthFailure => "auth_failure",
            DropReason::AddrList => "addr_list_err",
            DropReason::Family => "family_err",
        }
    }

    /// The log line (keepalived's words where it logs one).
    pub fn message(self) -> &'static str {
        match self {
            DropReason::PacketLen => "invalid packet length",
            DropReason::Version => "wrong VRRP version",
            DropReason::InvalidType => "invalid packet type",
            DropReason::Checksum => "invalid VRRP checksum",
            DropReason::Vrid => "invalid VRID",
            DropReason::AdvertInterval => "advertisement interval mismatch",
            DropReason::IpTtl => "invalid TTL/HL",
            DropReason::InvalidAuthType => "invalid authentication type",
            DropReason::AuthTypeMismatch => {
                "received a packet with a different authentication type"
            }
            DropReason::AuthFailure => "received an invalid passwd",
            DropReason::AddrList => {
                "one or more VIP associated with VRID mismatch actual MASTER advert"
            }
            DropReason::Family => "addresses of the wrong family",
        }
    }

    /// The reason a decoding error counts as.
    pub fn of_wire(e: &WireError) -> DropReason {
        match e {
            WireError::Truncated | WireError::BadLength => DropReason::PacketLen,
            WireError::BadVersion(_) => DropReason::Version,
            WireError::BadType(_) => DropReason::InvalidType,
            WireError::BadChecksum => DropReason::Checksum,
            WireError::UnsupportedAuth(_) => DropReason::InvalidAuthType,
            WireError::BadField(w) if w.contains("router id") => DropReason::Vrid,
            WireError::BadField(_) => DropReason::AdvertInterval,
            WireError::BadFamily => DropReason::Family,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::tests::{advert_from, router};
    use crate::wire::Version;

    /// Every wire error is named, and every label is distinct (they are
    /// `/metrics` label values).
    #[test]
    fn drop_reasons_name_wire_errors_and_are_distinct() {
        use crate::wire::{decode, encode, Checksum};
        let good = advert_from(&router(Version::V2, 200, "10.0.0.2"), 200);
        let bytes = encode(&good, None, Checksum::AsV2);
        let cases: [(Vec<u8>, DropReason); 5] = [
            (bytes[..6].to_vec(), DropReason::PacketLen),
            (bytes[..bytes.len() - 1].to_vec(), DropReason::PacketLen),
            (
                {
                    let mut b = bytes.clone();
                    b[0] = 0x22;
                    b
                },
                DropReason::InvalidType,
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[0] = 0x71;
                    b
                },
                DropReason::Version,
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[2] ^= 1;
                    b
                },
                DropReason::Checksum,
            ),
        ];
        for (b, want) in cases {
            let e = decode(&b, false, None, Checksum::AsV2).unwrap_err();
            assert_eq!(DropReason::of_wire(&e), want, "{e:?}");
        }
        let mut labels: Vec<&str> = DropReason::ALL.iter().map(|r| r.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), DropReason::ALL.len());
    }
}
