//! Sockets, each platform's way: ending a connection from another thread.
//!
//! | | Unix | Windows |
//! |---|---|---|
//! | drop what is queued | `SO_LINGER` {1, 0}: the close is a reset | the same |
//! | wake a thread blocked on it | `shutdown(SHUT_RDWR)`: a blocked `send`, `recv` or `connect` returns at once | `shutdown(SD_BOTH)` does not wake a blocked call; `CancelIoEx` on the socket does (it fails with `ERROR_OPERATION_ABORTED`) |
//! | no `SIGPIPE` | Linux and Android: std's `send` passes `MSG_NOSIGNAL`; Apple systems: `SO_NOSIGPIPE` on the socket, set by `socket2::Socket::new`, which opens every socket of the client | no signals |

use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use socket2::SockRef;

/// Ends a connection at once, from any thread: a reset rather than a FIN, so
/// that what the kernel still holds of the request is dropped instead of
/// sent, and the thread using the socket (in a `send`, a `recv` or a
/// connect) gets an error now rather than at its deadline.
pub fn abort(stream: &TcpStream) {
    let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
    let _ = stream.shutdown(Shutdown::Both);
    wake(stream);
}

#[cfg(unix)]
fn wake(_: &TcpStream) {
    // (The shutdown did.)
}

#[cfg(windows)]
fn wake(stream: &TcpStream) {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::System::IO::CancelIoEx;
    // SAFETY: the socket is open (the caller holds the stream) and a socket
    // is a kernel handle; a null OVERLAPPED cancels every pending operation
    // on it, whichever thread issued it. Nothing is freed: the blocked call
    // returns an error and its thread goes on.
    unsafe { CancelIoEx(stream.as_raw_socket() as _, std::ptr::null()) };
}
