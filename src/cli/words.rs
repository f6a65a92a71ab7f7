//! The engine's data in words: what people read in the table and what JSON's `error` fields
//! carry, worded once for both.

use cluster_client::engine::NodeError;

/// Why a node failed, in words; the JSON output's `error` too.
pub fn node_error(error: &NodeError) -> String {
    match error {
        NodeError::Read(answer) => format!("could not read the group: {answer}"),
        NodeError::NotAsked => {
            "not asked: the node gave no answer to a read earlier in this run".to_owned()
        }
        NodeError::Change(answer) => answer.clone(),
        NodeError::NotApplied(answer) => {
            format!("{answer}, and a read shows the change was not applied")
        }
        NodeError::Undo(answer) => format!("undo failed: {answer}"),
    }
}
