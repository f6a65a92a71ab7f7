//! The extra CA certificates (`--cacert`) that https nodes may be verified against.

use std::path::Path;

use reqwest::Certificate;

use super::SetupError;
use super::failure::error_chain;
use crate::vocab::trust;

/// What to do about an unusable `--cacert` file.
pub(super) const CA_HINT: &str = "give --cacert (CLUSTER_CLIENT_CACERT) a PEM file with one or more \
                       -----BEGIN CERTIFICATE----- blocks, such as your CA's ca.crt";

/// The largest CA file read: a few hundred certificates, more than the
/// whole Mozilla bundle.
pub const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// How a CA file is checked: it decides whom https trusts, so it is read
/// only if no one but the user or root could have written it.
const CA_FILE: trust::FileRules = trust::FileRules {
    role: "CA file",
    option: "--cacert (CLUSTER_CLIENT_CACERT)",
    max_bytes: MAX_CA_FILE_BYTES,
    secret: false,
};

/// Every certificate in the PEM file at `path`, read only if it, every
/// directory above it and every link on the way could only have been
/// written by the user or root ([`trust::read_checked`]; a Kubernetes
/// ConfigMap mount passes).
pub(super) fn read_ca_bundle(path: &Path) -> Result<Vec<Certificate>, SetupError> {
    let pem = trust::read_checked(path, &CA_FILE).map_err(|e| match e {
        trust::CheckedError::Unreadable(e) => SetupError(format!(
            "cannot read the CA certificate file {}: {e}; {CA_HINT}",
            path.display()
        )),
        trust::CheckedError::Untrusted(distrust) => SetupError(format!(
            "refusing --cacert file {}: {}. Nothing was sent to any node; fix: {}",
            path.display(),
            distrust.problem,
            distrust.fix
        )),
    })?;
    let certificates = Certificate::from_pem_bundle(&pem).map_err(|e| {
        SetupError(format!(
            "the CA certificate file {} is not valid PEM: {}; {CA_HINT}",
            path.display(),
            error_chain(&e)
        ))
    })?;
    if certificates.is_empty() {
        return Err(SetupError(format!(
            "the CA certificate file {} holds no certificate; {CA_HINT}",
            path.display()
        )));
    }
    Ok(certificates)
}
