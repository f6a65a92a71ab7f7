//! The proxy decision, made once: which proxy, if any, carries the requests to a node, read
//! from the environment here and given to the HTTP client as exactly that.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

use super::SetupError;
use super::answer::escape_for_log;

/// A proxy variable that is set: its name and the proxy it names.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Setting {
    /// The variable that decided, as spelled: `http_proxy`, `HTTPS_PROXY`, ...
    pub(super) variable: &'static str,
    /// The proxy, credentials included (never printed).
    pub(super) url: Url,
}

impl Setting {
    /// The proxy as messages show it: without user name or password.
    pub(super) fn shown(&self) -> String {
        let mut shown = self.url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        escape_for_log(shown.as_str().trim_end_matches('/')).into_owned()
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.variable, self.shown())
    }
}

/// The proxy environment as cluster-client reads it, once per run, and as
/// the HTTP client is configured with it (reqwest's own reading is off).
///
/// The variables, each in lower case first and then upper case, as curl
/// reads them: `http_proxy` for http:// nodes, `https_proxy` for https://
/// nodes, `all_proxy` for either when the first is unset, and `no_proxy`
/// for the nodes that go direct. A variable set to nothing but whitespace
/// counts as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Proxies {
    http: Option<Setting>,
    https: Option<Setting>,
    all: Option<Setting>,
    /// The `no_proxy` entries, parsed.
    direct: Vec<Exclusion>,
    /// Pairs of variables set both ways with different values, and the one used.
    pub(super) conflicts: Vec<(&'static str, &'static str)>,
}

/// The host a request goes to: an address, or a name (never resolved).
enum Target<'u> {
    Ip(IpAddr),
    Name(&'u str),
}

/// One `no_proxy` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exclusion {
    /// `*`: every node goes direct.
    All,
    /// A domain: the name itself and every name below it (`example.com`,
    /// `.example.com` and `*.example.com` alike), on any port or on `port`.
    Domain { name: String, port: Option<u16> },
    /// An address or a CIDR block (`10.0.0.0/8`, `fd00::/8`), on any port or on `port`.
    Net {
        addr: IpAddr,
        bits: u8,
        port: Option<u16>,
    },
}

impl Proxies {
    /// Reads the proxy variables through `var`.
    ///
    /// # Errors
    /// A proxy that is not an http:// or https:// URL (or `host:port`, for
    /// which http:// is assumed): the message names the variable, since the
    /// requests would otherwise not go where its setter meant.
    pub(super) fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, SetupError> {
        let mut conflicts = Vec::new();
        let mut read = |lower: &'static str, upper: &'static str| {
            let value = |name| var(name).filter(|v| !v.trim().is_empty());
            match (value(lower), value(upper)) {
                (Some(l), Some(u)) if l.trim() != u.trim() => {
                    conflicts.push((lower, upper));
                    Some((lower, l))
                }
                (Some(l), _) => Some((lower, l)),
                (None, Some(u)) => Some((upper, u)),
                (None, None) => None,
            }
        };
        let http = read("http_proxy", "HTTP_PROXY");
        let https = read("https_proxy", "HTTPS_PROXY");
        let all = read("all_proxy", "ALL_PROXY");
        let direct = read("no_proxy", "NO_PROXY");
        Ok(Self {
            http: http.map(setting).transpose()?,
            https: https.map(setting).transpose()?,
            all: all.map(setting).transpose()?,
            direct: direct.map_or_else(Vec::new, |(_, list)| exclusions(&list)),
            conflicts,
        })
    }

    /// Whether any proxy is set at all.
    pub(super) fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some() || self.all.is_some()
    }

    /// The proxy that carries a request to `url`; `None` when it goes direct.
    pub(super) fn for_url(&self, url: &Url) -> Option<&Setting> {
        let setting = match url.scheme() {
            "https" => self.https.as_ref().or(self.all.as_ref()),
            _ => self.http.as_ref().or(self.all.as_ref()),
        }?;
        let host = url.host_str()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => Target::Ip(ip),
            Err(_) => Target::Name(host),
        };
        let port = url.port_or_known_default();
        let direct = self.direct.iter().any(|e| e.matches(&host, port));
        (!direct).then_some(setting)
    }
}

fn setting((variable, value): (&'static str, String)) -> Result<Setting, SetupError> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let refuse = |why: &str| {
        SetupError(format!(
            "{variable} is {:?}: {why}; set it to an http:// or https:// proxy URL \
             (host:port means http://), or unset it to connect directly",
            escape_for_log(value)
        ))
    };
    let url = Url::parse(&with_scheme).map_err(|e| refuse(&format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(&format!(
            "cluster-client supports http:// and https:// proxies, not {}://",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(refuse("it names no host"));
    }
    Ok(Setting { variable, url })
}

/// The entries of a `no_proxy` list: separated by commas or whitespace.
fn exclusions(list: &str) -> Vec<Exclusion> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .filter_map(Exclusion::parse)
        .collect()
}

impl Exclusion {
    /// One entry; `None` for one that can match nothing (`host:notaport`).
    fn parse(entry: &str) -> Option<Self> {
        if entry == "*" {
            return Some(Self::All);
        }
        let (host, port) = split_port(entry)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let (addr, bits) = match host.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits.parse::<u8>().ok()?)),
            None => (host, None),
        };
        if let Ok(addr) = addr.parse::<IpAddr>() {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(max);
            return (bits <= max).then_some(Self::Net { addr, bits, port });
        }
        let name = host
            .trim_start_matches('*')
            .trim_start_matches('.')
            .to_ascii_lowercase();
        (!name.is_empty() && bits.is_none()).then_some(Self::Domain { name, port })
    }

    fn matches(&self, host: &Target<'_>, port: Option<u16>) -> bool {
        match self {
            Self::All => true,
            Self::Domain { name, port: want } => {
                let Target::Name(domain) = host else {
                    return false;
                };
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                let inside = domain == *name || domain.ends_with(&format!(".{name}"));
                inside && want.is_none_or(|want| port == Some(want))
            }
            Self::Net {
                addr,
                bits,
                port: want,
            } => {
                let Target::Ip(ip) = *host else {
                    return false;
                };
                in_net(ip, *addr, *bits) && want.is_none_or(|want| port == Some(want))
            }
        }
    }
}

/// `host` and its port, for `host:port`, `[v6]:port`, `1.2.3.4:port`;
/// a bare IPv6 address (`::1`, `fd00::/8`) has no port. `None` for a port
/// that is not a number.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, "")) => Some((host, None)),
            Some((host, port)) => Some((host, Some(port.strip_prefix(':')?.parse().ok()?))),
            None => None,
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((entry, None)),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(pairs: &[(&str, &str)]) -> Proxies {
        let env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Proxies::from_env(&|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("valid proxy settings")
    }

    /// `(variable, proxy)` that carries a request to `url`; `None`: direct.
    fn via(proxies: &Proxies, url: &str) -> Option<(&'static str, String)> {
        let url = Url::parse(url).expect("url");
        proxies
            .for_url(&url)
            .map(|s| (s.variable, s.url.as_str().to_owned()))
    }

    fn by(variable: &'static str, proxy: &str) -> Option<(&'static str, String)> {
        Some((variable, proxy.to_owned()))
    }

    #[test]
    fn each_scheme_has_its_variable_lower_case_first_and_all_proxy_after() {
        assert_eq!(via(&proxies(&[]), "http://n/"), None);
        let http = proxies(&[("HTTP_PROXY", "http://p:3128")]);
        assert_eq!(via(&http, "http://n/"), by("HTTP_PROXY", "http://p:3128/"));
        assert_eq!(
            via(&http, "https://n/"),
            None,
            "http_proxy is for http:// only"
        );
        let https = proxies(&[("https_proxy", "p:8443")]);
        assert_eq!(
            via(&https, "https://n/"),
            by("https_proxy", "http://p:8443/")
        );
        assert_eq!(via(&https, "http://n/"), None);
        let both = proxies(&[
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper:2"),
        ]);
        assert_eq!(via(&both, "http://n/"), by("http_proxy", "http://lower:1/"));
        assert_eq!(both.conflicts, [("http_proxy", "HTTP_PROXY")]);
        let same = proxies(&[
            ("https_proxy", "http://p:1"),
            ("HTTPS_PROXY", " http://p:1 "),
        ]);
        assert!(same.conflicts.is_empty());
        let all = proxies(&[("ALL_PROXY", "http://all:1"), ("http_proxy", "http://h:2")]);
        assert_eq!(via(&all, "http://n/"), by("http_proxy", "http://h:2/"));
        assert_eq!(via(&all, "https://n/"), by("ALL_PROXY", "http://all:1/"));
        let blank = proxies(&[("http_proxy", "  "), ("HTTP_PROXY", "http://upper:2")]);
        assert_eq!(
            via(&blank, "http://n/"),
            by("HTTP_PROXY", "http://upper:2/")
        );
    }

    #[test]
    fn no_proxy_is_read_lower_case_first_like_the_proxies() {
        // The case: the token went through the proxy, and no warning said so.
        let env = proxies(&[
            ("http_proxy", "http://127.0.0.1:18400"),
            ("no_proxy", "127.0.0.1"),
            ("NO_PROXY", "localhost"),
        ]);
        assert_eq!(via(&env, "http://127.0.0.1:8080/"), None);
        assert_eq!(
            via(&env, "http://localhost:8080/"),
            by("http_proxy", "http://127.0.0.1:18400/")
        );
        assert_eq!(env.conflicts, [("no_proxy", "NO_PROXY")]);
        let upper = proxies(&[("HTTP_PROXY", "http://p:1"), ("NO_PROXY", "localhost")]);
        assert_eq!(via(&upper, "http://localhost/"), None);
    }

    #[test]
    fn no_proxy_lists_names_addresses_ranges_ports_and_a_star() {
        let env = proxies(&[
            ("all_proxy", "http://p:3128"),
            (
                "no_proxy",
                " .internal, *.corp.example Example.ORG,,10.0.0.0/8 192.168.1.7 \
                 ::1,fd00::/8,[fe80::1]:8080,localhost:9000,172.16.0.1:443",
            ),
        ]);
        let proxied = by("all_proxy", "http://p:3128/");
        for (url, direct) in [
            ("https://internal/", true),
            ("https://a.b.internal:8443/", true),
            ("https://notinternal/", false),
            ("https://corp.example/", true),
            ("https://x.corp.example/", true),
            ("http://example.org/", true),
            ("http://www.EXAMPLE.org./", true),
            ("http://example.org.evil/", false),
            ("http://10.1.2.3:8080/", true),
            ("http://11.1.2.3/", false),
            ("http://192.168.1.7/", true),
            ("http://192.168.1.8/", false),
            ("http://[::1]:8080/", true),
            ("http://[fd12::5]/", true),
            ("http://[fe80::1]:8080/", true),
            ("http://[fe80::1]:8081/", false),
            ("http://localhost:9000/", true),
            ("http://localhost:9001/", false),
            ("https://172.16.0.1/", true),
            ("http://172.16.0.1/", false),
        ] {
            let expected = if direct { None } else { proxied.clone() };
            assert_eq!(via(&env, url), expected, "{url}");
        }
        let star = proxies(&[("HTTPS_PROXY", "http://p"), ("NO_PROXY", "*")]);
        assert_eq!(via(&star, "https://n/"), None);
        let cidr = proxies(&[
            ("http_proxy", "http://p"),
            ("no_proxy", "127.0.0.1/32,0.0.0.0/0"),
        ]);
        assert_eq!(
            via(&cidr, "http://8.8.8.8/"),
            None,
            "/0 covers every IPv4 address"
        );
        assert_eq!(via(&cidr, "http://[::2]/"), by("http_proxy", "http://p/"));
        let names = proxies(&[("http_proxy", "http://p"), ("no_proxy", "10.0.0.0/8")]);
        assert_eq!(
            via(&names, "http://ten.example/"),
            by("http_proxy", "http://p/"),
            "names are not resolved"
        );
    }

    #[test]
    fn a_proxy_that_is_not_an_http_url_is_refused_naming_the_variable() {
        for (name, value, why) in [
            ("ALL_PROXY", "socks5://p:1080", "not socks5://"),
            ("https_proxy", "http://", "not a URL"),
            ("HTTP_PROXY", "http://[::1", "not a URL"),
        ] {
            let err = Proxies::from_env(&|n| (n == name).then(|| value.to_owned()))
                .expect_err(value)
                .to_string();
            assert!(err.contains(name) && err.contains(why), "{err}");
        }
    }

    #[test]
    fn a_proxy_password_is_never_shown() {
        let env = proxies(&[("http_proxy", "http://user:s3cret@p:3128")]);
        let setting = env
            .for_url(&Url::parse("http://n/").expect("url"))
            .expect("proxied");
        assert_eq!(setting.url.password(), Some("s3cret"), "the client gets it");
        let shown = format!("{} {setting:?} {env:?}", setting.shown());
        assert!(
            !shown.contains("s3cret") && !shown.contains("user"),
            "{shown}"
        );
        assert!(shown.contains("http://p:3128"), "{shown}");
    }
}
