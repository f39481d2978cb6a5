//! A Rust host that links the library (status-backend does) shares its panic
//! hook: the host's own hook, installed before the library's, still sees every
//! panic the library does not catch, and none of those the library catches.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use status::api::{Arg, Endpoint};

#[test]
fn the_hosts_hook_sees_its_own_panics_and_not_the_librarys() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    status::panics::install_hook();

    let answer = status::guard::run(Endpoint::IntendedPanic, || Ok(Arg::Str("caught by the library"))).json;
    assert!(answer.contains(r#""code":"panic""#), "{answer}");
    assert_eq!(seen.load(Ordering::SeqCst), 0, "the library's caught panic reached the host's hook");

    let host_panic = panic::catch_unwind(|| panic!("the host's own panic"));
    assert!(host_panic.is_err());
    assert_eq!(seen.load(Ordering::SeqCst), 1, "the host's panic did not reach the host's hook");
}
