//! HTTP for the model store, on `ureq` 2 (blocking, rustls): bounded time, retries for transient
//! failures, proxies chosen per URL the way curl and Python's `requests` choose them, and the token sent
//! to the hub's own host only.
//!
//! Time is bounded by two timeouts named as `huggingface_hub` names them: `HF_HUB_ETAG_TIMEOUT` for the
//! hub's answer about a file (connect and read), `HF_HUB_DOWNLOAD_TIMEOUT` for the file's bytes (connect,
//! and the longest silence between two reads). Both default to 10 s, as in Python. A failure that made
//! no progress is tried again `retries` times (3) after 0.5, 1, 2 s; one that made progress starts the
//! count again (as Python's `http_get` does), so a flaky link still finishes a large file while a
//! silent server is given up after `(retries + 1) × timeout + backoff` = 43.5 s with the defaults
//! ([`NetSettings::worst_case_silence`]).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use url::Url;

pub const DEFAULT_ETAG_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRIES: u32 = 3;
/// How long a second process waits for another's download of the same file that makes no progress.
/// The wait itself is unbounded while the other download moves (a 1.1 GB GGUF at 1 MB/s takes 18 min);
/// 10 min without a byte means that process is stuck, not slow.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(600);
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// The longest `Retry-After` honoured (a longer one is waited this long, then tried).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);

/// Timeouts, retries, lock patience and proxies; [`NetSettings::from_env`] reads them as
/// `huggingface_hub` does where it has a name for them.
#[derive(Debug, Clone, PartialEq)]
pub struct NetSettings {
    /// Connect and read timeout for the hub's answer about a file (`HF_HUB_ETAG_TIMEOUT`).
    pub etag_timeout: Duration,
    /// Connect timeout and longest silence while a file's bytes arrive (`HF_HUB_DOWNLOAD_TIMEOUT`).
    pub download_timeout: Duration,
    /// Tries after the first for a transient failure that made no progress (`VERTOLK_DOWNLOAD_RETRIES`).
    pub retries: u32,
    /// Give up waiting for another process's download after this long without progress
    /// (`VERTOLK_LOCK_TIMEOUT`).
    pub lock_timeout: Duration,
    pub proxies: Proxies,
}

impl Default for NetSettings {
    fn default() -> Self {
        Self {
            etag_timeout: DEFAULT_ETAG_TIMEOUT,
            download_timeout: DEFAULT_DOWNLOAD_TIMEOUT,
            retries: DEFAULT_RETRIES,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            proxies: Proxies::default(),
        }
    }
}

/// Seconds as the CLI and the environment give them: a non-negative number; 0 means the default (as
/// `huggingface_hub`'s `_as_int(...) or DEFAULT`).
pub fn parse_seconds(s: &str) -> Result<Option<Duration>, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.0..=1e9).contains(&v) {
        return Err(format!("'{s}' is not a number of seconds"));
    }
    Ok((v > 0.0).then(|| Duration::from_secs_f64(v)))
}

impl NetSettings {
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// From any source of variables (the environment, or a map in tests). Unparsable values are
    /// ignored with a warning here; the CLI rejects them (exit 2) before.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let d = Self::default();
        let secs = |k: &str, default: Duration| match get(k).filter(|v| !v.trim().is_empty()).map(|v| parse_seconds(&v)) {
            Some(Ok(Some(t))) => t,
            Some(Err(e)) => {
                tracing::warn!("{k}: {e}; using {} s", default.as_secs_f64());
                default
            }
            _ => default,
        };
        let retries = match get("VERTOLK_DOWNLOAD_RETRIES").map(|v| v.trim().parse::<u32>()) {
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                tracing::warn!("VERTOLK_DOWNLOAD_RETRIES is not a whole number; using {}", d.retries);
                d.retries
            }
            None => d.retries,
        };
        Self {
            etag_timeout: secs("HF_HUB_ETAG_TIMEOUT", d.etag_timeout),
            download_timeout: secs("HF_HUB_DOWNLOAD_TIMEOUT", d.download_timeout),
            retries,
            lock_timeout: secs("VERTOLK_LOCK_TIMEOUT", d.lock_timeout),
            proxies: Proxies::from_vars(&get),
        }
    }

    /// The wait before try `n + 1` (n = 0 after the first failure): 0.5 s doubling, at most 8 s.
    pub fn backoff(n: u32) -> Duration {
        BACKOFF_FIRST.saturating_mul(1u32 << n.min(16)).min(BACKOFF_MAX)
    }

    /// The wait before the next try: the backoff, or the server's `Retry-After` if longer (capped).
    pub fn wait_before_retry(n: u32, retry_after: Option<Duration>) -> Duration {
        Self::backoff(n).max(retry_after.map(|r| r.min(RETRY_AFTER_MAX)).unwrap_or_default())
    }

    /// The longest a file's download takes to fail when its server goes silent: every try waits a full
    /// timeout, with the backoffs between them.
    pub fn worst_case_silence(&self) -> Duration {
        let timeouts = self.download_timeout.max(self.etag_timeout) * (self.retries + 1);
        (0..self.retries).map(Self::backoff).sum::<Duration>() + timeouts
    }
}

/// A proxy setting and the variable it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySetting {
    pub url: String,
    pub var: String,
}

impl ProxySetting {
    /// The proxy's URL without credentials, and where it was set.
    pub fn describe(&self) -> String {
        format!("the proxy {} (from {})", redact(&self.url), self.var)
    }
}

/// `user:password@` in a URL replaced by `***@`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        (None, Some(at)) => format!("***{}", &url[at..]),
        _ => url.to_string(),
    }
}

/// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, lower-case names first, as Python's
/// `requests` and curl read them: the scheme's own proxy, else `ALL_PROXY`; none for a host that
/// `NO_PROXY` names (`*`, `host`, `.domain`/`domain` and its subdomains, `host:port`, an IP or a CIDR
/// range). Loopback is not exempt unless listed, as in both of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<ProxySetting>,
    https: Option<ProxySetting>,
    all: Option<ProxySetting>,
    no_proxy: Vec<String>,
}

impl Proxies {
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let pick = |lower: &str| {
            [lower.to_string(), lower.to_ascii_uppercase()]
                .into_iter()
                .find_map(|k| get(&k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).map(|url| ProxySetting { url, var: k }))
        };
        let no_proxy = pick("no_proxy")
            .map(|s| s.url.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).collect())
            .unwrap_or_default();
        Self { http: pick("http_proxy"), https: pick("https_proxy"), all: pick("all_proxy"), no_proxy }
    }

    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none() && self.all.is_none()
    }

    /// The proxy for `url`, if any.
    pub fn for_url(&self, url: &Url) -> Option<&ProxySetting> {
        let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if self.bypass(&host, url.port_or_known_default()) {
            return None;
        }
        let own = match url.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        };
        own.or(self.all.as_ref())
    }

    fn bypass(&self, host: &str, port: Option<u16>) -> bool {
        let ip: Option<IpAddr> = host.parse().ok();
        self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
                return match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
                    (Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
                    _ => false,
                };
            }
            // `host:port` (not an IPv6 address, which has several colons)
            let (name, want_port) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') => (n, p.parse::<u16>().ok()),
                _ => (entry.as_str(), None),
            };
            if want_port.is_some() && want_port != port {
                return false;
            }
            let name = name.trim_start_matches("*.").trim_start_matches('.').trim_start_matches('[').trim_end_matches(']');
            !name.is_empty() && (host == name || host.strip_suffix(name).is_some_and(|rest| rest.ends_with('.')))
        })
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What went wrong with one request, in the terms the store's messages need.
#[derive(Debug, Clone, PartialEq)]
pub enum NetError {
    /// The name of `target` (a host, or a proxy) cannot be resolved.
    Unresolvable { target: String },
    /// Connecting to `target` failed: refused, or no answer within the timeout.
    Unreachable { target: String, timed_out: bool },
    /// Connected, then nothing for the whole timeout.
    Stalled,
    /// The connection closed or reset early.
    Dropped { detail: String },
    /// An HTTP error status, with the hub's `X-Error-Code`, `X-Repo-Commit` and `Retry-After`.
    Status { code: u16, error_code: Option<String>, commit: Option<String>, retry_after: Option<Duration> },
    /// The proxy refused or failed (or its URL is not one ureq can use).
    Proxy { proxy: String, detail: String },
    Other { detail: String },
}

impl NetError {
    /// Worth another try: stalls, dropped connections, 408/429/5xx (never 401, 403, 404).
    pub fn is_transient(&self) -> bool {
        match self {
            NetError::Stalled | NetError::Dropped { .. } => true,
            NetError::Status { code, .. } => matches!(code, 408 | 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// An error while reading a body.
    pub fn from_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => NetError::Stalled,
            k => NetError::Dropped { detail: k.to_string() },
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NetError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// `host:port` of a URL, as messages name it.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.as_str().to_string(),
    }
}

/// A URL without its query (signed CDN URLs carry credentials there) for logs.
pub fn loggable(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// The HTTP client: one `ureq` agent per (proxy, timeout), kept for connection reuse; redirects are
/// answers (the callers follow them, deciding about the token per host).
pub struct Http {
    settings: NetSettings,
    hub: url::Origin,
    token: Option<String>,
    user_agent: String,
    agents: Mutex<HashMap<(Option<String>, Duration), ureq::Agent>>,
}

impl Http {
    pub fn new(settings: NetSettings, endpoint: &Url, token: Option<String>) -> Self {
        Self {
            settings,
            hub: endpoint.origin(),
            token,
            user_agent: format!("vertolk/{}", env!("CARGO_PKG_VERSION")),
            agents: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &NetSettings {
        &self.settings
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The token goes to the hub's own origin (scheme, host, port) only: never to the CDN a file is
    /// redirected to, whose URL is signed instead (Python drops `authorization` there too).
    pub fn sends_token_to(&self, url: &Url) -> bool {
        self.token.is_some() && url.origin() == self.hub
    }

    fn agent(&self, proxy: Option<&ProxySetting>, timeout: Duration) -> Result<ureq::Agent, NetError> {
        let key = (proxy.map(|p| p.url.clone()), timeout);
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = agents.get(&key) {
            return Ok(a.clone());
        }
        let mut b = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .user_agent(&self.user_agent);
        if let Some(p) = proxy {
            // ureq calls it socks5; remote name resolution is what it does for socks5 anyway
            let url = p.url.replacen("socks5h://", "socks5://", 1);
            let parsed = ureq::Proxy::new(&url).map_err(|_| NetError::Proxy {
                proxy: p.describe(),
                detail: "not a proxy URL this client can use (http://, socks4://, socks5://)".into(),
            })?;
            b = b.proxy(parsed);
        }
        let a = b.build();
        agents.insert(key, a.clone());
        Ok(a)
    }

    /// One request. `range_from` asks for the bytes from that offset on. 2xx and 3xx are answers; other
    /// statuses and transport failures are [`NetError`]s.
    pub fn send(&self, method: &str, url: &Url, range_from: Option<u64>, timeout: Duration) -> Result<ureq::Response, NetError> {
        let proxy = self.settings.proxies.for_url(url);
        let agent = self.agent(proxy, timeout)?;
        // no compression: sizes and ranges must count the file's own bytes
        let mut req = agent.request(method, url.as_str()).set("Accept-Encoding", "identity");
        if let Some(from) = range_from {
            req = req.set("Range", &format!("bytes={from}-"));
        }
        if self.sends_token_to(url) {
            if let Some(t) = &self.token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
        }
        tracing::debug!(%method, url = %loggable(url), range = ?range_from, proxy = ?proxy.map(|p| redact(&p.url)), token = self.sends_token_to(url), "request");
        match req.call() {
            Ok(r) => {
                tracing::debug!(status = r.status(), "answer");
                Ok(r)
            }
            Err(ureq::Error::Status(code, r)) => {
                tracing::debug!(status = code, "answer");
                let header = |k: &str| r.header(k).map(str::to_string);
                Err(NetError::Status {
                    code,
                    error_code: header("X-Error-Code"),
                    commit: header("X-Repo-Commit"),
                    retry_after: header("Retry-After").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs),
                })
            }
            Err(ureq::Error::Transport(t)) => Err(from_transport(&t, url, proxy)),
        }
    }
}

fn from_transport(t: &ureq::Transport, url: &Url, proxy: Option<&ProxySetting>) -> NetError {
    use std::error::Error as _;
    use ureq::ErrorKind as K;
    let io_kind = t.source().and_then(|s| s.downcast_ref::<std::io::Error>()).map(|e| e.kind());
    let target = proxy.map(ProxySetting::describe).unwrap_or_else(|| host_of(url));
    tracing::debug!(kind = %t.kind(), io = ?io_kind, "transport error");
    match t.kind() {
        K::Dns => NetError::Unresolvable { target },
        K::ConnectionFailed => NetError::Unreachable {
            target,
            timed_out: matches!(io_kind, Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)),
        },
        K::Io => match io_kind {
            Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => NetError::Stalled,
            Some(k) => NetError::Dropped { detail: k.to_string() },
            None => NetError::Dropped { detail: t.kind().to_string() },
        },
        // a status line or header cut short: the connection closed mid-answer
        K::BadStatus | K::BadHeader => NetError::Dropped { detail: t.kind().to_string() },
        K::ProxyConnect | K::ProxyUnauthorized | K::InvalidProxyUrl => {
            NetError::Proxy { proxy: target, detail: t.kind().to_string() }
        }
        k => NetError::Other { detail: k.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Proxies {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Proxies::from_vars(|k| map.get(k).cloned())
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn proxy_per_scheme_then_all_lower_case_first() {
        let p = proxies(&[("HTTP_PROXY", "http://upper:1"), ("http_proxy", "http://lower:1"), ("ALL_PROXY", "socks5://all:2")]);
        assert_eq!(p.for_url(&url("http://huggingface.co/x")).map(|s| s.url.as_str()), Some("http://lower:1"));
        assert_eq!(p.for_url(&url("http://huggingface.co/x")).map(|s| s.var.as_str()), Some("http_proxy"));
        assert_eq!(p.for_url(&url("https://huggingface.co/x")).map(|s| s.url.as_str()), Some("socks5://all:2"));
        let p = proxies(&[("HTTPS_PROXY", "http://s:3")]);
        assert!(p.for_url(&url("http://huggingface.co/x")).is_none(), "HTTPS_PROXY is for https URLs only");
        assert_eq!(p.for_url(&url("https://huggingface.co/x")).map(|s| s.var.as_str()), Some("HTTPS_PROXY"));
        assert!(proxies(&[]).is_empty() && proxies(&[("https_proxy", "  ")]).is_empty());
    }

    #[test]
    fn no_proxy_matches_hosts_domains_ports_ips_and_ranges() {
        let p = proxies(&[("ALL_PROXY", "http://p:1"), ("NO_PROXY", "localhost, .internal.example,example.org:8080,10.0.0.0/8,::1,*.corp")]);
        let direct = |u: &str| p.for_url(&url(u)).is_none();
        assert!(direct("http://localhost:5000/"));
        assert!(direct("https://hub.internal.example/") && direct("https://internal.example/"));
        assert!(!direct("https://notinternal.example/"), "a suffix must end at a dot");
        assert!(direct("http://example.org:8080/") && !direct("http://example.org/"));
        assert!(direct("http://10.1.2.3/") && !direct("http://11.0.0.1/"));
        assert!(direct("http://[::1]:8000/"));
        assert!(direct("https://a.corp/") && !direct("https://huggingface.co/"));
        let all = proxies(&[("https_proxy", "http://p:1"), ("no_proxy", "*")]);
        assert!(all.for_url(&url("https://huggingface.co/")).is_none());
    }

    #[test]
    fn proxy_credentials_never_reach_messages() {
        let s = ProxySetting { url: "http://user:pa55@proxy:3128".into(), var: "HTTPS_PROXY".into() };
        assert_eq!(s.describe(), "the proxy http://***@proxy:3128 (from HTTPS_PROXY)");
        assert_eq!(loggable(&url("https://cdn.example/blob?X-Amz-Signature=abc")), "https://cdn.example/blob");
    }

    #[test]
    fn settings_from_vars_like_huggingface_hub() {
        let map: HashMap<&str, &str> = [("HF_HUB_DOWNLOAD_TIMEOUT", "2.5"), ("HF_HUB_ETAG_TIMEOUT", "0"), ("VERTOLK_DOWNLOAD_RETRIES", "0")].into();
        let s = NetSettings::from_vars(|k| map.get(k).map(|v| v.to_string()));
        assert_eq!(s.download_timeout, Duration::from_millis(2500));
        assert_eq!(s.etag_timeout, DEFAULT_ETAG_TIMEOUT, "0 means the default, as in Python");
        assert_eq!(s.retries, 0);
        assert!(parse_seconds("-1").is_err() && parse_seconds("x").is_err() && parse_seconds("nan").is_err());
    }

    #[test]
    fn a_silent_server_is_given_up_within_a_minute_with_the_defaults() {
        let d = NetSettings::default();
        assert_eq!(d.worst_case_silence(), Duration::from_millis(43_500));
        assert!(d.worst_case_silence() < Duration::from_secs(60));
        assert_eq!(NetSettings::backoff(0), Duration::from_millis(500));
        assert_eq!(NetSettings::backoff(10), BACKOFF_MAX);
        assert_eq!(NetSettings::wait_before_retry(0, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(NetSettings::wait_before_retry(0, Some(Duration::from_secs(3600))), RETRY_AFTER_MAX);
    }

    #[test]
    fn transient_failures_are_retried_client_errors_are_not() {
        let st = |code| NetError::Status { code, error_code: None, commit: None, retry_after: None };
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(st(code).is_transient(), "{code}");
        }
        for code in [400, 401, 403, 404, 416] {
            assert!(!st(code).is_transient(), "{code}");
        }
        assert!(NetError::Stalled.is_transient());
        assert!(NetError::from_io(&std::io::Error::from(std::io::ErrorKind::ConnectionReset)).is_transient());
        assert!(!NetError::Unreachable { target: "h".into(), timed_out: false }.is_transient());
    }

    #[test]
    fn the_token_goes_to_the_hub_origin_only() {
        let h = Http::new(NetSettings::default(), &url("https://huggingface.co"), Some("t".into()));
        assert!(h.sends_token_to(&url("https://huggingface.co/org/m/resolve/main/config.json")));
        assert!(!h.sends_token_to(&url("https://cdn-lfs.huggingface.co/repos/x")));
        assert!(!h.sends_token_to(&url("http://huggingface.co/x")), "another scheme is another origin");
        assert!(!h.sends_token_to(&url("https://huggingface.co:8443/x")));
        assert!(!Http::new(NetSettings::default(), &url("https://huggingface.co"), None).sends_token_to(&url("https://huggingface.co/x")));
    }
}
