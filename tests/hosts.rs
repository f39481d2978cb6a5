//! What a host migrating from status-go relies on, through the built library:
//! status-go's request semantics, the versioned soname, the prefixed build
//! that lives beside status-go's own library in one process (against the Go
//! peer with status-go's export shape, `../shared/peers/go-cshared`), and the
//! install layout a C host builds against.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{assert_error, data_dir, lib, parse};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn info() -> Value {
    parse(&lib().call_void("CentralizedMetricsInfo"))
}

#[test]
fn requests_are_read_as_status_go_reads_them() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    // Keys in any case (Go's encoding/json), null as absent, unknown keys ignored.
    let answer = lib().init(json!({
        "DataDir": d, "LOGENABLED": true, "logLevel": null, "SentryDSN": null, "mixpanelToken": "x"
    }));
    assert_eq!(answer["centralizedMetricsInfo"], json!({"enabled": false, "userConfirmed": false}));
    assert!(dir.path().join("status.log").exists(), "LOGENABLED did not enable the log");

    assert_eq!(lib().call("ToggleCentralizedMetrics", r#"{"Enabled":true}"#), r#"{"error":""}"#);
    assert_eq!(info(), json!({"enabled": true, "userConfirmed": true}));
    // A missing boolean is false: {} is an opt-out, as in status-go.
    assert_eq!(lib().call("ToggleCentralizedMetrics", "{}"), r#"{"error":""}"#);
    assert_eq!(info(), json!({"enabled": false, "userConfirmed": true}));
    lib().opt_in(true);
    assert_eq!(lib().call("ToggleCentralizedMetrics", r#"{"enabled":null,"other":1}"#), r#"{"error":""}"#);
    assert_eq!(info(), json!({"enabled": false, "userConfirmed": true}));
    // Strict where Go's last-key-wins would opt in by accident.
    assert_error(
        &lib().call("ToggleCentralizedMetrics", r#"{"enabled":false,"ENABLED":true}"#),
        "invalid-request",
    );
    assert_eq!(info(), json!({"enabled": false, "userConfirmed": true}));
    // Wrong types and non-objects stay invalid-request.
    for junk in [r#"{"enabled":"true"}"#, r#"{"Enabled":1}"#, "null", "[]"] {
        assert_error(&lib().call("ToggleCentralizedMetrics", junk), "invalid-request");
    }
    let v = assert_error(&lib().call("InitializeApplication", r#"{"datadir":null}"#), "invalid-request");
    assert!(v["error"].as_str().unwrap().contains("dataDir"), "{v}");
}

#[test]
fn the_shared_library_has_a_versioned_soname() {
    if !support::isolated() {
        return;
    }
    // The copy the tests load (the freshest: `target/debug/libstatus.so`
    // after a `cargo build`, `target/debug/deps/libstatus.so` after a test
    // build alone), whichever it is, carries the soname.
    let so = support::so_path();
    let dynamic = run(support::target_tool("readelf").arg("-d").arg(&so));
    assert!(dynamic.contains("Library soname: [libstatus.so.0]"), "{}: {dynamic}", so.display());
    // build.rs's symlink lets programs linked in the build tree start: it
    // names the `libstatus.so` beside it (what `-lstatus` links there), which
    // is the loaded copy or, after a test build alone, an older build of it.
    let dir = support::target_dir();
    let link = dir.join("libstatus.so.0");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("libstatus.so"), "{}", link.display());
    let beside = dir.join("libstatus.so");
    if std::fs::canonicalize(&beside).ok() != std::fs::canonicalize(&so).ok() && beside.exists() {
        let dynamic = run(support::target_tool("readelf").arg("-d").arg(&beside));
        assert!(dynamic.contains("Library soname: [libstatus.so.0]"), "{}: {dynamic}", beside.display());
    }
}

#[test]
fn the_committed_prefixed_header_is_what_build_rs_generates() {
    if !support::isolated() {
        return;
    }
    let generated = include_str!(concat!(env!("OUT_DIR"), "/libstatus_rs.h"));
    let committed = std::fs::read_to_string(format!("{ROOT}/include/libstatus_rs.h")).unwrap();
    assert!(
        generated == committed,
        "include/libstatus_rs.h is stale: run scripts/update-header and commit the result"
    );
    for name in ["InitializeApplication", "CentralizedMetricsInfo", "FlushPanicReports", "Free"] {
        assert!(
            committed.contains(&format!(" *libstatus_{name}("))
                || committed.contains(&format!(" libstatus_{name}("))
        );
    }
    assert!(!committed.contains(" Free("), "an unprefixed declaration is left");
}

/// Builds the prefixed library (LIBSTATUS_PREFIXED=1) into `target/prefixed`:
/// its own target dir, so the unprefixed `target/debug` stays what every other
/// test and binding loads. Up to date after the first time (a full build).
fn prefixed_lib_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LIBSTATUS_PREFIXED_LIB_DIR") {
        return PathBuf::from(dir);
    }
    let target = support::target_dir().parent().expect("target dir").to_path_buf();
    let target_dir = target.join("prefixed");
    let mut cargo = Command::new(env!("CARGO"));
    // As from a shell: without what cargo set for this test (CARGO_MANIFEST_DIR,
    // CARGO_PKG_*, OUT_DIR...). Some build scripts (ring's) track such variables,
    // so leaving them would rebuild their crates on every other run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if (name.starts_with("CARGO") && name != "CARGO_HOME") || name == "OUT_DIR" || name == "RUSTFLAGS" {
            cargo.env_remove(name);
        }
    }
    run(cargo
        .current_dir(ROOT)
        .args(["build", "--lib", "--target-dir"])
        .arg(&target_dir)
        .env("LIBSTATUS_PREFIXED", "1"));
    target_dir.join("debug")
}

/// The Go peer built with its own build.sh into `out` (needs Debian's golang-go).
fn go_peer(out: &Path) -> PathBuf {
    let build = Path::new(ROOT).join("../shared/peers/go-cshared/build.sh");
    let build = if build.exists() { build } else { PathBuf::from("/work/shared/peers/go-cshared/build.sh") };
    assert!(build.exists(), "the Go peer is not at {}", build.display());
    assert!(
        Command::new("go").arg("version").output().is_ok_and(|o| o.status.success()),
        "go is needed for the coexistence test (scripts/setup installs golang-go)"
    );
    run(Command::new("bash").arg(&build).arg(out));
    out.to_path_buf()
}

#[test]
fn the_prefixed_build_runs_beside_status_go_in_one_process() {
    if !support::isolated() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let lib_dir = prefixed_lib_dir();
    let so = lib_dir.join("libstatus.so");

    // Every export is prefixed; nothing is left under status-go's names.
    let exports = support::elf_exported_functions(&so);
    for (name, _) in support::EXPORTS {
        assert!(
            exports.contains(&format!("libstatus_{name}")),
            "libstatus_{name} is not exported: {exports:?}"
        );
        assert!(!exports.contains(&(*name).to_owned()), "{name} is still exported unprefixed");
    }
    let dynamic = run(Command::new("readelf").arg("-d").arg(&so));
    assert!(dynamic.contains("Library soname: [libstatus_rs.so.0]"), "{dynamic}");

    // Installed as libstatus_rs (file names, header, pkg-config), as a packager would.
    let prefix = work.path().join("prefix");
    run(Command::new(format!("{ROOT}/scripts/install"))
        .args(["--prefixed", "--lib-dir"])
        .arg(&lib_dir)
        .arg(&prefix));
    let libdir = prefix.join("lib");
    for file in ["libstatus_rs.so.0.1.0", "libstatus_rs.so.0", "libstatus_rs.so", "libstatus_rs.a"] {
        assert!(libdir.join(file).exists(), "{file} not installed");
    }
    assert!(prefix.join("include/libstatus_rs.h").exists());
    let pkg_config = |args: &[&str]| {
        run(Command::new("pkg-config").args(args).env("PKG_CONFIG_PATH", libdir.join("pkgconfig")))
    };
    let flags = pkg_config(&["--cflags", "--libs", "libstatus_rs"]);
    assert!(flags.contains("-lstatus_rs"), "{flags}");
    // And through its CMake package (shared and static targets).
    let project = work.path().join("cmake");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("host.c"),
        "#include \"libstatus_rs.h\"\n#include <string.h>\nint main(void) {\n  char *a = libstatus_IntendedPanic(\"x\");\n  int ok = strcmp(a, \"{\\\"error\\\":\\\"x\\\",\\\"code\\\":\\\"panic\\\"}\") == 0;\n  libstatus_Free(a);\n  return ok ? 0 : 1;\n}\n",
    )
    .unwrap();
    std::fs::write(
        project.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.16)\nproject(host C)\nfind_package(libstatus_rs 0.1 CONFIG REQUIRED)\nadd_executable(host host.c)\ntarget_link_libraries(host PRIVATE libstatus_rs::libstatus_rs)\nadd_executable(host_static host.c)\ntarget_link_libraries(host_static PRIVATE libstatus_rs::static)\n",
    )
    .unwrap();
    let build = project.join("build");
    run(Command::new("cmake")
        .arg("-S")
        .arg(&project)
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())));
    run(Command::new("cmake").arg("--build").arg(&build));
    run(Command::new(build.join("host")).env_remove("LD_LIBRARY_PATH"));
    run(Command::new(build.join("host_static")).env_remove("LD_LIBRARY_PATH"));

    // One C host linked against both libraries.
    let go = go_peer(&work.path().join("go"));
    let exe = work.path().join("coexist");
    run(Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-std=c11"])
        .arg(format!("{ROOT}/tests/hosts/coexist.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace())
        .arg(format!("-L{}", go.display()))
        .arg("-lstatusgo-shape"));
    let needed = run(Command::new("readelf").arg("-d").arg(&exe));
    assert!(needed.contains("[libstatus_rs.so.0]") && needed.contains("[libstatusgo-shape.so]"), "{needed}");

    let requests = [
        r#"{"enabled":true}"#,
        r#"{"enabled":false}"#,
        r#"{"Enabled":true}"#,
        r#"{"ENABLED":false}"#,
        r#"{"eNaBlEd":true}"#,
        "{}",
        r#"{"enabled":null}"#,
        r#"{"other":true,"enabled":false}"#,
        r#"{"enabled":true,"enabled":true}"#,
        r#"{"enabled":"true"}"#,
        r#"{"enabled":1}"#,
        "[]",
        "not json",
        "",
        // Where libstatus is stricter on purpose (README): Go reads these.
        r#"{"enabled":false,"ENABLED":true}"#,
        "null",
    ];
    let data = work.path().join("data");
    let out = run(Command::new(&exe)
        .arg(&data)
        .args(requests)
        .env("LD_LIBRARY_PATH", format!("{}:{}", libdir.display(), go.display())));
    assert!(out.contains("\n0 failed"), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("go=")).collect();
    assert_eq!(lines.len(), requests.len(), "{out}");
    for (request, line) in requests.iter().zip(lines) {
        let field = |name: &str| -> Value {
            let start = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
            let rest = &line[start..];
            let end =
                rest.find(" go_info=").or(rest.find(" rs=")).or(rest.find(" rs_info=")).unwrap_or(rest.len());
            serde_json::from_str(&rest[..end]).unwrap_or_else(|e| panic!("{name} in {line}: {e}"))
        };
        let (go, go_info, rs, rs_info) = (field("go"), field("go_info"), field("rs"), field("rs_info"));
        let go_ok = go["error"] == "";
        let rs_ok = rs["error"] == "";
        let stricter = matches!(*request, r#"{"enabled":false,"ENABLED":true}"# | "null");
        if stricter {
            assert!(go_ok, "Go was expected to accept {request}: {line}");
            assert_eq!(rs["code"], "invalid-request", "{request}: {line}");
            assert_eq!(rs_info["enabled"], true, "a refused request changed nothing: {line}");
        } else {
            assert_eq!(go_ok, rs_ok, "{request}: Go and libstatus disagree on accepting it: {line}");
            if go_ok {
                assert_eq!(go_info["enabled"], rs_info["enabled"], "{request}: different readings: {line}");
            } else {
                assert_eq!(rs["code"], "invalid-request", "{line}");
            }
        }
    }
}

#[test]
fn a_c_host_builds_and_runs_against_the_installed_tree() {
    if !support::isolated() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let prefix = work.path().join("prefix");
    run(Command::new(format!("{ROOT}/scripts/install"))
        .arg("--lib-dir")
        .arg(support::target_dir())
        .arg(&prefix));
    let libdir = prefix.join("lib");
    assert_eq!(std::fs::read_link(libdir.join("libstatus.so")).unwrap(), Path::new("libstatus.so.0"));
    assert_eq!(std::fs::read_link(libdir.join("libstatus.so.0")).unwrap(), Path::new("libstatus.so.0.1.0"));
    let dynamic = run(Command::new("readelf").arg("-d").arg(libdir.join("libstatus.so.0.1.0")));
    assert!(dynamic.contains("Library soname: [libstatus.so.0]"), "{dynamic}");
    let flags = run(Command::new("pkg-config")
        .args(["--cflags", "--libs", "libstatus"])
        .env("PKG_CONFIG_PATH", libdir.join("pkgconfig")));
    let exe = work.path().join("example");
    run(Command::new("gcc")
        .args(["-Wall", "-Werror"])
        .arg(format!("{ROOT}/bindings/c/example.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace()));
    let needed = run(Command::new("readelf").arg("-d").arg(&exe));
    assert!(needed.contains("Shared library: [libstatus.so.0]"), "{needed}");
    // Only the installed tree on the library path: no target/debug.
    run(Command::new(&exe)
        .arg(work.path().join("data"))
        .env("LD_LIBRARY_PATH", &libdir)
        .env_remove("LIBSTATUS_LIB_DIR"));
}
