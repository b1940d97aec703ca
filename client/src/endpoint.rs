//! Where a registrar URL points: `sctp://host[,host…][:port]` (one
//! multi-homed SCTP endpoint, ASAP port 3863 by default) or `ws(s)://…`
//! (a gateway link, `client_core::gateway_link`).

use client_core::wire::consts::ASAP_PORT;

/// A registrar (or pool element) address as the user gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `sctp://host[,host…][:port]` or bare `host:port`. Several hosts are
    /// the addresses of one multi-homed endpoint; a name resolving to
    /// several addresses is treated the same way.
    Sctp {
        /// Host names or addresses, in the user's order.
        hosts: Vec<String>,
        /// SCTP port.
        port: u16,
    },
    /// `wss://…` (or `ws://…`) through the gateway.
    Wss {
        /// The URL as given.
        url: String,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Sctp { hosts, port } => {
                let hosts: Vec<String> = hosts
                    .iter()
                    .map(|h| {
                        if h.contains(':') {
                            format!("[{h}]")
                        } else {
                            h.clone()
                        }
                    })
                    .collect();
                write!(f, "sctp://{}:{port}", hosts.join(","))
            }
            Endpoint::Wss { url } => write!(f, "{url}"),
        }
    }
}

/// Why a registrar URL is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// Neither `sctp://`, `ws://` nor `wss://`.
    #[error("unsupported scheme {0:?} (use sctp:// or wss://)")]
    Scheme(String),
    /// The URL names no host.
    #[error("no host in {0:?}")]
    NoHost(String),
    /// The port is not a number in 1..=65535 (or an IPv6 address lacks brackets).
    #[error("bad port in {0:?}")]
    Port(String),
}

/// Parse a registrar URL. The ASAP port (3863) is the default for SCTP.
pub fn parse_endpoint(text: &str) -> Result<Endpoint, UrlError> {
    let text = text.trim();
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("sctp".to_string(), text),
    };
    match scheme.as_str() {
        "wss" | "ws" => {
            if rest.is_empty() || rest.starts_with('/') {
                return Err(UrlError::NoHost(text.to_string()));
            }
            Ok(Endpoint::Wss {
                url: text.to_string(),
            })
        }
        "sctp" => {
            let rest = rest.trim_end_matches('/');
            // The port follows the last ':' that is outside brackets.
            let close = rest.rfind(']').map_or(0, |i| i + 1);
            let (hosts, port) = match rest[close..].rfind(':') {
                Some(i) => {
                    let port_text = &rest[close + i + 1..];
                    let port = port_text
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| UrlError::Port(text.to_string()))?;
                    (&rest[..close + i], port)
                }
                None => (rest, ASAP_PORT),
            };
            let hosts: Vec<String> = hosts
                .split(',')
                .map(|h| {
                    h.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string()
                })
                .filter(|h| !h.is_empty())
                .collect();
            if hosts.is_empty() {
                return Err(UrlError::NoHost(text.to_string()));
            }
            // A bare IPv6 address without brackets has several ':'.
            if hosts.len() == 1 && hosts[0].contains(':') && !rest.contains('[') {
                return Err(UrlError::Port(text.to_string()));
            }
            Ok(Endpoint::Sctp { hosts, port })
        }
        other => Err(UrlError::Scheme(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sctp(hosts: &[&str], port: u16) -> Endpoint {
        Endpoint::Sctp {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            port,
        }
    }

    #[test]
    fn parses_sctp_urls_with_default_port_and_multi_homing() {
        assert_eq!(
            parse_endpoint("sctp://10.1.0.3:3863").unwrap(),
            sctp(&["10.1.0.3"], 3863)
        );
        assert_eq!(
            parse_endpoint("10.1.0.3:4000").unwrap(),
            sctp(&["10.1.0.3"], 4000)
        );
        assert_eq!(
            parse_endpoint("sctp://registrar.example").unwrap(),
            sctp(&["registrar.example"], 3863)
        );
        assert_eq!(
            parse_endpoint("sctp://10.1.0.1,10.0.2.15:3863").unwrap(),
            sctp(&["10.1.0.1", "10.0.2.15"], 3863)
        );
        assert_eq!(
            parse_endpoint("sctp://[::1]:3863").unwrap(),
            sctp(&["::1"], 3863)
        );
        assert_eq!(
            parse_endpoint("sctp://[::1]").unwrap(),
            sctp(&["::1"], 3863)
        );
    }

    #[test]
    fn parses_wss_urls_verbatim() {
        assert_eq!(
            parse_endpoint("wss://127.0.0.1:8443/asap").unwrap(),
            Endpoint::Wss {
                url: "wss://127.0.0.1:8443/asap".into()
            }
        );
    }

    #[test]
    fn refuses_bad_urls_with_reasons() {
        assert_eq!(
            parse_endpoint("http://x"),
            Err(UrlError::Scheme("http".into()))
        );
        assert!(matches!(
            parse_endpoint("sctp://:3863"),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(
            parse_endpoint("sctp://h:99999"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            parse_endpoint("sctp://h:0"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(parse_endpoint("wss://"), Err(UrlError::NoHost(_))));
    }

    #[test]
    fn endpoints_print_back_as_urls() {
        assert_eq!(
            sctp(&["::1", "10.0.0.1"], 3863).to_string(),
            "sctp://[::1],10.0.0.1:3863"
        );
    }
}
