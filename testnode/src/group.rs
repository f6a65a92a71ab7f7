//! The group API itself: routing a request and applying it to a node's set of groups.

use std::collections::BTreeSet;

use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::http::Response;

/// The collection path; creates and deletes go here with the id in the JSON body.
const COLLECTION: &str = "/v1/group/";

/// How a node treats the trailing slash of the API's paths: the redirects that the web
/// frameworks people write nodes with answer by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slashes {
    /// The API's own paths, `/v1/group/` and `/v1/group/{id}/`; any other path is a 404.
    #[default]
    Trailing,
    /// FastAPI's default (`redirect_slashes`): the routes are `/v1/group` and
    /// `/v1/group/{id}`, and a request for either with a trailing slash, whatever its method,
    /// is answered `307 Temporary Redirect` to the path without it (an absolute URL on the
    /// request's `Host`, query kept), without applying.
    FastApi,
    /// Flask's (Werkzeug's) `strict_slashes`: the routes are the API's own, and a request for
    /// one without its trailing slash, whatever its method, is answered `308 Permanent
    /// Redirect` to the path with it (an absolute URL on the request's `Host`), without
    /// applying.
    Flask,
}

/// What a request asks of the node, decided before any fault is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Create(String),
    Delete(String),
    Get(String),
    /// Not a valid API call: answer this without touching any state.
    Reject(Response),
}

/// A routed request: its operation and the group id it names, if any could be read.
#[derive(Debug)]
pub(crate) struct Routed {
    pub(crate) group: Option<String>,
    pub(crate) op: Op,
}

/// Routes one request. The query string, if any, is ignored; the group id comes from the body on
/// the collection path and from the single percent-decoded segment on `/v1/group/{id}/`, whatever
/// the method, so fault rules can filter on it even for requests that end in 405.
pub(crate) fn route(method: &str, target: &str, body: &[u8]) -> Routed {
    let path = target.split_once('?').map_or(target, |(path, _)| path);

    if path == COLLECTION {
        let group = body_group(body);
        let op = match (method, &group) {
            ("POST", Some(id)) => Op::Create(id.clone()),
            ("DELETE", Some(id)) => Op::Delete(id.clone()),
            ("POST" | "DELETE", None) => Op::Reject(Response::error(
                400,
                "body must be a JSON object with a string groupId",
            )),
            _ => Op::Reject(method_not_allowed("POST, DELETE")),
        };
        return Routed { group, op };
    }

    // Note: the id must be exactly one segment. An id whose `/` was not percent-encoded makes
    // two segments and gets a 404, which is how a client's missing encoding shows up in tests.
    let segment = path
        .strip_prefix(COLLECTION)
        .and_then(|rest| rest.strip_suffix('/'))
        .filter(|segment| !segment.is_empty() && !segment.contains('/'));
    let Some(segment) = segment else {
        return Routed {
            group: None,
            op: Op::Reject(Response::error(404, "no such path")),
        };
    };
    let Ok(id) = percent_decode_str(segment).decode_utf8() else {
        return Routed {
            group: None,
            op: Op::Reject(Response::error(
                400,
                "group id segment does not decode to UTF-8",
            )),
        };
    };
    let id = id.into_owned();
    let op = if method == "GET" {
        Op::Get(id.clone())
    } else {
        Op::Reject(method_not_allowed("GET"))
    };
    Routed {
        group: Some(id),
        op,
    }
}

/// Routes one request on a node whose framework treats trailing slashes as `slashes` says;
/// `origin` (`http://host:port`) is where its redirects point.
pub(crate) fn route_with(
    slashes: Slashes,
    origin: &str,
    method: &str,
    target: &str,
    body: &[u8],
) -> Routed {
    let (path, query) = target.split_once('?').map_or((target, ""), |(p, q)| (p, q));
    let query = if target.contains('?') {
        format!("?{query}")
    } else {
        String::new()
    };
    // The answer to a request for `api` (one of the API's own paths) that the framework
    // redirects to `to`; routed as `api` all the same, so rules can filter on its group.
    let redirect = |status: u16, api: &str, to: &str| Routed {
        group: route(method, &format!("{api}{query}"), body).group,
        op: Op::Reject(
            Response::error(status, "redirected")
                .with_header("Location", format!("{origin}{to}{query}")),
        ),
    };
    match slashes {
        Slashes::Trailing => route(method, target, body),
        Slashes::FastApi if path.ends_with('/') && path != "/" => {
            if is_api_path(path) {
                redirect(307, path, path.trim_end_matches('/'))
            } else {
                route(method, target, body)
            }
        }
        // The routes themselves: served as the API path they stand for.
        Slashes::FastApi => route(method, &format!("{path}/{query}"), body),
        Slashes::Flask if !path.ends_with('/') && is_api_path(&format!("{path}/")) => {
            let with = format!("{path}/");
            redirect(308, &with, &with)
        }
        Slashes::Flask => route(method, target, body),
    }
}

/// Whether `path` (no query) is one of the API's own paths.
fn is_api_path(path: &str) -> bool {
    path == COLLECTION
        || path
            .strip_prefix(COLLECTION)
            .and_then(|rest| rest.strip_suffix('/'))
            .is_some_and(|segment| !segment.is_empty() && !segment.contains('/'))
}

/// The string `groupId` of a JSON object body, or `None` for anything else.
fn body_group(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("groupId")?.as_str().map(str::to_owned)
}

fn method_not_allowed(allow: &str) -> Response {
    Response::error(405, "method not allowed").with_header("Allow", allow.to_owned())
}

impl Op {
    /// Whether this is a create or delete, i.e. something that changes state when applied.
    pub(crate) fn is_write(&self) -> bool {
        matches!(self, Op::Create(_) | Op::Delete(_))
    }

    /// Runs the operation against `groups` and returns the normal answer.
    pub(crate) fn apply(&self, groups: &mut BTreeSet<String>) -> Response {
        match self {
            Op::Create(id) if groups.insert(id.clone()) => {
                Response::json(201, &json!({ "groupId": id }))
            }
            Op::Create(_) => Response::error(400, "group exists"),
            Op::Delete(id) => {
                groups.remove(id);
                Response::json(200, &json!({ "groupId": id }))
            }
            Op::Get(id) if groups.contains(id) => Response::json(200, &json!({ "groupId": id })),
            Op::Get(_) => Response::error(404, "group not found"),
            Op::Reject(response) => response.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_decodes_one_segment_and_ignores_query() {
        let routed = route("GET", "/v1/group/a%2Fb%20c%3F%23%C3%A9/?x=1", b"");
        assert_eq!(routed.group.as_deref(), Some("a/b c?#é"));
        assert_eq!(routed.op, Op::Get("a/b c?#é".to_owned()));
    }

    #[test]
    fn plus_in_segment_stays_a_plus() {
        assert_eq!(
            route("GET", "/v1/group/a+b/", b"").group.as_deref(),
            Some("a+b")
        );
    }

    #[test]
    fn unencoded_slash_missing_trailing_slash_and_empty_id_are_404() {
        for target in [
            "/v1/group/a/b/",
            "/v1/group/a",
            "/v1/group//",
            "/v1/groups/",
            "/",
        ] {
            let routed = route("GET", target, b"");
            assert!(
                matches!(&routed.op, Op::Reject(r) if r.status == 404),
                "{target}: {routed:?}"
            );
            assert_eq!(routed.group, None, "{target}");
        }
    }

    #[test]
    fn wrong_methods_are_405_but_still_name_the_group() {
        let routed = route("PUT", "/v1/group/", br#"{"groupId":"g"}"#);
        assert!(matches!(&routed.op, Op::Reject(r) if r.status == 405));
        assert_eq!(routed.group.as_deref(), Some("g"));
        let routed = route("DELETE", "/v1/group/g/", b"");
        assert!(matches!(&routed.op, Op::Reject(r) if r.status == 405));
        assert_eq!(routed.group.as_deref(), Some("g"));
    }

    #[test]
    fn bodies_without_a_string_group_id_are_400() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            br#"{"groupId": 7}"#,
            br#"{"id":"g"}"#,
        ] {
            let routed = route("POST", "/v1/group/", body);
            assert!(matches!(&routed.op, Op::Reject(r) if r.status == 400));
            assert_eq!(routed.group, None);
        }
    }

    #[test]
    fn invalid_utf8_segment_is_400() {
        let routed = route("GET", "/v1/group/%FF/", b"");
        assert!(matches!(&routed.op, Op::Reject(r) if r.status == 400));
    }

    fn location(routed: &Routed) -> (u16, String) {
        match &routed.op {
            Op::Reject(r) => (
                r.status,
                r.extra_headers
                    .iter()
                    .find(|(name, _)| *name == "Location")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            ),
            other => panic!("not redirected: {other:?}"),
        }
    }

    #[test]
    fn fastapi_redirects_a_trailing_slash_and_serves_the_bare_path() {
        let o = "http://127.0.0.1:9";
        let get = route_with(Slashes::FastApi, o, "GET", "/v1/group/g/?x=1", b"");
        assert_eq!(location(&get), (307, format!("{o}/v1/group/g?x=1")));
        assert_eq!(get.group.as_deref(), Some("g"));
        let post = route_with(
            Slashes::FastApi,
            o,
            "POST",
            "/v1/group/",
            br#"{"groupId":"g"}"#,
        );
        assert_eq!(location(&post), (307, format!("{o}/v1/group")));
        let served = route_with(Slashes::FastApi, o, "GET", "/v1/group/g", b"");
        assert_eq!(served.op, Op::Get("g".to_owned()));
        let served = route_with(
            Slashes::FastApi,
            o,
            "DELETE",
            "/v1/group",
            br#"{"groupId":"g"}"#,
        );
        assert_eq!(served.op, Op::Delete("g".to_owned()));
    }

    #[test]
    fn flask_redirects_a_missing_slash_and_serves_the_api_paths() {
        let o = "http://127.0.0.1:9";
        let get = route_with(Slashes::Flask, o, "GET", "/v1/group/g", b"");
        assert_eq!(location(&get), (308, format!("{o}/v1/group/g/")));
        let post = route_with(
            Slashes::Flask,
            o,
            "POST",
            "/v1/group",
            br#"{"groupId":"g"}"#,
        );
        assert_eq!(location(&post), (308, format!("{o}/v1/group/")));
        assert_eq!(post.group.as_deref(), Some("g"));
        let served = route_with(Slashes::Flask, o, "GET", "/v1/group/g/", b"");
        assert_eq!(served.op, Op::Get("g".to_owned()));
    }

    #[test]
    fn create_then_create_again_is_400_and_delete_is_idempotent() {
        let mut groups = BTreeSet::new();
        assert_eq!(Op::Create("g".into()).apply(&mut groups).status, 201);
        assert_eq!(Op::Create("g".into()).apply(&mut groups).status, 400);
        assert_eq!(Op::Get("g".into()).apply(&mut groups).status, 200);
        assert_eq!(Op::Delete("g".into()).apply(&mut groups).status, 200);
        assert_eq!(Op::Delete("g".into()).apply(&mut groups).status, 200);
        assert_eq!(Op::Get("g".into()).apply(&mut groups).status, 404);
    }
}
