//! Framing on the socket: a 4-byte big-endian length and that many bytes
//! of JSON, and a one-call client.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::*;

/// Write one frame: length, then JSON.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("message too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    /// The announced length is over the limit; nothing more was read.
    TooLarge {
        len: usize,
        max: usize,
    },
    /// The body is not a valid message.
    Decode(serde_json::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes is over the limit of {max}")
            }
            FrameError::Decode(e) => write!(f, "undecodable message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Read one frame of at most `max` bytes and decode it.
pub fn read_frame<R: Read, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    max: usize,
) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(FrameError::Io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(FrameError::Io)?;
    serde_json::from_slice(&body).map_err(FrameError::Decode)
}

/// The socket path a client should use: `RVS_ADMIN_SOCKET`, else the default.
pub fn socket_path_from_env() -> String {
    std::env::var(SOCKET_ENV).unwrap_or_else(|_| DEFAULT_SOCKET_PATH.to_string())
}

/// Send one request and wait for its response.
pub fn call(path: impl AsRef<Path>, request: Request) -> Result<Response, FrameError> {
    let mut stream = UnixStream::connect(path).map_err(FrameError::Io)?;
    let timeout = Some(Duration::from_secs(10));
    stream.set_read_timeout(timeout).map_err(FrameError::Io)?;
    stream.set_write_timeout(timeout).map_err(FrameError::Io)?;
    let envelope = Envelope {
        version: API_VERSION,
        request,
    };
    write_frame(&mut stream, &envelope).map_err(FrameError::Io)?;
    read_frame(&mut stream, RESPONSE_BYTES_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let req = Envelope {
            version: API_VERSION,
            request: Request::AddService {
                key: ServiceKey::Inet {
                    protocol: Protocol::Tcp,
                    addr: "198.18.0.100:80".parse().unwrap(),
                },
                config: ServiceConfig::new("rr"),
            },
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &req).unwrap();
        let back: Envelope = read_frame(&mut buf.as_slice(), REQUEST_BYTES_MAX).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn oversized_frame_is_refused_before_reading() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&((REQUEST_BYTES_MAX as u32) + 1).to_be_bytes());
        let err = read_frame::<_, Envelope>(&mut buf.as_slice(), REQUEST_BYTES_MAX).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&3u32.to_be_bytes());
        buf.extend_from_slice(b"{x}");
        let err = read_frame::<_, Envelope>(&mut buf.as_slice(), REQUEST_BYTES_MAX).unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)));
    }
}
