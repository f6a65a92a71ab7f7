//! The vocabulary every layer shares: which change, which undo, which HTTP action. Imports nothing of ours.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A change to the whole cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Make the group exist on every node.
    Create,
    /// Make the group absent from every node.
    Delete,
}

impl Operation {
    /// The request that makes the change on one node.
    pub fn action(self) -> Action {
        match self {
            Self::Create => Action::Create,
            Self::Delete => Action::Delete,
        }
    }

    /// The compensation that undoes the change on one node.
    pub fn repair(self) -> Repair {
        match self {
            Self::Create => Repair::Delete,
            Self::Delete => Repair::Create,
        }
    }

    /// Whether the group should be present once the operation is done.
    pub fn wants_present(self) -> bool {
        self == Self::Create
    }

    /// The operation's name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Delete => "delete",
        }
    }
}

/// A compensation to apply to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repair {
    /// Re-create the group (undoes a delete). Done on 201, or when a read
    /// then sees the group.
    Create,
    /// Delete the group (undoes a create). Done on 200, or when a read then
    /// finds the group absent.
    Delete,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "re-create",
            Self::Delete => "delete",
        })
    }
}

impl Repair {
    /// Whether the group is present on the node once the repair holds.
    pub fn leaves_present(self) -> bool {
        self == Self::Create
    }

    /// The request that applies this repair.
    pub fn action(self) -> Action {
        match self {
            Self::Create => Action::Create,
            Self::Delete => Action::Delete,
        }
    }

    /// `create` or `delete`, as the journal and the JSON output spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Delete => "delete",
        }
    }
}

/// What one request asks a node to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `POST {base}/v1/group/`: 201 when created, 400 when it already exists.
    Create,
    /// `DELETE {base}/v1/group/`: 200, also when the group is absent.
    Delete,
    /// `GET {base}/v1/group/{id}/`: 200 when present, 404 when absent.
    Read,
}

impl Action {
    /// The HTTP method, as logs show it.
    pub fn method(self) -> &'static str {
        match self {
            Self::Create => "POST",
            Self::Delete => "DELETE",
            Self::Read => "GET",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.method())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_has_the_opposite_repair_and_its_own_request() {
        for operation in [Operation::Create, Operation::Delete] {
            let repair = operation.repair();
            assert_ne!(repair.leaves_present(), operation.wants_present());
            assert_ne!(repair.action(), operation.action());
            assert_ne!(operation.action(), Action::Read);
        }
    }

    #[test]
    fn names_are_the_ones_serde_writes() {
        for operation in [Operation::Create, Operation::Delete] {
            let json = serde_json::to_string(&operation).expect("serialise");
            assert_eq!(json, format!("{:?}", operation.name()));
            let repair = operation.repair();
            let json = serde_json::to_string(&repair).expect("serialise");
            assert_eq!(json, format!("{:?}", repair.name()));
        }
    }
}
