//! Whether a request to a node goes through a proxy, and which environment variable says so.

use std::net::IpAddr;

use reqwest::Url;

/// The proxy environment variable reqwest would use for `url`, or `None`
/// when the URL goes direct: `HTTP_PROXY` for http and `HTTPS_PROXY` for
/// https (each lower case first, then upper case), then `ALL_PROXY`, unless
/// `NO_PROXY` matches the host. `NO_PROXY` entries are `*`, domain names
/// (matching the name and its subdomains, with or without a leading dot),
/// and IP addresses or CIDR blocks.
pub(super) fn proxy_variable(
    url: &Url,
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<&'static str> {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    let candidates: &[&'static str] = match url.scheme() {
        "https" => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    };
    let variable = candidates.iter().copied().find(|name| set(name))?;
    let no_proxy = var("no_proxy")
        .or_else(|| var("NO_PROXY"))
        .unwrap_or_default();
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let excluded = no_proxy
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| no_proxy_matches(entry, host));
    (!excluded).then_some(variable)
}

fn no_proxy_matches(entry: &str, host: &str) -> bool {
    if entry == "*" {
        return true;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match entry.split_once('/') {
            Some((net, bits)) => match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
                (Ok(IpAddr::V4(net)), Ok(bits)) if bits <= 32 => match ip {
                    IpAddr::V4(ip) => {
                        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                        u32::from(ip) & mask == u32::from(net) & mask
                    }
                    IpAddr::V6(_) => false,
                },
                (Ok(IpAddr::V6(net)), Ok(bits)) if bits <= 128 => match ip {
                    IpAddr::V6(ip) => {
                        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                        u128::from(ip) & mask == u128::from(net) & mask
                    }
                    IpAddr::V4(_) => false,
                },
                _ => false,
            },
            None => entry.parse::<IpAddr>().is_ok_and(|e| e == ip),
        };
    }
    let domain = entry.trim_start_matches('.').to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}
