//! The extra CA certificates (`--cacert`) that https nodes may be verified against.

use std::path::Path;

use reqwest::Certificate;

use super::SetupError;
use super::failure::error_chain;

/// What to do about an unusable `--cacert` file.
pub(super) const CA_HINT: &str = "give --cacert (CLUSTER_CLIENT_CACERT) a PEM file with one or more \
                       -----BEGIN CERTIFICATE----- blocks, such as your CA's ca.crt";

/// Every certificate in the PEM file at `path`.
pub(super) fn read_ca_bundle(path: &Path) -> Result<Vec<Certificate>, SetupError> {
    let pem = std::fs::read(path).map_err(|e| {
        SetupError(format!(
            "cannot read the CA certificate file {}: {e}; {CA_HINT}",
            path.display()
        ))
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
