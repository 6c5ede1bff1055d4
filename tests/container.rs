//! The container image without a container engine: the binary run the way the Dockerfile runs
//! it (its ENV, ENTRYPOINT, USER, a read-only WORKDIR, and the HEALTHCHECK command), plus text
//! checks of the Dockerfile, .dockerignore and the compose stack.
//!
//! The Dockerfile is parsed here, so the test follows it: change an ENV default there and this
//! test runs with the new value.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// One Dockerfile instruction: keyword (upper case) and its arguments, continuation lines
/// joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

fn instructions(dockerfile: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let logical = std::mem::take(&mut pending);
        let logical = logical.trim();
        if logical.is_empty() {
            continue;
        }
        let (keyword, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical, ""));
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
        });
    }
    assert!(pending.is_empty(), "Dockerfile ends in a continuation");
    out
}

/// The instructions of the last stage (after the last FROM).
fn final_stage(all: &[Instruction]) -> Vec<Instruction> {
    let last_from = all
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .expect("a FROM");
    all[last_from..].to_vec()
}

/// `ENV a=b c=d` (and the legacy `ENV a b`) of one stage, in order.
fn env_of(stage: &[Instruction]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for instruction in stage.iter().filter(|i| i.keyword == "ENV") {
        if !instruction.args.contains('=') {
            let (key, value) = instruction.args.split_once(' ').expect("ENV key value");
            env.insert(key.to_owned(), value.trim().to_owned());
            continue;
        }
        for pair in instruction.args.split_whitespace() {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV pair without `=`: {pair}"));
            env.insert(key.to_owned(), value.trim_matches('"').to_owned());
        }
    }
    env
}

/// An exec-form (JSON array) argument list.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|error| panic!("not an exec-form JSON array: {args}: {error}"))
}

fn last<'a>(stage: &'a [Instruction], keyword: &str) -> Option<&'a Instruction> {
    stage.iter().rev().find(|i| i.keyword == keyword)
}

/// The HEALTHCHECK command of a stage: `HEALTHCHECK [--options] CMD [...]`.
fn healthcheck_command(stage: &[Instruction]) -> Vec<String> {
    let healthcheck = last(stage, "HEALTHCHECK").expect("a HEALTHCHECK in the final stage");
    let (_, command) = healthcheck
        .args
        .split_once("CMD ")
        .expect("HEALTHCHECK ... CMD [...]");
    exec_form(command.trim())
}

/// What the container runs: ENTRYPOINT followed by CMD (both exec form).
fn container_command(stage: &[Instruction]) -> Vec<String> {
    let mut argv = last(stage, "ENTRYPOINT")
        .map(|i| exec_form(&i.args))
        .unwrap_or_default();
    argv.extend(
        last(stage, "CMD")
            .map(|i| exec_form(&i.args))
            .unwrap_or_default(),
    );
    assert!(!argv.is_empty(), "the image has neither ENTRYPOINT nor CMD");
    argv
}

/// `USER uid[:gid]` of the final stage, numeric.
fn user_of(stage: &[Instruction]) -> (u32, u32) {
    let user = last(stage, "USER").expect("a USER in the final stage");
    let (uid, gid) = user
        .args
        .split_once(':')
        .unwrap_or((&user.args, &user.args));
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER should be numeric (uid:gid), got {}", user.args));
    let gid: u32 = gid.parse().expect("numeric gid");
    (uid, gid)
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_healthcheck() {
    let dockerfile = read("Dockerfile");
    let all = instructions(&dockerfile);
    let froms: Vec<&Instruction> = all.iter().filter(|i| i.keyword == "FROM").collect();
    assert!(froms.len() >= 3, "node, rust and runtime stages: {froms:?}");
    assert!(
        froms.iter().any(|f| f.args.starts_with("node:20")),
        "{froms:?}"
    );
    assert!(
        froms.iter().any(|f| f.args.starts_with("rust:")),
        "{froms:?}"
    );
    let runtime = froms.last().unwrap();
    assert!(
        !runtime.args.starts_with("rust:") && !runtime.args.starts_with("node:"),
        "the runtime stage must not be a toolchain image: {runtime:?}"
    );

    let stage = final_stage(&all);
    let (uid, gid) = user_of(&stage);
    assert!(uid != 0 && gid != 0, "the server must not run as root");
    assert!(
        stage
            .iter()
            .any(|i| i.keyword == "EXPOSE" && i.args.split_whitespace().any(|p| p == "3000")),
        "EXPOSE 3000"
    );
    let command = container_command(&stage);
    let probe = healthcheck_command(&stage);
    assert_eq!(
        probe,
        [command[0].as_str(), "healthcheck"],
        "HEALTHCHECK runs the same binary"
    );
    assert!(
        stage.iter().any(|i| i.keyword == "COPY"
            && i.args.starts_with("--from=")
            && i.args.ends_with(&command[0])),
        "the binary is copied from the build stage to {}",
        command[0]
    );

    let env = env_of(&stage);
    assert_eq!(env["SWITCHBOARD_ADDR"], "0.0.0.0:3000");
    assert_eq!(env["SWITCHBOARD_LOG_FORMAT"], "json");
    assert_eq!(env["RUST_LOG"], "info");
    let static_dir = &env["SWITCHBOARD_STATIC_DIR"];
    assert!(
        stage.iter().any(|i| i.keyword == "COPY"
            && i.args.starts_with("--from=")
            && i.args.ends_with(static_dir.as_str())),
        "the demo app is copied to {static_dir}"
    );

    // The Rust build: dependencies cached from Cargo.toml, Cargo.lock and vendor/ (the patched
    // engineioxide) before the sources arrive, and the lock file honoured.
    let position = |needle: &str| {
        dockerfile
            .find(needle)
            .unwrap_or_else(|| panic!("Dockerfile lacks {needle:?}"))
    };
    assert!(position("COPY Cargo.toml Cargo.lock") < position("COPY src/"));
    assert!(position("COPY vendor/") < position("cargo build"));
    assert!(position("cargo build") < position("COPY src/"));
    for build in all
        .iter()
        .filter(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
    {
        assert!(build.args.contains("--locked"), "{build:?}");
    }
    assert!(
        dockerfile.contains("npm ci"),
        "the demo is built from its lock file"
    );
}

#[test]
fn dockerignore_keeps_build_outputs_out_of_the_context() {
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for needed in ["**/target", "**/node_modules", "**/dist", ".git"] {
        assert!(patterns.contains(&needed), "{needed} missing: {patterns:?}");
    }
    for kept in ["src", "vendor", "Cargo.toml", "Cargo.lock", "client-demo"] {
        assert!(!patterns.contains(&kept), "{kept} must reach the build");
    }
}

#[test]
fn compose_wires_redis_and_rabbitmq_with_health_gates() {
    let plugins = read("deploy/rabbitmq/enabled_plugins");
    assert_eq!(
        plugins.trim(),
        "[rabbitmq_management,rabbitmq_stomp,rabbitmq_web_stomp]."
    );
    let compose = read("deploy/compose.yaml");
    for needed in [
        "context: ..",
        "image: redis:7",
        "image: rabbitmq:3",
        "SWITCHBOARD_REDIS_URL: redis://redis:6379",
        "SWITCHBOARD_STOMP_URL: stomp://",
        "@rabbitmq:61613/",
        "SWITCHBOARD_STOMP_WEB_URL: ws://localhost:15674/ws",
        "RABBITMQ_DEFAULT_USER:",
        "RABBITMQ_DEFAULT_PASS:",
        "./rabbitmq/enabled_plugins:/etc/rabbitmq/enabled_plugins",
        "\"3000:3000\"",
        "\"15674:15674\"",
        "[\"CMD\", \"/app/switchboard\", \"healthcheck\"]",
    ] {
        assert!(compose.contains(needed), "compose.yaml lacks {needed:?}");
    }
    assert!(
        !compose.contains("guest:guest@rabbitmq"),
        "guest only logs in from loopback"
    );
    assert_eq!(compose.matches("condition: service_healthy").count(), 2);
    assert_eq!(compose.matches("healthcheck:").count(), 3);
}

// ---- the binary as the image runs it ----

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "switchboard-container-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The read-only working directory must be writable again to be removed.
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for entry in entries.flatten() {
                set_mode(&entry.path(), 0o755);
            }
        }
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start the image's processes here: the image's argv with its binary path replaced by
/// the built one, under the image's USER when this test can switch users (it runs as root).
struct Launcher {
    binary: PathBuf,
    user: Option<(u32, u32)>,
    cwd: PathBuf,
    env: BTreeMap<String, String>,
}

impl Launcher {
    fn command(&self, image_argv: &[String], image_binary: &str) -> Command {
        let mut argv: Vec<String> = image_argv
            .iter()
            .map(|arg| {
                if arg == image_binary {
                    self.binary.display().to_string()
                } else {
                    arg.clone()
                }
            })
            .collect();
        if let Some((uid, gid)) = self.user {
            let mut wrapped = vec![
                "setpriv".to_owned(),
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".to_owned(),
                "--".to_owned(),
            ];
            wrapped.append(&mut argv);
            argv = wrapped;
        }
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .current_dir(&self.cwd)
            .env_clear()
            .envs(&self.env);
        command
    }

    fn output(&self, image_argv: &[String], image_binary: &str) -> Output {
        self.command(image_argv, image_binary)
            .stdin(Stdio::null())
            .output()
            .expect("runs")
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn binary_runs_as_the_image_runs_it_and_healthcheck_follows_it() {
    let all = instructions(&read("Dockerfile"));
    let stage = final_stage(&all);
    let image_argv = container_command(&stage);
    let probe_argv = healthcheck_command(&stage);
    let image_binary = image_argv[0].clone();
    let (uid, gid) = user_of(&stage);

    let scratch = Scratch::new();
    let as_root = running_as_root();
    let binary = if as_root {
        // The image's user must be able to read and run it, wherever the build put it.
        let copy = scratch.0.join("switchboard");
        std::fs::copy(BIN, &copy).unwrap();
        set_mode(&copy, 0o755);
        copy
    } else {
        PathBuf::from(BIN)
    };
    let static_dir = scratch.0.join("static");
    std::fs::create_dir(&static_dir).unwrap();
    set_mode(&static_dir, 0o755);
    let marker = "container-test-index";
    std::fs::write(
        static_dir.join("index.html"),
        format!("<!doctype html><title>{marker}</title>"),
    )
    .unwrap();
    set_mode(&static_dir.join("index.html"), 0o644);
    // WORKDIR: the server never writes there.
    let cwd = scratch.0.join("workdir");
    std::fs::create_dir(&cwd).unwrap();
    set_mode(&cwd, 0o555);

    let mut env = env_of(&stage);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    env.insert("SWITCHBOARD_ADDR".into(), addr.clone());
    env.insert(
        "SWITCHBOARD_STATIC_DIR".into(),
        static_dir.display().to_string(),
    );
    env.insert(
        "PATH".into(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    );
    let launcher = Launcher {
        binary,
        user: as_root.then_some((uid, gid)),
        cwd,
        env,
    };

    let mut server = KillOnDrop(
        launcher
            .command(&image_argv, &image_binary)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts"),
    );
    let pid = server.0.id();

    // JSON logs (SWITCHBOARD_LOG_FORMAT from the Dockerfile) announce the address.
    let stdout = server.0.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = match lines_rx.recv_timeout(remaining) {
            Ok(line) => line,
            Err(_) => {
                let status = server.0.try_wait().unwrap();
                let mut stderr = String::new();
                if status.is_some() {
                    use std::io::Read;
                    server
                        .0
                        .stderr
                        .take()
                        .unwrap()
                        .read_to_string(&mut stderr)
                        .ok();
                }
                panic!("the server did not log `listening` ({status:?}): {stderr}");
            }
        };
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("log line is not JSON ({error}): {line}"));
        if entry["fields"]["message"] == "listening" {
            assert_eq!(entry["fields"]["addr"], addr.as_str());
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || while lines_rx.recv().is_ok() {});

    if as_root {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid_line
                .split_whitespace()
                .skip(1)
                .all(|id| id == uid.to_string()),
            "the server runs as the image's USER: {uid_line}"
        );
    }

    // The HEALTHCHECK, with the same environment, user and working directory.
    let healthy = launcher.output(&probe_argv, &image_binary);
    assert_eq!(
        healthy.status.code(),
        Some(0),
        "healthcheck against a live server: stdout {} stderr {}",
        String::from_utf8_lossy(&healthy.stdout),
        String::from_utf8_lossy(&healthy.stderr)
    );
    assert!(String::from_utf8_lossy(&healthy.stdout).contains("healthy"));

    // The static directory from the environment is what `/` serves.
    let index = http_get(port, "/");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains(marker), "{index}");

    // `docker stop`: SIGTERM, then a clean exit.
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_with_timeout(&mut server.0, Duration::from_secs(15))
        .expect("the server exits after SIGTERM");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );

    let unhealthy = launcher.output(&probe_argv, &image_binary);
    assert_eq!(
        unhealthy.status.code(),
        Some(1),
        "healthcheck against a stopped server: stdout {} stderr {}",
        String::from_utf8_lossy(&unhealthy.stdout),
        String::from_utf8_lossy(&unhealthy.stderr)
    );
    let stderr = String::from_utf8_lossy(&unhealthy.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line why: {stderr}");
    assert!(stderr.contains("unhealthy"), "{stderr}");
}

#[test]
fn healthcheck_flags_override_the_environment() {
    // `--addr` on the subcommand wins over SWITCHBOARD_ADDR; a refused port fails fast.
    let closed = free_port();
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["healthcheck", "--addr", &format!("127.0.0.1:{closed}")])
        .env_clear()
        .env("SWITCHBOARD_ADDR", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{closed}")), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A listener that never answers: the timeout decides.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["healthcheck", "--timeout-ms", "300"])
        .env_clear()
        .env("SWITCHBOARD_ADDR", &addr)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no answer"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(silent);

    // --help still lists the server's flags beside the subcommand.
    let help = Command::new(BIN)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for needed in ["--addr", "--static-dir", "--log-format", "healthcheck"] {
        assert!(help.contains(needed), "--help lacks {needed}: {help}");
    }
}

/// A plain HTTP/1.1 GET, read to the end.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
