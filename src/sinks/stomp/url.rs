//! `stomp://login:passcode@host:port/vhost?heartbeat=MS`: where the broker is and how to log in.
//!
//! The path is the virtual host (`/` or nothing: RabbitMQ's default vhost `/`; `%2F` and other
//! `%XX` escapes are decoded). The port defaults to 61613. `heartbeat` (milliseconds, default
//! 10000) is how often each side promises to show life; a broker silent for twice that long
//! (plus a margin) is taken as gone.

use std::time::Duration;

/// STOMP's registered port.
const DEFAULT_PORT: u16 = 61613;
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub login: Option<String>,
    pub passcode: Option<String>,
    pub vhost: String,
    pub heartbeat: Duration,
}

impl BrokerUrl {
    /// `host:port` for `TcpStream::connect`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Parses `url`; the error says what is wrong, never the passcode.
pub fn parse(url: &str) -> Result<BrokerUrl, String> {
    let rest = url
        .strip_prefix("stomp://")
        .ok_or("the scheme must be stomp://")?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (login, passcode) = match userinfo {
        Some(info) => {
            let (login, passcode) = info.split_once(':').unwrap_or((info, ""));
            (Some(decode(login)?), Some(decode(passcode)?))
        }
        None => (None, None),
    };
    let (host, port) = split_host_port(hostport)?;
    Ok(BrokerUrl {
        host,
        port,
        login,
        passcode,
        vhost: vhost(path)?,
        heartbeat: heartbeat(query)?,
    })
}

fn split_host_port(hostport: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("unclosed [ in the host")?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port
            .parse()
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| format!("bad port {port:?}"))?,
    };
    Ok((host.to_owned(), port))
}

fn vhost(path: &str) -> Result<String, String> {
    let name = path.strip_prefix('/').unwrap_or(path);
    if name.is_empty() {
        Ok("/".into())
    } else {
        decode(name)
    }
}

fn heartbeat(query: &str) -> Result<Duration, String> {
    let mut heartbeat = DEFAULT_HEARTBEAT;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("heartbeat", ms)) => {
                let ms: u64 = ms
                    .parse()
                    .ok()
                    .filter(|&ms| ms >= 100)
                    .ok_or("heartbeat must be a number of milliseconds, at least 100")?;
                heartbeat = Duration::from_millis(ms);
            }
            _ => return Err(format!("unknown parameter {pair:?}")),
        }
    }
    Ok(heartbeat)
}

/// Decodes `%XX` escapes.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or("truncated %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "%-escapes are not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let url = parse("stomp://guest:guest@127.0.0.1:61613/").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 61613);
        assert_eq!(url.login.as_deref(), Some("guest"));
        assert_eq!(url.passcode.as_deref(), Some("guest"));
        assert_eq!(url.vhost, "/");
        assert_eq!(url.heartbeat, DEFAULT_HEARTBEAT);
        assert_eq!(url.address(), "127.0.0.1:61613");
    }

    #[test]
    fn defaults_and_escapes() {
        let url = parse("stomp://broker.local").unwrap();
        assert_eq!(
            (url.port, url.vhost.as_str(), url.login),
            (61613, "/", None)
        );
        let url = parse("stomp://a%40b:p%3Aw@[::1]:1234/%2Fprod?heartbeat=500").unwrap();
        assert_eq!(url.login.as_deref(), Some("a@b"));
        assert_eq!(url.passcode.as_deref(), Some("p:w"));
        assert_eq!(url.address(), "[::1]:1234");
        assert_eq!(url.vhost, "/prod");
        assert_eq!(url.heartbeat, Duration::from_millis(500));
        assert_eq!(parse("stomp://h/chat").unwrap().vhost, "chat");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "amqp://h",
            "stomp://",
            "stomp://h:0",
            "stomp://h:x",
            "stomp://h/%zz",
            "stomp://h/?heartbeat=5",
            "stomp://h/?foo=1",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
