//! A pcap file writer (the classic format, microsecond stamps, Ethernet
//! link type): what DPDK's `net_pcap` PMD replays with `infinite_rx=1`.

use std::io::{self, Write};

/// Writes `frames` as one pcap capture, stamped 1 µs apart.
pub fn write<W: Write>(
    out: &mut W,
    frames: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> io::Result<()> {
    // Magic, version 2.4, no time zone offset, no accuracy, snap length,
    // LINKTYPE_ETHERNET.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    for (i, f) in frames.into_iter().enumerate() {
        let f = f.as_ref();
        let len = u32::try_from(f.len()).map_err(|_| io::Error::other("frame too long"))?;
        out.write_all(&((i / 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&((i % 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(f)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_and_records() {
        let mut out = Vec::new();
        super::write(&mut out, [vec![1u8, 2, 3], vec![4u8; 60]]).expect("write");
        assert_eq!(out.len(), 24 + 16 + 3 + 16 + 60);
        assert_eq!(&out[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(out[20..24].try_into().unwrap()), 1);
        // The second record: stamped 1 µs later, 60 bytes captured and on the wire.
        let r = &out[24 + 16 + 3..];
        assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), 60);
        assert_eq!(u32::from_le_bytes(r[12..16].try_into().unwrap()), 60);
        assert_eq!(&r[16..], &[4u8; 60][..]);
    }
}
