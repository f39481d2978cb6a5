//! Bakes the build-time Sentry configuration into the binary (never into a
//! source file) and generates the C header from `src/ffi.rs`.
//!
//! The header is written to `$OUT_DIR/libstatus.h`; a test compares it with the
//! committed `include/libstatus.h`. Set `LIBSTATUS_WRITE_HEADER=1` to refresh the
//! committed copy (`scripts/update-header`).
//!
//! Also, for hosts (see README "Linking" and "Beside status-go"):
//! - `LIBSTATUS_PREFIXED=1` sets the cfg `libstatus_prefixed`: every export is
//!   named `libstatus_<Name>` (src/ffi.rs) and the soname is `libstatus_rs.so.0`.
//!   It is an environment variable, not a cargo feature, so that
//!   `cargo build --all-features` keeps building the unprefixed library every
//!   host and test expects; build it into its own target dir
//!   (`scripts/install --prefixed` does).
//! - The prefixed header `libstatus_rs.h` is derived from `libstatus.h` by
//!   renaming the exports, written next to it (and committed, like it).
//! - On macOS and iOS the dylib's install name is `@rpath/libstatus.dylib`
//!   (see `link_name`).
//! - On Linux the cdylib gets `DT_SONAME` `libstatus.so.0`, and a
//!   `libstatus.so.0 -> libstatus.so` symlink is put in the profile folder
//!   (`target/debug`) so hosts linked there with `-lstatus` run from the build
//!   tree.

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

    println!("cargo::rustc-check-cfg=cfg(libstatus_prefixed)");
    println!("cargo:rerun-if-env-changed=LIBSTATUS_PREFIXED");
    let prefixed = env::var_os("LIBSTATUS_PREFIXED").is_some_and(|v| v == "1");
    if prefixed {
        println!("cargo:rustc-cfg=libstatus_prefixed");
    }
    link_name(if prefixed { "libstatus_rs" } else { "libstatus" });
    windows_debug_id();

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
    let mut plain = Vec::new();
    bindings.write(&mut plain);
    let prefixed_header = prefixed_header(&String::from_utf8(plain).expect("the header is UTF-8"));
    std::fs::write(out_dir.join("libstatus_rs.h"), &prefixed_header).expect("write libstatus_rs.h");
    if env::var_os("LIBSTATUS_WRITE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(crate_dir.join("include/libstatus.h"));
        std::fs::write(crate_dir.join("include/libstatus_rs.h"), &prefixed_header)
            .expect("write include/libstatus_rs.h");
    }
}

/// The exports, as the prefixed build renames them.
const EXPORTS: &[&str] = &[
    "InitializeApplication",
    "ToggleCentralizedMetrics",
    "CentralizedMetricsInfo",
    "IntendedPanic",
    "IntendedBackgroundPanic",
    "FlushPanicReports",
    "Free",
    "NextPanicReport",
    "PanicReportOutcome",
];

/// `libstatus.h` with every export (declarations and mentions in comments)
/// renamed `libstatus_<Name>`, and its own include guard.
fn prefixed_header(plain: &str) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(plain.len() + 1024);
    let mut rest = plain;
    while let Some(start) = rest.find(|c: char| is_ident(c)) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..].find(|c: char| !is_ident(c)).unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        // "an `IntendedPanic` event" names the event's exception type, not the export.
        if EXPORTS.contains(&word) && !out.ends_with("an `") {
            out.push_str("libstatus_");
        }
        out.push_str(word);
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    out.replace("LIBSTATUS_H", "LIBSTATUS_RS_H").replacen(
        "run scripts/update-header. */",
        "run scripts/update-header. */\n/* The prefixed build (LIBSTATUS_PREFIXED=1, libstatus_rs.so): every export is libstatus_<Name>. */",
        1,
    )
}

/// The name the shared library gives itself, which a program linked with it
/// records and looks for at run time; the one place where build.rs tells
/// platforms apart.
/// - Linux: `DT_SONAME` `<stem>.so.<major>` ([`soname`]).
/// - macOS and iOS: the install name `@rpath/<stem>.dylib` (without it, the
///   linker records the build folder's path, which no user's machine has;
///   with it, a host finds the library on its own `LC_RPATH`, as Xcode sets
///   it for a bundled framework or dylib).
/// - Android keeps the plain `libstatus.so` its loader looks up by file name;
///   Windows names a DLL by its file name.
fn link_name(stem: &str) {
    match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("linux") => soname(stem),
        Ok("macos" | "ios") => println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/{stem}.dylib"),
        _ => {}
    }
}

/// `DT_SONAME` `<stem>.so.<major>`, and the matching symlink to the built
/// `libstatus.so` in the profile folder (for the prefixed build also
/// `<stem>.so`, so `-lstatus_rs` links there too).
fn soname(stem: &str) {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("CARGO_PKG_VERSION_MAJOR");
    let soname = format!("{stem}.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    // OUT_DIR is <profile dir>/build/<package>-<hash>/out.
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let Some(profile_dir) = out_dir.ancestors().nth(3) else { return };
    let mut links = vec![soname];
    if stem != "libstatus" {
        links.push(format!("{stem}.so"));
    }
    for link in links {
        let path = profile_dir.join(link);
        if std::fs::symlink_metadata(&path).is_err() {
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink("libstatus.so", &path);
        }
    }
}

/// Windows (mingw): a CodeView record in the DLL's debug directory, whose
/// GUID is the linker's build id. Sentry's PE debug image takes its
/// `debug_id` from that record (`code_id` is the PE timestamp and image
/// size); without it an event carries no image for the library.
fn windows_debug_id() {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--build-id");
    }
}
