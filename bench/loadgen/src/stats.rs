//! Clock, latency histograms, a growable bitset and small parsing helpers.

use hdrhistogram::Histogram;
use memchr::memmem;
use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

pub fn init_clock() {
    START.get_or_init(Instant::now);
}

/// Microseconds since the load generator started (one monotonic clock for every task).
pub fn now_us() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Latency histogram in microseconds, 1 µs .. 10 min, 2 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.max(1));
}

/// `{count, p50_ms, p99_ms, max_ms, mean_ms}` of a histogram.
pub fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |us: u64| (us as f64) / 1000.0;
    if h.is_empty() {
        return serde_json::json!({ "count": 0 });
    }
    serde_json::json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
        "mean_ms": h.mean() / 1000.0,
    })
}

/// A bitset over small integers that grows on demand.
#[derive(Default, Clone)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            words: vec![0; n.div_ceil(64)],
        }
    }
    /// Sets bit `i`; returns true when it was already set.
    pub fn set(&mut self, i: usize) -> bool {
        let w = i / 64;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let m = 1u64 << (i % 64);
        let was = self.words[w] & m != 0;
        self.words[w] |= m;
        was
    }
    pub fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }
}

/// A JSON key as it appears in the payloads (`"seq":`), with its searcher built once: the
/// handlers look keys up once or twice per delivery, and `str::find` or `memmem::find` build a
/// searcher on every call, which showed up in the load generator's profile.
pub struct Key(memmem::Finder<'static>);

impl Key {
    fn new(key: &'static str) -> Self {
        Self(memmem::Finder::new(key))
    }

    /// Where the value after the key starts in `s`.
    fn value_at(&self, s: &str) -> Option<usize> {
        Some(self.0.find(s.as_bytes())? + self.0.needle().len())
    }
}

pub static SEQ: LazyLock<Key> = LazyLock::new(|| Key::new("\"seq\":"));
pub static TEXT: LazyLock<Key> = LazyLock::new(|| Key::new("\"text\":\""));
pub static SID: LazyLock<Key> = LazyLock::new(|| Key::new("\"sid\":\""));

/// The unsigned integer right after `key` in `s` (e.g. `"seq":`).
pub fn find_u64(s: &str, key: &Key) -> Option<u64> {
    let rest = &s[key.value_at(s)?..];
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The text of a JSON string field `"key":"..."` without escapes (the texts we send have none).
pub fn find_str<'a>(s: &'a str, key: &Key) -> Option<&'a str> {
    let rest = &s[key.value_at(s)?..];
    let end = memchr::memchr(b'"', rest.as_bytes())?;
    Some(&rest[..end])
}

/// VmRSS and VmHWM of a process, in bytes.
pub fn rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Deterministic spread in [0, 1) for client `i` (golden-ratio sequence), instead of a RNG.
pub fn spread(i: usize) -> f64 {
    ((i as f64) * 0.618_033_988_749_895).fract()
}

/// User + system CPU time of a process so far, in seconds (`/proc/<pid>/stat`, clock ticks of
/// 1/100 s, the Linux default).
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds used by the server and by this load generator between two samples.
pub struct CpuMark {
    server: Option<f64>,
    me: Option<f64>,
}

impl CpuMark {
    pub fn now(server_pid: Option<u32>) -> Self {
        Self {
            server: server_pid.and_then(|p| cpu_secs(Some(p))),
            me: cpu_secs(None),
        }
    }
    /// `(server_cpu_s, loadgen_cpu_s)` since `self`.
    pub fn since(&self, server_pid: Option<u32>) -> (Option<f64>, Option<f64>) {
        let later = Self::now(server_pid);
        let d = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        (d(self.server, later.server), d(self.me, later.me))
    }
}
