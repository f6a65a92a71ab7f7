//! `--dry-run`: read every node of each group, as a create or delete would first, and say
//! what it would send; sends no write, writes no journal, replays nothing.

use super::*;

/// What a dry run of a create or delete found for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanReport {
    /// The operation planned.
    pub operation: Operation,
    /// The group.
    pub group: GroupId,
    /// What a run would do with the group.
    pub verdict: PlanVerdict,
    /// One line per node, in hosts-file order (none for a refused group:
    /// it is not read).
    pub nodes: Vec<PlannedNode>,
    /// The group's pending repairs in the journal; for a refused group,
    /// the ones that refuse it.
    pub pending: Vec<Entry>,
}

/// What a run would do with one group, as the reads find the nodes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanVerdict {
    /// Some nodes would get the change.
    Change,
    /// Every node is already in the requested state: nothing to send.
    NothingToDo,
    /// The group has pending repairs, so a run would refuse it (unless the
    /// replay that starts every run applies them first).
    Refused,
    /// A node gave no usable answer to the read, so a run would stop
    /// before any change (the group would be rolled back, as it is).
    Blocked,
}

/// One node's line in a [`PlanReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNode {
    /// The node.
    pub host: Node,
    /// What a run would do there.
    pub step: PlannedStep,
    /// Reads sent to it.
    pub attempts: u32,
    /// Why it could not be read, when it could not.
    pub error: Option<NodeError>,
}

/// What a run would do on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlannedStep {
    /// Send this request (POST for a create, DELETE for a delete).
    Send(Action),
    /// Nothing: the node is already in the requested state.
    Already,
    /// The node gave no answer to the read.
    Unreachable,
    /// The node answered the read with neither 200 nor 404.
    Unreadable,
    /// Not read: the read stopped early, another node having failed.
    NotRead,
}

impl<T: Transport> Cluster<T> {
    /// Plans `operation` on each of `groups` without changing anything:
    /// refuses (as a run would) the groups `pending` holds repairs for (not
    /// verifications or watches, which refuse no run), and
    /// reads every node of the others as a run's first step does, up to the
    /// groups in flight at a time. Sends reads only; never writes the
    /// journal (it takes none) and replays nothing. One report per group,
    /// in order.
    ///
    /// `pending` is the journal as it is (for example
    /// [`journal::read_snapshot`](crate::journal::read_snapshot)): a run
    /// would replay it first, which may apply some of those repairs.
    pub fn plan_only(
        &self,
        operation: Operation,
        groups: &[GroupId],
        pending: &[Entry],
    ) -> Vec<PlanReport> {
        let named: HashSet<&GroupId> = groups.iter().collect();
        let mut blocked: HashMap<&GroupId, Vec<Entry>> = HashMap::new();
        for entry in pending
            .iter()
            .filter(|e| e.kind == Kind::Repair && named.contains(&e.group))
        {
            blocked.entry(&entry.group).or_default().push(entry.clone());
        }
        let in_flight = self.groups_in_flight().min(groups.len()).max(1);
        let width = self.reads_at_a_time(in_flight);
        fan_out(
            groups,
            in_flight,
            || self.cancel.is_cancelled(),
            |group| match blocked.get(group) {
                Some(entries) => PlanReport {
                    operation,
                    group: group.clone(),
                    verdict: PlanVerdict::Refused,
                    nodes: Vec::new(),
                    pending: entries.clone(),
                },
                None => self.plan_group(operation, group, width),
            },
        )
        .into_iter()
        .flatten()
        .collect()
    }

    /// Reads every node of `group`, `width` at a time, and says what a run
    /// would send where.
    fn plan_group(&self, operation: Operation, group: &GroupId, width: usize) -> PlanReport {
        let mut work = GroupWork::new(self, operation, group);
        let to_change = work.read_all(width);
        let verdict = match &to_change {
            None => PlanVerdict::Blocked,
            Some(nodes) if nodes.is_empty() => PlanVerdict::NothingToDo,
            Some(_) => PlanVerdict::Change,
        };
        let to_change = to_change.unwrap_or_default();
        let nodes = self
            .nodes
            .iter()
            .zip(work.slots)
            .enumerate()
            .map(|(index, (node, slot))| PlannedNode {
                host: node.clone(),
                step: match slot.result {
                    // Note: read and not in the wanted state: the run would change it,
                    // unless another node keeps the run from starting (the verdict says).
                    _ if to_change.contains(&index) => PlannedStep::Send(operation.action()),
                    NodeResult::NotAttempted if slot.attempts > 0 => {
                        PlannedStep::Send(operation.action())
                    }
                    NodeResult::AlreadyPresent | NodeResult::AlreadyAbsent => PlannedStep::Already,
                    NodeResult::Unreachable => PlannedStep::Unreachable,
                    NodeResult::Unreadable => PlannedStep::Unreadable,
                    _ => PlannedStep::NotRead,
                },
                attempts: slot.attempts,
                error: slot.error,
            })
            .collect();
        PlanReport {
            operation,
            group: group.clone(),
            verdict,
            nodes,
            pending: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Fault, SimCluster};

    fn cluster<'s>(sim: &'s SimCluster, nodes: &[Node]) -> Cluster<&'s SimCluster> {
        let policy = RetryPolicy {
            retries: 1,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        };
        Cluster::new(nodes.to_vec(), sim, policy).with_attempt_timeout(Duration::ZERO)
    }

    fn group(id: &str) -> GroupId {
        GroupId::new(id).expect("group")
    }

    fn steps(report: &PlanReport) -> Vec<PlannedStep> {
        report.nodes.iter().map(|n| n.step).collect()
    }

    #[test]
    fn a_plan_reads_every_node_and_sends_no_write() {
        let (sim, nodes) = SimCluster::new(3);
        sim.seed(&nodes[1], "g");
        for n in &nodes {
            sim.seed(n, "all");
        }
        let reports =
            cluster(&sim, &nodes).plan_only(Operation::Create, &[group("g"), group("all")], &[]);
        assert_eq!(reports[0].verdict, PlanVerdict::Change);
        let post = PlannedStep::Send(Action::Create);
        assert_eq!(steps(&reports[0]), [post, PlannedStep::Already, post]);
        assert_eq!(reports[1].verdict, PlanVerdict::NothingToDo);
        assert_eq!(sim.writes(), 0);
        assert_eq!(sim.holders(&nodes, "g"), [1]);
    }

    #[test]
    fn a_group_with_pending_repairs_is_refused_unread_and_a_silent_node_blocks() {
        let (sim, nodes) = SimCluster::new(2);
        let pending = Entry {
            group: group("held"),
            host: nodes[0].clone(),
            action: Operation::Create.repair(),
            operation: Operation::Create,
            batch: "1@1.0".into(),
            recorded_at: 1,
            failed_replays: 0,
            last_error: None,
            kind: Kind::Repair,
            until: None,
            settled: true,
        };
        sim.fault(&nodes[1], Some(Action::Read), Fault::Refused, None);
        let reports = cluster(&sim, &nodes).plan_only(
            Operation::Delete,
            &[group("held"), group("g")],
            std::slice::from_ref(&pending),
        );
        assert_eq!(reports[0].verdict, PlanVerdict::Refused);
        assert_eq!(reports[0].pending, [pending]);
        assert!(reports[0].nodes.is_empty());
        assert_eq!(reports[1].verdict, PlanVerdict::Blocked);
        assert_eq!(steps(&reports[1])[1], PlannedStep::Unreachable);
        assert_eq!(sim.writes(), 0);
    }
}
