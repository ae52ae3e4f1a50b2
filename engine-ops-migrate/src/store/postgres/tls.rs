//! TLS for the PostgreSQL store: `sslmode` and `sslrootcert` as libpq reads
//! them, on rustls with ring.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the store uses TLS, with libpq's meanings (`sslmode` in the URL).
///
/// The default is [`Prefer`](Self::Prefer), as for libpq and psql.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, without checking its certificate;
    /// plain TCP when it does not.
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless
    /// `sslrootcert` is given: then as [`VerifyCa`](Self::VerifyCa)).
    /// Protects against eavesdropping, not against a server impersonated.
    Require,
    /// TLS, and the certificate must chain to a trusted root; the host name
    /// is not checked.
    VerifyCa,
    /// TLS, the certificate must chain to a trusted root and name the host
    /// connected to. What a managed server on the internet needs.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode=allow (plain first, TLS if refused) is not supported; use prefer or disable".into(),
                );
            }
            other => {
                return Err(format!(
                    "unknown sslmode {other:?}; use disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TLS settings of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    /// `sslrootcert`: a PEM file, or `None` for the system's roots.
    pub(crate) root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// The mode in effect: `require` with a root certificate checks the
    /// chain, as libpq does.
    fn effective(&self) -> SslMode {
        match self.mode {
            SslMode::Require if self.root_cert.is_some() => SslMode::VerifyCa,
            mode => mode,
        }
    }

    /// `sslmode=…` (and the roots, for the verifying modes), for messages.
    pub(crate) fn describe(&self) -> String {
        let mode = self.effective();
        match mode {
            SslMode::VerifyCa | SslMode::VerifyFull => format!(
                "sslmode={}, trusting {}",
                self.mode,
                self.root_cert.as_ref().map_or_else(
                    || "the system's root certificates".to_owned(),
                    |p| format!("sslrootcert={}", p.display())
                )
            ),
            _ => format!("sslmode={}", self.mode),
        }
    }

    /// The settings of a tokio-postgres configuration (which knows
    /// `disable`, `prefer` and `require`).
    pub(crate) fn of_config(config: &tokio_postgres::Config) -> Self {
        Self {
            mode: match config.get_ssl_mode() {
                tokio_postgres::config::SslMode::Disable => SslMode::Disable,
                tokio_postgres::config::SslMode::Require => SslMode::Require,
                _ => SslMode::Prefer,
            },
            root_cert: None,
        }
    }

    /// Sets `config`'s TLS mode and builds the connector (`None`: plain
    /// TCP).
    pub(crate) fn connector(
        &self,
        config: &mut tokio_postgres::Config,
    ) -> Result<Option<MakeRustlsConnect>, String> {
        let mode = self.effective();
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        if mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match mode {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("cannot set up TLS certificate checks: {e}"))?;
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                }
            }
            _ => Arc::new(Unchecked(provider)),
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(MakeRustlsConnect::new(config)))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read sslrootcert={} ({e})", path.display()))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| {
                        format!(
                            "sslrootcert={} is not a PEM certificate file ({e})",
                            path.display()
                        )
                    })?;
                    roots.add(cert).map_err(|e| {
                        format!(
                            "sslrootcert={} holds a certificate that cannot be a root ({e})",
                            path.display()
                        )
                    })?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "sslrootcert={} holds no certificate; give the PEM file of the CA that signed the server's certificate",
                        path.display()
                    ));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(
                        "the system has no root certificates to check the server's against; give sslrootcert=PATH (the CA's PEM file)".into(),
                    );
                }
            }
        }
        Ok(roots)
    }
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (URL or
/// `key=value` form), for tokio-postgres, which knows neither `verify-*`
/// nor `sslrootcert`. Client certificates (`sslcert`, `sslkey`) are
/// refused with a message.
pub(crate) fn split(conn: &str) -> Result<(String, TlsSettings), String> {
    let mut settings = TlsSettings::default();
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => settings.mode = SslMode::parse(value)?,
            "sslrootcert" => {
                settings.root_cert = (value != "system").then(|| PathBuf::from(value));
            }
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(format!(
                    "{key}: client certificates are not supported; authenticate with a password"
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else {
            return Ok((conn.to_owned(), settings));
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(&percent_decode(key)?, &percent_decode(value)?)? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut out = String::with_capacity(conn.len());
        for (start, end, key, value) in key_values(conn)? {
            if !take(&key, &value)? {
                out.push_str(&conn[start..end]);
                out.push(' ');
            }
        }
        out.trim_end().to_owned()
    };
    Ok((rest, settings))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in the URL near {:?}", &text[i..]))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's percent-encoding is not UTF-8".to_owned())
}

/// The `key=value` pairs of a libpq connection string, with their byte
/// ranges: values may be single-quoted, with `\` escaping.
fn key_values(conn: &str) -> Result<Vec<(usize, usize, String, String)>, String> {
    let bytes = conn.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= bytes.len() {
            return Ok(out);
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = conn[start..i].to_owned();
        i = skip_ws(i);
        if bytes.get(i) != Some(&b'=') {
            return Err(format!("connection string: expected `=` after {key:?}"));
        }
        i = skip_ws(i + 1);
        let mut value = Vec::new();
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(format!("connection string: unclosed quote in {key}")),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        let value = String::from_utf8(value)
            .map_err(|_| format!("connection string: {key} is not UTF-8"))?;
        out.push((start, i, key, value));
    }
}

/// Why a connection attempt failed, when TLS is the reason: a sentence
/// naming the setting to change.
pub(crate) fn explain(
    err: &tokio_postgres::Error,
    settings: &TlsSettings,
    host: &str,
) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        // tokio-rustls wraps the rustls error in an `io::Error`, whose
        // `source` skips it: look inside.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        let tls = e
            .downcast_ref::<rustls::Error>()
            .or_else(|| inner.and_then(|i| i.downcast_ref::<rustls::Error>()));
        if let Some(tls) = tls {
            return Some(match tls {
                rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer | CertificateError::BadSignature,
                ) => format!(
                    "the server's TLS certificate is not signed by a trusted authority ({}); give the PEM file of the CA that signed it with sslrootcert=PATH",
                    settings.describe()
                ),
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => format!(
                    "the server's TLS certificate does not name the host {host} ({}); connect by a name the certificate lists, or use sslmode=verify-ca to check the chain only",
                    settings.describe()
                ),
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                ) => format!(
                    "the server's TLS certificate has expired ({}); renew it on the server",
                    settings.describe()
                ),
                other => format!(
                    "the TLS handshake failed ({other}; {})",
                    settings.describe()
                ),
            });
        }
        cause = e.source();
    }
    let text = err.to_string();
    (settings.effective() != SslMode::Prefer
        && settings.effective() != SslMode::Disable
        && (text.contains("server does not support TLS") || chain_mentions(err, "server does not support TLS")))
    .then(|| {
        format!(
            "the server does not accept TLS, and {} requires it; turn ssl on in the server, or use sslmode=prefer or sslmode=disable on a trusted network",
            settings.describe()
        )
    })
}

fn chain_mentions(err: &tokio_postgres::Error, needle: &str) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cause {
        if e.to_string().contains(needle) {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require`: any certificate, as libpq; the handshake's
/// signatures are still checked, so the session is bound to the key the
/// server presented.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_are_taken_out_and_the_rest_kept() {
        let (rest, s) =
            split("postgres://u:p@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fca%20dir%2Fca.pem")
                .expect("parses");
        assert_eq!(rest, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.root_cert, Some(PathBuf::from("/ca dir/ca.pem")));

        let (rest, s) = split("postgresql://h/db?sslmode=require").expect("parses");
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(
            (s.mode, s.effective()),
            (SslMode::Require, SslMode::Require)
        );

        let (rest, s) = split("postgres://h/db").expect("parses");
        assert_eq!(
            (rest.as_str(), s.mode),
            ("postgres://h/db", SslMode::Prefer)
        );

        let (_, s) = split("postgres://h/db?sslmode=require&sslrootcert=/ca.pem").expect("parses");
        assert_eq!(
            s.effective(),
            SslMode::VerifyCa,
            "libpq: require + a root file checks the chain"
        );
        let (_, s) =
            split("postgres://h/db?sslmode=verify-full&sslrootcert=system").expect("parses");
        assert_eq!(s.root_cert, None);
    }

    #[test]
    fn key_value_strings_keep_their_quoting() {
        let (rest, s) = split(
            "host=localhost sslmode = verify-ca  sslrootcert='/a b/c\\'s.pem' password='x y' dbname=d",
        )
        .expect("parses");
        assert_eq!(rest, "host=localhost password='x y' dbname=d");
        assert_eq!(s.mode, SslMode::VerifyCa);
        assert_eq!(s.root_cert, Some(PathBuf::from("/a b/c's.pem")));
        assert!(split("host=h sslmode='unclosed").is_err());
        assert!(split("host").is_err());
    }

    #[test]
    fn unsupported_settings_are_named() {
        let err = |c: &str| split(c).expect_err(c);
        assert!(
            err("postgres://h/db?sslmode=verify_full").contains("unknown sslmode \"verify_full\"")
        );
        assert!(err("postgres://h/db?sslmode=allow").contains("not supported"));
        assert!(err("postgres://h/db?sslcert=/c.pem").contains("client certificates"));
        assert!(err("postgres://h/db?sslmode=%zz").contains("percent-encoding"));
    }

    #[test]
    fn a_missing_or_empty_root_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = tokio_postgres::Config::new();
        let missing = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(dir.path().join("nope.pem")),
        };
        let err = missing.connector(&mut config).err().expect("refused");
        assert!(err.contains("cannot read sslrootcert="), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(empty),
        }
        .connector(&mut config)
        .err()
        .expect("refused");
        assert!(err.contains("holds no certificate"), "{err}");
        let plain = TlsSettings {
            mode: SslMode::Disable,
            root_cert: None,
        };
        assert!(plain.connector(&mut config).expect("plain").is_none());
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
    }
}
