//! Where the bearer token goes: only to the configured nodes, and the once-per-node warnings
//! when it would cross plain http or a proxy, or a node is not in the hosts file.

use std::collections::BTreeSet;

use reqwest::header::HeaderValue;

use super::SetupError;
use super::answer::escape_for_log;
use super::http::HttpTransport;
use crate::vocab::hosts::Node;
use crate::vocab::secret::Token;

/// `Authorization: Bearer <token>`, marked sensitive so that neither
/// reqwest nor hyper ever logs or formats its value.
pub(super) fn bearer_header(token: &Token) -> Result<HeaderValue, SetupError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        // Note: the parse error is not shown, in case a future version quotes the value.
        SetupError(
            "the bearer token cannot be sent in an HTTP header: it holds a character other \
             than printable ASCII (for example a line break inside it); check the token file \
             or CLUSTER_CLIENT_TOKEN"
                .to_owned(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// What a once-per-node warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Warning {
    /// The node is not in the configured set.
    Unlisted,
    /// The token goes to the node over plain http.
    Plaintext,
    /// The token goes to the node through a proxy.
    Proxied,
    /// Not a warning: the node's exposure (http, proxy) has been checked.
    Checked,
}

impl HttpTransport {
    /// The `Authorization` value to send to `node`, if any; logs (once per
    /// node) a node outside the configured set, and where the token goes
    /// over plain http or a proxy to a node not warned about yet.
    pub(super) fn authorization_for(&self, node: &Node) -> Option<&HeaderValue> {
        let listed = self
            .configured
            .as_ref()
            .is_none_or(|nodes| nodes.contains(node));
        let sent = self
            .authorization
            .as_ref()
            .filter(|_| listed || self.trust_unlisted);
        if !listed && self.first_warning(Warning::Unlisted, node) {
            let what = match (&self.authorization, sent) {
                (None, _) => "",
                (Some(_), Some(_)) => {
                    ", and gets the bearer token because --trust-journal-hosts is set"
                }
                (Some(_), None) => {
                    "; it is sent without the bearer token. Add the node to the hosts file, \
                     or pass --trust-journal-hosts (CLUSTER_CLIENT_TRUST_JOURNAL_HOSTS=true) \
                     to send the token to the hosts the journal names"
                }
            };
            log::warn!(
                "{}: not in the hosts file, but the journal holds a repair for it{what}",
                escape_for_log(node.base())
            );
        }
        // Note: the exposure checks read the environment, so each node is
        // checked once per run, not on every request.
        if sent.is_some() && self.first_warning(Warning::Checked, node) {
            self.warn_exposure(std::slice::from_ref(node));
        }
        sent
    }

    /// Warns, once per node and naming all of `nodes` that qualify in one
    /// line, when the token will cross plain http or a proxy to them.
    pub(super) fn warn_exposure(&self, nodes: &[Node]) {
        if self.authorization.is_none() {
            return;
        }
        let listed = |node: &&Node| {
            self.trust_unlisted
                || self
                    .configured
                    .as_ref()
                    .is_none_or(|configured| configured.contains(*node))
        };
        let plaintext: Vec<&Node> = nodes
            .iter()
            .filter(listed)
            .filter(|n| n.base().starts_with("http://"))
            .filter(|n| self.first_warning(Warning::Plaintext, n))
            .collect();
        // Note: the token is still sent: the operator chose both the token and
        // the http:// URL, and a node behind a TLS-terminating sidecar on the
        // same host is a legitimate setup.
        if !plaintext.is_empty() {
            log::warn!(
                "the bearer token is sent over plain http:// to {}, where anyone on the path \
                 can read it; use https:// for these nodes",
                names(&plaintext)
            );
        }
        let mut proxied: Vec<(&Node, String)> = Vec::new();
        for node in nodes.iter().filter(listed) {
            if let Some(proxy) = self.proxies.for_url(&node.collection_url())
                && self.first_warning(Warning::Proxied, node)
            {
                proxied.push((
                    node,
                    format!("{} (set in {})", proxy.shown(), proxy.variable),
                ));
            }
        }
        if !proxied.is_empty() {
            let proxies: BTreeSet<&str> = proxied.iter().map(|(_, p)| p.as_str()).collect();
            let nodes: Vec<&Node> = proxied.iter().map(|(n, _)| *n).collect();
            log::warn!(
                "the bearer token goes to {} through the proxy {}: the proxy sees which hosts \
                 are contacted, and reads the token on http://; list the nodes in no_proxy \
                 (or NO_PROXY) if the proxy should not carry them",
                names(&nodes),
                proxies.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }

    /// Whether `warning` about `node` is due: true the first time only.
    fn first_warning(&self, warning: Warning, node: &Node) -> bool {
        // Note: a poisoned lock only means another thread panicked mid-insert;
        // the set is still usable, and a repeated warning is harmless.
        self.warned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((warning, node.clone()))
    }
}

/// Node base URLs for a log line, comma-separated and escaped.
fn names(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| escape_for_log(n.base()).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}
