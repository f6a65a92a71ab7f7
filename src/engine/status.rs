//! `status`: read one group on every node; sends no writes.

use super::*;

impl<T: Transport> Cluster<T> {
    /// Reads `group` on every node. Sends no writes.
    pub fn status(&self, group: &GroupId) -> StatusReport {
        let retrier = self.retrier();
        let reads = fan_out(
            &self.nodes,
            self.reads_at_a_time(1),
            || false,
            |node| retrier.call(node, Action::Read, group, Mode::Forward),
        );
        let nodes: Vec<NodeStatus> = self
            .nodes
            .iter()
            .zip(reads)
            .map(|(node, exchange)| {
                let exchange = exchange.expect("status reads every node");
                let (state, error) = match presence(&exchange) {
                    Some(true) => (NodeState::Present, None),
                    Some(false) => (NodeState::Absent, None),
                    None if exchange.last.is_ok() => {
                        (NodeState::Unreadable, Some(exchange.error()))
                    }
                    None => (NodeState::Unreachable, Some(exchange.error())),
                };
                NodeStatus {
                    host: node.clone(),
                    state,
                    attempts: exchange.attempts,
                    error,
                }
            })
            .collect();
        let consistent = nodes
            .iter()
            .all(|n| matches!(n.state, NodeState::Present | NodeState::Absent))
            && nodes.windows(2).all(|pair| pair[0].state == pair[1].state);
        StatusReport {
            group: group.clone(),
            consistent,
            nodes,
        }
    }
}
