//! A guided tour on a local demo cluster: three nodes on 127.0.0.1, the third one flaky.
//!
//! `cargo run --example demo` builds the real `cluster-client` binary (if
//! it is not built yet), runs it against nodes started in this process, and
//! explains each step as it goes.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use cluster_testnode::{Fault, Rule, TestNode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let nodes = cluster_testnode::cluster(3);
    let hosts = dir.path().join("hosts.txt");
    let journal = dir.path().join("journal.json");
    let listing: String = nodes.iter().map(|n| format!("{}\n", n.url())).collect();
    std::fs::write(&hosts, format!("# demo cluster\n{listing}"))?;

    let mut out = std::io::stdout();
    let demo = Demo {
        binary: binary()?,
        hosts: hosts.display().to_string(),
        journal: journal.display().to_string(),
    };
    writeln!(
        out,
        "Demo cluster: three local nodes; the third one will misbehave."
    )?;
    write!(out, "{listing}")?;
    writeln!(out, "Journal: {}", demo.journal)?;

    demo.step(
        &mut out,
        "All nodes healthy: create a group everywhere.",
        &["create", "team-a"],
    )?;
    demo.step(
        &mut out,
        "Check it: every node answers and agrees.",
        &["status", "team-a"],
    )?;

    flaky(&nodes[2], Fault::Status(500));
    demo.step(
        &mut out,
        "Node 3 now answers 500 to every create. The first two nodes are rolled back, \
         so team-b ends up on no node (exit 1).",
        &["create", "team-b"],
    )?;
    demo.step(&mut out, "Nothing was left behind:", &["status", "team-b"])?;

    nodes[0].add_rule(Rule::new(Fault::Reset).method("DELETE"));
    demo.step(
        &mut out,
        "Node 3 still fails creates, and node 1 now resets every delete, so the \
         rollback itself fails there. The undo is kept in the journal (exit 3).",
        &["create", "team-c"],
    )?;
    writeln!(out, "\nThe journal now holds the pending undo:")?;
    write!(out, "{}", std::fs::read_to_string(&journal)?)?;
    demo.step(
        &mut out,
        "Every invocation replays the journal first; node 1 still fails, so the \
         repair stays pending and creating team-c again is refused (exit 3).",
        &["create", "team-c"],
    )?;

    nodes[0].clear_rules();
    nodes[2].clear_rules();
    demo.step(
        &mut out,
        "The nodes recover. `rollback` (what cron runs) replays the journal.",
        &["rollback"],
    )?;
    demo.step(
        &mut out,
        "team-c is on no node, and the journal is empty:",
        &["status", "team-c"],
    )?;
    demo.step(
        &mut out,
        "Now team-c can be created for real:",
        &["create", "team-c"],
    )?;

    let requests: usize = nodes.iter().map(|n| n.requests().len()).sum();
    writeln!(out, "\nDone: the nodes served {requests} requests in all.")?;
    writeln!(
        out,
        "Try the binary yourself: start nodes with `cargo run --example node -- --port 9001 \
         --fail-rate 0.3`, list them in hosts.txt, and run `cargo run -- create my-group`."
    )?;
    Ok(())
}

/// Makes `node` answer `fault` to every create.
fn flaky(node: &TestNode, fault: Fault) {
    node.add_rule(Rule::new(fault).method("POST"));
}

struct Demo {
    binary: PathBuf,
    hosts: String,
    journal: String,
}

/// The `cluster-client` binary of this build profile, built first with the
/// cargo that runs this example (`cargo run` sets `CARGO`).
fn binary() -> Result<PathBuf, Box<dyn std::error::Error>> {
    // Note: examples live in <target>/<profile>/examples/, the binary one up.
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or("cannot find the target directory of this example")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--bin", "cluster-client"]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    if !build.status()?.success() {
        return Err("cannot build the cluster-client binary".into());
    }
    Ok(profile_dir.join(format!("cluster-client{}", std::env::consts::EXE_SUFFIX)))
}

impl Demo {
    /// Explains a step, shows the command, runs it as the binary would, and prints its exit status.
    fn step(
        &self,
        out: &mut dyn Write,
        story: &str,
        args: &[&str],
    ) -> Result<(), Box<dyn std::error::Error>> {
        writeln!(out, "\n== {story}")?;
        writeln!(out, "$ cluster-client {}", args.join(" "))?;
        out.flush()?;
        let output = Command::new(&self.binary)
            .args(["--hosts", &self.hosts, "--journal", &self.journal])
            .args(["--timeout", "1s", "--retries", "2", "--backoff", "50ms"])
            .args(args)
            .output()?;
        out.write_all(&output.stdout)?;
        // Note: the binary's warnings (retries, rollbacks) tell the story too.
        out.write_all(&output.stderr)?;
        match output.status.code() {
            Some(code) => writeln!(out, "(exit status {code})")?,
            None => writeln!(out, "(ended by a signal)")?,
        }
        Ok(())
    }
}
