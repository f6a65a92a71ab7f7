//! The cluster-client binary: its whole face (arguments, configuration, the run, rendering,
//! exit status) lives in `cli/`; the client itself is the `cluster_client` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
