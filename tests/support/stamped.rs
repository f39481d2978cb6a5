//! [`StampedReceiver`]: an envelope endpoint that knows when the kernel
//! received every byte (Linux's `SO_TIMESTAMPNS`).

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::{dsn_for, envelope_event};

/// One connection that reached a [`StampedReceiver`]: the kernel's receive
/// time of every chunk read from it (CLOCK_REALTIME, from `SO_TIMESTAMPNS`,
/// so a busy test thread cannot make a request look later than it was), and
/// the bytes.
#[derive(Debug, Clone)]
pub struct StampedRequest {
    pub stamps: Vec<std::time::SystemTime>,
    pub bytes: Vec<u8>,
}

impl StampedRequest {
    /// The event of the envelope in the body, when the request was complete.
    pub fn event(&self) -> Option<Value> {
        let split = self.bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        envelope_event(&self.bytes[split + 4..])
    }
}

/// A minimal envelope endpoint that answers 200 to every request and records,
/// for every byte it got, when the kernel received it. For tests that must
/// tell exactly whether a request was sent after some instant.
pub struct StampedReceiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<StampedRequest>>>,
}

impl StampedReceiver {
    pub fn start() -> Self {
        Self::start_slow(Duration::ZERO)
    }

    /// One that waits `delay` between getting a whole request and answering
    /// it: the sender holds the report in flight meanwhile.
    pub fn start_slow(delay: Duration) -> Self {
        use std::os::fd::AsRawFd;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        // On the listener, before any connection: accepted sockets inherit the
        // option, and the kernel then stamps every segment when it arrives. Set
        // only after `accept`, a segment that arrived earlier would carry the
        // time it was read instead.
        enable_timestamps(listener.as_raw_fd());
        let requests: Arc<Mutex<Vec<StampedRequest>>> = Arc::default();
        let all = requests.clone();
        #[allow(clippy::disallowed_methods)] // the test's own server thread
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let all = all.clone();
                #[allow(clippy::disallowed_methods)] // one thread per connection
                std::thread::spawn(move || {
                    let fd = stream.as_raw_fd();
                    let index = {
                        let mut all = all.lock().unwrap();
                        all.push(StampedRequest { stamps: Vec::new(), bytes: Vec::new() });
                        all.len() - 1
                    };
                    while let Some((chunk, stamp)) = recv_stamped(fd) {
                        let mut all = all.lock().unwrap();
                        let request = &mut all[index];
                        request.stamps.push(stamp);
                        request.bytes.extend_from_slice(&chunk);
                        if request_complete(&request.bytes) {
                            drop(all);
                            std::thread::sleep(delay);
                            let mut s = &stream;
                            let _ = std::io::Write::write_all(
                                &mut s,
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                            );
                            break;
                        }
                    }
                });
            }
        });
        StampedReceiver { addr, requests }
    }

    pub fn dsn(&self) -> String {
        dsn_for(self.addr)
    }

    pub fn requests(&self) -> Vec<StampedRequest> {
        self.requests.lock().unwrap().iter().filter(|r| !r.bytes.is_empty()).cloned().collect()
    }
}

fn enable_timestamps(fd: std::os::fd::RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_TIMESTAMPNS");
}

fn request_complete(bytes: &[u8]) -> bool {
    let Some(split) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&bytes[..split]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        .unwrap_or(0);
    bytes.len() >= split + 4 + length
}

/// One `recvmsg` with its kernel receive timestamp; `None` at EOF or error.
fn recv_stamped(fd: std::os::fd::RawFd) -> Option<(Vec<u8>, std::time::SystemTime)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut control = [0u8; 256];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: zeroed msghdr is a valid "empty" value; fields set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    // SAFETY: msg points to live buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    let mut stamp = std::time::SystemTime::now();
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                stamp = std::time::UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Some((buf, stamp))
}
