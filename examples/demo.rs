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

    flaky(&nodes[2], Fault::Status(422));
    demo.step(
        &mut out,
        "Node 3 now refuses every create (422: it applied nothing). The first two nodes \
         are rolled back, so team-b ends up on no node (exit 1).",
        &["create", "team-b"],
    )?;
    demo.step(
        &mut out,
        "Nothing was left behind (absent from every node: exit 4):",
        &["status", "team-b"],
    )?;

    nodes[2].clear_rules();
    flaky(&nodes[2], Fault::ApplyLate);
    demo.step(
        &mut out,
        "Node 3 now takes a create and answers nothing, as a handler stuck on a lock \
         does. The run times out, reads node 3 (absent), and rolls back. But node 3 may \
         still commit that create, so the journal keeps a verification of it until the \
         settle horizon (2 s in this demo, 5 min by default), and the run exits 3.",
        &["create", "team-d"],
    )?;
    nodes[2].land_late_writes();
    demo.step(
        &mut out,
        "Node 3 commits the create it was holding: team-d is on node 3 alone.",
        &["status", "team-d"],
    )?;
    demo.step(
        &mut out,
        "The next replay (here `rollback`, what cron runs) reads node 3, finds the \
         create that landed late, and undoes it.",
        &["rollback"],
    )?;
    demo.step(
        &mut out,
        "team-d is on no node again:",
        &["status", "team-d"],
    )?;

    nodes[2].clear_rules();
    flaky(&nodes[2], Fault::Status(422));
    nodes[0].add_rule(Rule::new(Fault::Reset).method("DELETE"));
    demo.step(
        &mut out,
        "Node 3 refuses creates again, and node 1 now resets every delete, so the \
         rollback itself fails there. The undo is kept in the journal (exit 3).",
        &["create", "team-c"],
    )?;
    demo.step(
        &mut out,
        "`journal list` shows what is pending, without sending anything:",
        &["journal", "list"],
    )?;
    demo.step(
        &mut out,
        "Every create or delete replays the journal first; node 1 still fails, so the \
         repair stays pending and creating team-c again is refused (exit 3).",
        &["create", "team-c"],
    )?;

    nodes[0].clear_rules();
    nodes[2].clear_rules();
    demo.step(
        &mut out,
        "The nodes recover. `rollback` replays the journal.",
        &["rollback"],
    )?;
    demo.step(&mut out, "team-c is on no node:", &["status", "team-c"])?;
    demo.step(
        &mut out,
        "Now team-c can be created for real. Node 1's deletes that were reset may still \
         land and take it away there, so node 1 is verified until the horizon (exit 3).",
        &["create", "team-c"],
    )?;
    // Note: a guided tour waits the horizon out; tests never sleep for it.
    std::thread::sleep(std::time::Duration::from_secs(3));
    demo.step(
        &mut out,
        "Past the settle horizon, a replay finds no late write and lets the \
         verifications go: nothing is pending (exit 0).",
        &["rollback"],
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
        // Note: the settings through the environment, which a command that
        // takes no such option ignores (`journal list` sends no request).
        let output = Command::new(&self.binary)
            .env("CLUSTER_CLIENT_HOSTS", &self.hosts)
            .env("CLUSTER_CLIENT_JOURNAL", &self.journal)
            .env("CLUSTER_CLIENT_TIMEOUT", "1s")
            .env("CLUSTER_CLIENT_RETRIES", "2")
            .env("CLUSTER_CLIENT_BACKOFF", "50ms")
            .env("CLUSTER_CLIENT_SETTLE_HORIZON", "2s")
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
