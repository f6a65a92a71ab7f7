//! The hosts file: one node per line, in the order nodes are worked on.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use reqwest::Url;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::InputError;
use crate::vocab::group::GroupId;
use crate::vocab::trust;

/// One cluster node, known by its normalised base URL.
///
/// The base URL has no trailing `/`, no query and no fragment, and its
/// scheme is `http` or `https`. It is what output and the journal show, so
/// a journal entry can be replayed with nothing but the journal.
///
/// Cloning is cheap: clones share one copy of the URL, so a journal of a
/// million entries on a hundred nodes holds a hundred URLs. Two nodes are
/// equal (and hash and sort) by their base URL, shared or not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node(Arc<Parsed>);

#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Parsed {
    base: String,
    // Note: parsed from `base`, never from the entry as written, so it is a
    // function of `base` and the derived Eq/Hash/Ord still mean "same base".
    url: Url,
}

impl Node {
    /// Parses one hosts-file entry: a base URL, or a bare `host[:port]` for
    /// which `http` is assumed. The error message says what to write instead.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let with_scheme = if entry.contains("://") {
            entry.to_owned()
        } else {
            format!("http://{entry}")
        };
        let url = Url::parse(&with_scheme)
            .map_err(|e| format!("`{entry}` is not a valid base URL or host[:port] ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "`{entry}` uses scheme `{}`; only http:// and https:// are supported",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{entry}` has no host name"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{entry}` carries credentials; remove them, because base URLs are \
                 printed and stored in the journal"
            ));
        }
        if url.query().is_some() {
            return Err(format!(
                "`{entry}` has a query string; give the base URL only"
            ));
        }
        if url.fragment().is_some() {
            return Err(format!("`{entry}` has a #fragment; give the base URL only"));
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        let url = Url::parse(&base).map_err(|e| format!("`{entry}` does not normalise ({e})"))?;
        Ok(Self(Arc::new(Parsed { base, url })))
    }

    /// The normalised base URL, for example `http://node1:8080` or `https://n/api`.
    pub fn base(&self) -> &str {
        &self.0.base
    }

    /// `{base}/v1/group/`: where POST and DELETE go.
    pub fn collection_url(&self) -> Url {
        self.url_with(&[])
    }

    /// `{base}/v1/group/{id}/`, with the id percent-encoded as one path segment.
    pub fn group_url(&self, group: &GroupId) -> Url {
        self.url_with(&[group.as_str()])
    }

    fn url_with(&self, extra: &[&str]) -> Url {
        let mut url = self.0.url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("http(s) URLs always have a path");
            segments
                .pop_if_empty()
                .extend(["v1", "group"])
                .extend(extra);
            segments.push("");
        }
        url
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base())
    }
}

impl TryFrom<String> for Node {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Node> for String {
    fn from(value: Node) -> Self {
        value.base().to_owned()
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.base())
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The largest hosts file read: some 400,000 nodes, far more than any
/// cluster; a bigger file is more likely a wrong path.
pub const MAX_HOSTS_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// How a hosts file is checked: it decides where the token goes, so it is
/// read only if no one but the user or root could have written it.
const HOSTS_FILE: trust::FileRules = trust::FileRules {
    role: "hosts file",
    option: "--hosts (CLUSTER_CLIENT_HOSTS)",
    max_bytes: MAX_HOSTS_FILE_BYTES,
    secret: false,
};

/// Reads and parses a hosts file; see [`parse_hosts`]. The file is read
/// only if it, every directory above it and every link on the way could
/// only have been written by the user or root ([`trust::read_checked`]: a
/// Kubernetes ConfigMap mount passes), since it decides where the token goes.
///
/// # Errors
/// [`InputError::HostsRead`] when it cannot be read, [`InputError::Untrusted`]
/// when someone else could have written it, and the errors of [`parse_hosts`].
pub fn read_hosts_file(path: &Path) -> Result<Vec<Node>, InputError> {
    let bytes = trust::read_checked(path, &HOSTS_FILE).map_err(|e| match e {
        trust::CheckedError::Unreadable(cause) => InputError::HostsRead {
            path: path.to_owned(),
            cause,
        },
        trust::CheckedError::Untrusted(distrust) => InputError::Untrusted {
            path: path.to_owned(),
            role: HOSTS_FILE.role,
            problem: distrust.problem,
            fix: distrust.fix,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| InputError::HostsRead {
        path: path.to_owned(),
        cause: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
    })?;
    parse_hosts(path, &text)
}

/// Parses hosts-file text. `path` is used only in error messages.
///
/// `#` starts a comment anywhere on a line; blank lines and surrounding
/// whitespace are ignored. Two entries that normalise to the same base URL
/// are an error naming both lines. An empty list is an error.
pub fn parse_hosts(path: &Path, text: &str) -> Result<Vec<Node>, InputError> {
    let mut nodes: Vec<Node> = Vec::new();
    // Note: a map beside the list, so a hosts file of 40,000 nodes is not
    // compared against every earlier line.
    let mut lines: HashMap<Node, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let entry = raw.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        let line_error = |message: String| InputError::HostsLine {
            path: path.to_owned(),
            line,
            message,
        };
        if entry.split_whitespace().nth(1).is_some() {
            return Err(line_error(format!(
                "`{entry}` holds more than one entry; put one node on each line"
            )));
        }
        let node = Node::parse(entry).map_err(line_error)?;
        if let Some(first) = lines.get(&node) {
            return Err(line_error(format!(
                "`{entry}` is the same node as line {first} ({node}); remove one of them"
            )));
        }
        lines.insert(node.clone(), line);
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(InputError::HostsEmpty {
            path: path.to_owned(),
        });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<String>, String> {
        parse_hosts(Path::new("hosts.txt"), text)
            .map(|nodes| nodes.iter().map(|n| n.base().to_owned()).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keeps_file_order_and_normalises_entries() {
        let text = "\
# production cluster
http://node1:8080
  node2:9000   # bare host:port means http
https://Node3.example.com/api/
node4

";
        assert_eq!(
            parse(text),
            Ok(vec![
                "http://node1:8080".to_owned(),
                "http://node2:9000".to_owned(),
                "https://node3.example.com/api".to_owned(),
                "http://node4".to_owned(),
            ])
        );
    }

    #[test]
    fn a_large_hosts_file_keeps_its_order_and_still_finds_a_late_duplicate() {
        let mut text: String = (0..40_000)
            .map(|i| {
                format!(
                    "http://10.{}.{}.{}:8080\n",
                    i / 65_536,
                    (i / 256) % 256,
                    i % 256
                )
            })
            .collect();
        let nodes = parse(&text).expect("40,000 distinct nodes");
        assert_eq!(nodes.len(), 40_000);
        assert_eq!(nodes[0], "http://10.0.0.0:8080");
        assert_eq!(nodes[39_999], "http://10.0.156.63:8080");
        text.push_str("10.0.0.7:8080\n");
        let err = parse(&text).expect_err("duplicate of line 8");
        assert!(err.contains("line 8"), "{err}");
        assert!(err.contains(":40001"), "{err}");
    }

    #[test]
    fn duplicate_after_normalising_names_both_lines() {
        let err = parse("http://a:1/\n\nhttp://a:1\n").expect_err("duplicate");
        assert!(err.starts_with("hosts.txt:3:"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn default_port_is_the_same_node() {
        assert!(parse("a\nhttp://a:80\n").is_err());
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, line, needle) in [
            ("a:1\nftp://b\n", 2, "scheme `ftp`"),
            ("\n\nhttp://\n", 3, "not a valid"),
            ("a:notaport\n", 1, "not a valid"),
            ("http://user:pw@a\n", 1, "credentials"),
            ("http://a/?x=1\n", 1, "query"),
            ("a b\n", 1, "one node on each line"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.starts_with(&format!("hosts.txt:{line}:")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn empty_or_comment_only_file_is_an_error() {
        let err = parse("# nothing here\n   \n").expect_err("empty");
        assert!(err.contains("lists no nodes"), "{err}");
    }

    #[test]
    fn group_url_encodes_the_id_as_one_segment() {
        let node = Node::parse("https://n.example/api").expect("valid");
        // Note: unchecked, as `GroupId::new` refuses `/ ? # %`; the URL keeps any id in one
        // segment all the same.
        let group = GroupId::unchecked("a/b c?#é%");
        assert_eq!(
            node.group_url(&group).as_str(),
            "https://n.example/api/v1/group/a%2Fb%20c%3F%23%C3%A9%25/"
        );
        assert_eq!(
            node.collection_url().as_str(),
            "https://n.example/api/v1/group/"
        );
    }

    #[test]
    fn clones_share_one_url_and_nodes_are_equal_by_base_url() {
        let node = Node::parse("node1:8080").expect("valid");
        let clone = node.clone();
        assert!(
            std::ptr::eq(node.base(), clone.base()),
            "a clone copied the URL"
        );
        let again = Node::parse("http://node1:8080/").expect("valid");
        assert!(!std::ptr::eq(node.base(), again.base()));
        assert_eq!(node, again);
        let set: std::collections::HashSet<Node> = [node, again].into();
        assert_eq!(set.len(), 1);
        let other = Node::parse("node1:8081").expect("valid");
        assert!(clone < other);
    }

    #[test]
    fn node_round_trips_through_json() {
        let node = Node::parse("node1:8080").expect("valid");
        let json = serde_json::to_string(&node).expect("serialise");
        assert_eq!(json, "\"http://node1:8080\"");
        let back: Node = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, node);
    }
}
