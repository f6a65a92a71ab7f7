//! Sequential order: nodes are changed, and undone, in hosts-file order (the default, --concurrency 1).

mod support;

use support::{Fault, Rule, TestEnv};

#[test]
fn nodes_are_worked_on_in_hosts_file_order() {
    let env = TestEnv::new(3);
    // List the nodes backwards: the binary must follow the file, not the ports.
    let hosts: String = env
        .nodes
        .iter()
        .rev()
        .map(|n| format!("{}\n", n.url()))
        .collect();
    env.write_hosts(&hosts);
    env.cmd().args(["create", "g"]).assert().code(0);
    let seen = env.sequence();
    // Reads go to every node at once (they change nothing), so they come
    // first in any order; the writes follow the file.
    let mut reads: Vec<usize> = seen[..3]
        .iter()
        .map(|(i, m)| {
            assert_eq!(m, "GET");
            *i
        })
        .collect();
    reads.sort_unstable();
    assert_eq!(reads, [0, 1, 2]);
    let writes: Vec<(usize, String)> = [(2, "POST"), (1, "POST"), (0, "POST")]
        .into_iter()
        .map(|(i, m)| (i, m.to_owned()))
        .collect();
    assert_eq!(seen[3..], writes);
}

#[test]
fn rollback_undoes_in_reverse_order() {
    let env = TestEnv::new(3);
    // A final 4xx, so node 2 applied nothing and nothing is left to verify.
    env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST"));
    env.cmd().args(["create", "g"]).assert().code(1);
    let deletes: Vec<usize> = env
        .sequence()
        .into_iter()
        .filter(|(_, method)| method == "DELETE")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(deletes, vec![1, 0]);
}
