//! The cluster's certificates: one CA per cluster, and a certificate per node that the peer
//! channel (QUIC, mutual TLS) presents both as server and as client. Peers verify each other
//! by chain to the CA and by server name = node id, so a node certificate always carries
//! `DNS:<node id>`.

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A new cluster CA valid for `days`: it may sign node certificates only (path length 0).
pub fn new_ca(common_name: &str, days: u32) -> anyhow::Result<CertAndKey> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, days)?;
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A node certificate signed by `ca`: subject CN and SAN `DNS:<node_id>`, plus `sans` (DNS
/// names or IP addresses), usable for TLS servers and clients.
pub fn new_node_cert(
    ca: &CertAndKey,
    node_id: &str,
    sans: &[String],
    days: u32,
) -> anyhow::Result<CertAndKey> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).context("the CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).context("the CA certificate")?;
    let mut names = vec![node_id.to_string()];
    names.extend(sans.iter().filter(|s| s.as_str() != node_id).cloned());
    for name in &names {
        // What a TLS client can ask for: peers ask for the node id as a DNS name.
        let ip = name.parse::<std::net::IpAddr>().is_ok();
        if !ip && rustls::pki_types::DnsName::try_from(name.as_str()).is_err() {
            bail!("'{name}' is neither a DNS name nor an IP address (node ids must be DNS names)");
        }
    }
    let mut params = CertificateParams::new(names).with_context(|| {
        format!("node id '{node_id}' and --san values must be DNS names or IP addresses")
    })?;
    params.distinguished_name.push(DnType::CommonName, node_id);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days)?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Valid from an hour ago (clocks of a cluster differ a little) for `days`.
fn validity(params: &mut CertificateParams, days: u32) -> anyhow::Result<()> {
    if days == 0 {
        bail!("--days must be at least 1");
    }
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days.into());
    Ok(())
}

/// `certs init`: writes `ca.pem` and `ca.key` (mode 0600) into `out`; refuses to overwrite.
pub fn init(out: &Path, common_name: &str, days: u32) -> anyhow::Result<(PathBuf, PathBuf)> {
    let ca = new_ca(common_name, days)?;
    write_pair(out, CA_CERT, CA_KEY, &ca)
}

/// Reads `ca.pem` and `ca.key` from `dir`.
pub fn read_ca(dir: &Path) -> anyhow::Result<CertAndKey> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))
    };
    Ok(CertAndKey {
        cert_pem: read(CA_CERT)?,
        key_pem: read(CA_KEY)?,
    })
}

/// `certs issue`: writes `<node_id>.pem` and `<node_id>.key` (mode 0600) into `out`, signed by
/// the CA in `ca_dir`; refuses to overwrite.
pub fn issue(
    ca_dir: &Path,
    node_id: &str,
    out: &Path,
    sans: &[String],
    days: u32,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    if node_id.is_empty() || node_id.contains(['/', '\\']) || node_id.starts_with('.') {
        bail!("node id '{node_id}' cannot name a file");
    }
    let ca = read_ca(ca_dir)?;
    let cert = new_node_cert(&ca, node_id, sans, days)?;
    write_pair(
        out,
        &format!("{node_id}.pem"),
        &format!("{node_id}.key"),
        &cert,
    )
}

fn write_pair(
    dir: &Path,
    cert_name: &str,
    key_name: &str,
    pair: &CertAndKey,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let (cert, key) = (dir.join(cert_name), dir.join(key_name));
    for path in [&cert, &key] {
        if path.exists() {
            bail!("{} exists: refusing to overwrite it", path.display());
        }
    }
    write_new(&key, &pair.key_pem, 0o600)?;
    write_new(&cert, &pair.cert_pem, 0o644)?;
    Ok((cert, key))
}

/// Creates `path` with `mode` (never replacing a file) and fsyncs it.
fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
