//! The certificates and keys of a test control plane: a CA, the API
//! server's serving certificate, the admin's client certificate and the
//! service-account signing key. Made fresh for every control plane; nothing
//! here is ever trusted outside it.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// The names the API server answers to: loopback, and what a pod would use.
const SERVING_NAMES: &[&str] =
    &["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"];

/// The PEM files of one control plane, all in one directory.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The CA certificate every client trusts.
    pub ca: PathBuf,
    /// The API server's certificate.
    pub serving_cert: PathBuf,
    /// Its key.
    pub serving_key: PathBuf,
    /// The admin's client certificate (group `system:masters`).
    pub admin_cert: PathBuf,
    /// Its key.
    pub admin_key: PathBuf,
    /// The key that signs service-account tokens.
    pub service_account_key: PathBuf,
    /// Its public half, which verifies them.
    pub service_account_public_key: PathBuf,
}

impl Pki {
    /// Makes every certificate and key, written under `dir`.
    pub fn create(dir: &Path) -> Result<Pki> {
        let bad = |what: &str, e: rcgen::Error| Error::Invalid { what: what.into(), reason: e.to_string() };
        let ca_key = KeyPair::generate().map_err(|e| bad("CA key", e))?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name = name("ferrolb-lab-ca", None);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).map_err(|e| bad("CA certificate", e))?;
        let issuer = Issuer::new(ca, ca_key);

        let serving_names: Vec<String> = SERVING_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let mut serving = CertificateParams::new(serving_names).map_err(|e| bad("serving names", e))?;
        serving.distinguished_name = name("kube-apiserver", None);
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_key = KeyPair::generate().map_err(|e| bad("serving key", e))?;
        let serving_cert =
            serving.signed_by(&serving_key, &issuer).map_err(|e| bad("serving certificate", e))?;

        // Kubernetes reads a client certificate's CN as the user, O as its groups.
        let mut admin = CertificateParams::default();
        admin.distinguished_name = name("ferrolb-lab-admin", Some("system:masters"));
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_key = KeyPair::generate().map_err(|e| bad("admin key", e))?;
        let admin_cert = admin.signed_by(&admin_key, &issuer).map_err(|e| bad("admin certificate", e))?;

        let service_account_key = KeyPair::generate().map_err(|e| bad("service-account key", e))?;

        let write = |file: &str, pem: String| -> Result<PathBuf> {
            let path = dir.join(file);
            std::fs::write(&path, pem).map_err(|e| Error::io("write", &path, e))?;
            Ok(path)
        };
        Ok(Pki {
            ca: write("ca.crt", ca_cert.pem())?,
            serving_cert: write("apiserver.crt", serving_cert.pem())?,
            serving_key: write("apiserver.key", serving_key.serialize_pem())?,
            admin_cert: write("admin.crt", admin_cert.pem())?,
            admin_key: write("admin.key", admin_key.serialize_pem())?,
            service_account_key: write("service-account.key", service_account_key.serialize_pem())?,
            service_account_public_key: write("service-account.pub", service_account_key.public_key_pem())?,
        })
    }
}

fn name(common: &str, organization: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common);
    if let Some(organization) = organization {
        name.push(DnType::OrganizationName, organization);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_pem_of_its_kind() {
        let dir = std::env::temp_dir().join(format!("flb-pki-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki::create(&dir).unwrap();
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
        for cert in [&pki.ca, &pki.serving_cert, &pki.admin_cert] {
            assert!(read(cert).starts_with("-----BEGIN CERTIFICATE-----"), "{}", cert.display());
        }
        for key in [&pki.serving_key, &pki.admin_key, &pki.service_account_key] {
            assert!(read(key).starts_with("-----BEGIN PRIVATE KEY-----"), "{}", key.display());
        }
        assert!(read(&pki.service_account_public_key).starts_with("-----BEGIN PUBLIC KEY-----"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
