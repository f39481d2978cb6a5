//! Real proxies from Debian (tinyproxy, microsocks) on loopback, for the
//! HTTP client's unit tests and the host-style tests alike: tests/support
//! includes this file too (`#[path]`), so both start them one way.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user and password every test proxy asks for.
pub const USER: &str = "user";
pub const PASSWORD: &str = "secret-pass";

/// A proxy listening on `127.0.0.1:port`, killed when dropped.
pub struct Running {
    pub port: u16,
    child: Child,
    /// (tinyproxy's configuration file lives here.)
    _dir: tempfile::TempDir,
}

impl Running {
    /// The proxy's URL with its credentials, as `sentryProxy` takes it.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tinyproxy, an HTTP proxy (absolute-form requests and CONNECT), with Basic
/// credentials [`USER`] and [`PASSWORD`]; `None` (with a printed reason)
/// when it is not installed.
pub fn tinyproxy() -> Option<Running> {
    start("tinyproxy", |port, dir| {
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nBasicAuth {USER} {PASSWORD}\nLogLevel Critical\nMaxClients 10\nDisableViaHeader Yes\n"
            ),
        )
        .unwrap();
        vec!["-d".to_owned(), "-c".to_owned(), conf.display().to_string()]
    })
}

/// microsocks, a SOCKS5 proxy, with [`USER`] and [`PASSWORD`]; `None` (with
/// a printed reason) when it is not installed.
pub fn microsocks() -> Option<Running> {
    start("microsocks", |port, _| {
        ["-i", "127.0.0.1", "-p", &port.to_string(), "-u", USER, "-P", PASSWORD].map(str::to_owned).to_vec()
    })
}

/// Starts `program` on a free loopback port and waits until it listens.
fn start(program: &str, args: impl FnOnce(u16, &std::path::Path) -> Vec<String>) -> Option<Running> {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(program)
        .args(args(port, dir.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!("SKIPPED: {program} is not installed (scripts/setup installs it)");
        return None;
    };
    let running = Running { port, child, _dir: dir };
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{program} never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(running)
}
