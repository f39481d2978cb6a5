//! The platform seams: one small module per concern, each with its Unix side
//! and its Windows side, so that the rest of the library has no `cfg` of its
//! own. `unsafe` here is limited to the system calls std does not wrap.
//!
//! - [`files`]: files and folders (opening without following links, private
//!   modes, atomic replacement, file identity);
//! - [`process`]: `fork()` handlers (Windows has no `fork`) and what tests of
//!   the platform need (links, FIFOs, `SIGPIPE`);
//! - [`socket`]: ending a connection from another thread;
//! - [`unwind`]: a code address's function start, from the unwind tables.

pub mod files;
pub mod process;
pub mod socket;
pub mod unwind;
