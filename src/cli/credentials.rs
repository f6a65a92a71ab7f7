//! The credentials the command line names: the token (from `--token-file` or
//! `CLUSTER_CLIENT_TOKEN`) and the `--cacert` file, either of which may be optional where a
//! Kubernetes Secret volume may be empty.

use std::path::{Path, PathBuf};

use crate::cli::args::Credentials;
use cluster_client::error::InputError;
use cluster_client::vocab::secret::Token;

/// The bearer token `given` names, read and checked; `None` when none is
/// (or an optional token file is not there).
pub fn token(given: &Credentials) -> Result<Option<Token>, InputError> {
    let file = present(
        given.token_file.as_deref(),
        given.token_file_optional,
        "--token-file",
        "sending no token from it",
    );
    read_token(file)
}

/// The CA file `given` names; `None` when none is (or an optional one is
/// not there).
pub fn ca_file(given: &Credentials) -> Option<PathBuf> {
    present(
        given.cacert.as_deref(),
        given.cacert_optional,
        "--cacert",
        "trusting the built-in roots only",
    )
    .map(Path::to_owned)
}

/// Refuses `--token-file-optional` or `--cacert-optional` without the file.
// Note: checked here, not with clap's `requires`, which would word it as a usage error
// naming neither variable.
pub fn check_optional_files(credentials: &Credentials) -> Result<(), InputError> {
    for (optional, file, flag, variable) in [
        (
            credentials.token_file_optional,
            &credentials.token_file,
            "--token-file",
            "CLUSTER_CLIENT_TOKEN_FILE_OPTIONAL",
        ),
        (
            credentials.cacert_optional,
            &credentials.cacert,
            "--cacert",
            "CLUSTER_CLIENT_CACERT_OPTIONAL",
        ),
    ] {
        if optional && file.is_none() {
            return Err(InputError::Invalid(format!(
                "{flag}-optional ({variable}) makes a {flag} file optional, but none is \
                 given; add {flag} FILE or drop the option"
            )));
        }
    }
    Ok(())
}

/// `file`, or `None` when it is `optional` and absent from a directory that
/// exists (an optional Kubernetes Secret volume without its Secret). An info
/// line names `flag` and says what happens `instead`.
fn present<'a>(
    file: Option<&'a Path>,
    optional: bool,
    flag: &str,
    instead: &str,
) -> Option<&'a Path> {
    let path = file?;
    if optional && absent_from_its_directory(path) {
        log::info!(
            "{flag} {} is not there ({flag}-optional): {instead}",
            path.display()
        );
        return None;
    }
    Some(path)
}

/// The bearer token: `--token-file` (or `CLUSTER_CLIENT_TOKEN_FILE`) wins
/// over `CLUSTER_CLIENT_TOKEN`. Neither set means no credentials.
fn read_token(file: Option<&Path>) -> Result<Option<Token>, InputError> {
    if let Some(path) = file {
        return cluster_client::vocab::secret::read_token_file(path).map(Some);
    }
    Ok(std::env::var("CLUSTER_CLIENT_TOKEN")
        .ok()
        .and_then(|value| Token::new(&value)))
}

/// True when `path` names nothing, not even a dangling link, in a directory
/// that exists: what an optional Kubernetes Secret volume holds while the
/// Secret is missing. A missing directory is more likely a wrong path.
fn absent_from_its_directory(path: &Path) -> bool {
    let directory_exists = path
        .parent()
        .is_some_and(|dir| dir.as_os_str().is_empty() || dir.is_dir());
    directory_exists
        && std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
}
