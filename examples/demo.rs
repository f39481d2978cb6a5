//! The main job, end to end: a small host loads the built `libstatus.so` with
//! dlopen, starts a Sentry envelope receiver on loopback, initialises the
//! library with a DSN pointing at it, opts in, calls `IntendedPanic`, and prints
//! the error JSON it got back and the event that arrived over HTTP.
//!
//! Run it with `scripts/demo` (which builds the library first).

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::json;
use support::{lib, Receiver};

fn main() {
    let receiver = Receiver::start();
    let data_dir = support::data_dir();
    println!("libstatus: {}", support::so_path().display());
    println!("envelope receiver: http://{}/api/{}/envelope/", receiver.addr, support::PROJECT);

    // As CI's main branch would run it; `development` or `ci-pr` send nothing.
    support::set_environment("ci-main");
    let request = json!({"dataDir": data_dir.path(), "sentryDSN": receiver.dsn(), "logEnabled": true});
    println!(
        "\n> InitializeApplication({{\"dataDir\": ..., \"sentryDSN\": <hidden>, \"logEnabled\": true}})"
    );
    println!("{}", lib().call("InitializeApplication", &request.to_string()));

    println!("\n> ToggleCentralizedMetrics({{\"enabled\":true}})");
    println!("{}", lib().call("ToggleCentralizedMetrics", r#"{"enabled":true}"#));

    let message = r#"demo panic {"password":"hunter2"}"#;
    println!("\n> IntendedPanic({message:?})");
    println!("{}", lib().call("IntendedPanic", message));

    println!("\n> FlushPanicReports(10000)");
    println!("{}", lib().call_int("FlushPanicReports", 10_000));

    let events = receiver.delivered_events();
    println!("\nevents received over HTTP: {}", events.len());
    for event in &events {
        println!("{}", serde_json::to_string_pretty(event).expect("event JSON"));
    }
    if events.len() != 1 {
        eprintln!("expected exactly one event");
        std::process::exit(1);
    }
}
