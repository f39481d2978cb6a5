//! Bakes the build-time Sentry configuration into the binary (never into a
//! source file) and generates the C header from `src/ffi.rs`.
//!
//! The header is written to `$OUT_DIR/libstatus.h`; a test compares it with the
//! committed `include/libstatus.h`. Set `LIBSTATUS_WRITE_HEADER=1` to refresh the
//! committed copy (`scripts/update-header`).

#[path = "src/reporting/build_env.rs"]
mod build_env;

use std::env;
use std::path::PathBuf;

const BAKED: &[&str] = &["SENTRY_CONTEXT_NAME", "SENTRY_CONTEXT_VERSION", "SENTRY_PRODUCTION", "SENTRY_DSN"];

fn main() {
    for name in BAKED {
        println!("cargo:rerun-if-env-changed={name}");
        let value = env::var(name).unwrap_or_default();
        let value = match *name {
            "SENTRY_PRODUCTION" => if build_env::is_production_flag(&value) { "1" } else { "" }.to_owned(),
            _ => build_env::non_empty(&value).unwrap_or_default().to_owned(),
        };
        if !value.is_empty() {
            println!("cargo:rustc-env=LIBSTATUS_{name}={value}");
        }
    }

    println!("cargo:rerun-if-env-changed=LIBSTATUS_WRITE_HEADER");
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    bindings.write_to_file(out_dir.join("libstatus.h"));
    if env::var_os("LIBSTATUS_WRITE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(crate_dir.join("include/libstatus.h"));
    }
}
