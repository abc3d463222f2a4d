//! The client certificate of an mTLS connection, parsed once per connection into the fields
//! requests see as `$context.identity.clientCert.*` (named and formatted as AWS's).

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// `CN=client, O=Example` (attributes in certificate order).
    pub subject_dn: String,
    pub issuer_dn: String,
    /// Hex bytes separated by colons, `1f:03:…`.
    pub serial_number: String,
    /// `May 28 12:30:02 2019 GMT`.
    pub not_before: String,
    pub not_after: String,
    /// The custom domain (SNI name) whose truststore verified the certificate.
    pub domain: String,
    /// SHA-256 of that truststore's PEM when it did.
    pub truststore: [u8; 32],
}

/// One of the fields mappings can read, by its AWS name after `clientCert.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertField {
    SubjectDn,
    IssuerDn,
    SerialNumber,
    NotBefore,
    NotAfter,
}

impl ClientCertField {
    /// `subjectDN`, `issuerDN`, `serialNumber`, `validity.notBefore`, `validity.notAfter`.
    pub fn parse(name: &str) -> Option<ClientCertField> {
        Some(match name {
            "subjectDN" => Self::SubjectDn,
            "issuerDN" => Self::IssuerDn,
            "serialNumber" => Self::SerialNumber,
            "validity.notBefore" => Self::NotBefore,
            "validity.notAfter" => Self::NotAfter,
            _ => return None,
        })
    }
}

impl ClientCert {
    pub fn parse(
        der: &CertificateDer<'_>,
        domain: String,
        truststore: [u8; 32],
    ) -> Result<ClientCert, String> {
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| format!("client certificate: {e}"))?;
        let validity = cert.validity();
        Ok(ClientCert {
            subject_dn: cert.subject().to_string(),
            issuer_dn: cert.issuer().to_string(),
            serial_number: cert.raw_serial_as_string(),
            not_before: gmt(&validity.not_before),
            not_after: gmt(&validity.not_after),
            domain,
            truststore,
        })
    }

    pub fn field(&self, field: ClientCertField) -> &str {
        match field {
            ClientCertField::SubjectDn => &self.subject_dn,
            ClientCertField::IssuerDn => &self.issuer_dn,
            ClientCertField::SerialNumber => &self.serial_number,
            ClientCertField::NotBefore => &self.not_before,
            ClientCertField::NotAfter => &self.not_after,
        }
    }
}

/// OpenSSL's (and AWS's) form. Certificate times are UTC, which x509-parser writes `+00:00`.
fn gmt(time: &ASN1Time) -> String {
    let text = time.to_string();
    match text.strip_suffix(" +00:00") {
        Some(utc) => format!("{utc} GMT"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(vec!["client.test".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client one");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        params.serial_number = Some(vec![0x1f, 0x03, 0xab].into());
        params.not_before = rcgen::date_time_ymd(2024, 5, 8);
        params.not_after = rcgen::date_time_ymd(2030, 12, 31);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn fields_are_named_and_formatted_as_aws_does() {
        let cert = ClientCert::parse(&cert(), "a.test".into(), [7; 32]).unwrap();
        assert_eq!(cert.subject_dn, "CN=client one, O=Example");
        assert_eq!(cert.issuer_dn, cert.subject_dn, "self-signed");
        assert_eq!(cert.serial_number, "1f:03:ab");
        assert_eq!(cert.not_before, "May  8 00:00:00 2024 GMT");
        assert_eq!(cert.not_after, "Dec 31 00:00:00 2030 GMT");
        let field = ClientCertField::parse("validity.notAfter").unwrap();
        assert_eq!(cert.field(field), cert.not_after);
        assert!(ClientCertField::parse("clientCertPem").is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x02]);
        assert!(ClientCert::parse(&junk, String::new(), [0; 32]).is_err());
    }
}
