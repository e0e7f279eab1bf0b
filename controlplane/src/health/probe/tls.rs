//! SSL_GET's TLS client (rustls, the ring provider): the `SSL` block's
//! CA, client certificate and key; no verification without a CA, as
//! keepalived.

#![forbid(unsafe_code)]

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::Ssl;

/// The TLS client of SSL_GET: the ring provider; the `SSL` block's `ca`
/// verifies the server, else anything is accepted; its `certificate` and
/// `key` (default: the certificate file) are the client's, in PEM.
pub fn tls_config(ssl: Option<&Ssl>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match ssl.and_then(|s| s.ca.as_deref()) {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            let certs =
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("ssl ca {ca}: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("ssl ca {ca}: {e}"))?;
                roots.add(cert).map_err(|e| format!("ssl ca {ca}: {e}"))?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider))),
    };
    let config = match ssl.and_then(|s| s.certificate.as_deref()) {
        Some(cert) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("ssl certificate {cert}: {e}"))?;
            let key_file = ssl.and_then(|s| s.key.as_deref()).unwrap_or(cert);
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|e| format!("ssl key {key_file}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("ssl certificate {cert}: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// keepalived's default: no verification of the server's certificate nor
/// of its handshake signature (without the certificate checked, the
/// signature proves nothing, and checking it could only fail a server whose
/// key ring refuses, such as a legacy 1024-bit RSA one).
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use crate::config::HttpProtocol;
    use crate::health::machine::Verdict;
    use crate::health::probe::genhash;
    use crate::health::probe::http::md5_hex;
    use crate::health::probe::probe;
    use crate::health::probe::testing::*;
    use std::process::Stdio;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A self-signed certificate and key made by the openssl command, or
    /// `None` (the test is skipped) when it is not installed.
    fn self_signed() -> Option<(String, String)> {
        let dir = std::env::temp_dir().join(format!("rvs-probe-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| (cert.display().to_string(), key.display().to_string()))
    }

    #[tokio::test]
    async fn ssl_get_live() {
        let Some((cert, key)) = self_signed() else {
            println!("skipped: no openssl command to make a certificate");
            return;
        };
        let chain: Vec<_> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(&key).unwrap())
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = b"secure health";
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(conn).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls.write_all(&response("200 OK", body)).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        let mut u = url("/");
        u.digest = Some(md5_hex(body));
        let CheckKind::Http(mut h) = http_check(vec![u], HttpProtocol::Http11) else {
            unreachable!()
        };
        h.enable_sni = true;
        h.sni_name = Some("localhost".to_string());
        h.tls_compliant = true;
        let t = target(addr, 2000);
        assert_eq!(
            probe(&CheckKind::Ssl(h.clone()), &t, None).await,
            Verdict::Up
        );
        // A client certificate from the SSL block loads (the server ignores it).
        let ssl = Ssl {
            certificate: Some(cert.clone()),
            key: Some(key.clone()),
            ..Ssl::default()
        };
        assert_eq!(
            probe(&CheckKind::Ssl(h.clone()), &t, Some(&ssl)).await,
            Verdict::Up
        );
        let got = genhash(
            addr,
            "/",
            None,
            true,
            HttpProtocol::Http10,
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(got, Ok((200, md5_hex(body))));
        // Plain HTTP to a TLS server fails.
        let v = probe(&CheckKind::Http(h), &t, None).await;
        assert!(matches!(v, Verdict::Down(_)), "{v:?}");
        let _ = std::fs::remove_file(cert);
        let _ = std::fs::remove_file(key);
    }

    #[test]
    fn tls_config_builds() {
        assert!(tls_config(None).is_ok());
        let missing = Ssl {
            ca: Some("/nonexistent/ca.pem".to_string()),
            ..Ssl::default()
        };
        let e = tls_config(Some(&missing)).unwrap_err();
        assert!(e.contains("ssl ca /nonexistent/ca.pem"), "{e}");
    }
}
