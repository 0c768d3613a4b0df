//! Builds the example and test plugins in `examples/plugins/` for `wasm32-wasip2`, once per
//! test run: the first test to ask builds them (a file lock keeps parallel test processes
//! from building twice), the rest reuse the `.wasm` files. The build goes to
//! `target/wasm-plugins/` beside the test binary's own target directory.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("examples/plugins/Cargo.toml").exists() {
        assert!(
            dir.pop(),
            "examples/plugins not found above the crate directory"
        );
    }
    dir
}

/// `target/` of the running test binary (`target/debug/deps/NAME` → `target`).
fn target_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/PROFILE/deps")
        .to_path_buf()
}

/// The directory holding every example plugin's `.wasm`, built if needed.
pub fn plugins_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build)
}

/// The `.wasm` file of the example plugin `name` (`order-notifier`, …).
pub fn example_plugin(name: &str) -> PathBuf {
    let path = plugins_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Installs the `wasm32-wasip2` target with rustup when it is missing (a fresh machine), as
/// the database tests start their own servers: the tests provision what they need. A failed
/// download is retried; when rustup itself is absent the build below says what is missing.
fn ensure_wasm_target() {
    let installed = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    {
        Ok(output) => output,
        Err(_) => return,
    };
    let listed = String::from_utf8_lossy(&installed.stdout);
    if listed.lines().any(|line| line.trim() == "wasm32-wasip2") {
        return;
    }
    for attempt in 1..=3u64 {
        eprintln!("installing the wasm32-wasip2 target for the plugin tests (attempt {attempt})");
        let added = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status();
        if added.is_ok_and(|status| status.success()) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(5 * attempt));
    }
    panic!(
        "the plugin tests need the wasm32-wasip2 target and `rustup target add wasm32-wasip2` \
         failed three times"
    );
}

fn build() -> PathBuf {
    let root = repo_root();
    let target = target_root().join("wasm-plugins");
    std::fs::create_dir_all(&target).expect("creating target/wasm-plugins");
    let lock = File::create(target.join(".build-lock")).expect("creating the build lock");
    lock.lock().expect("locking the plugin build");
    ensure_wasm_target();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--manifest-path")
        .arg(root.join("examples/plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        // The outer cargo's settings are for the host build, not this one.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("running cargo to build the example plugins");
    assert!(
        output.status.success(),
        "building examples/plugins for wasm32-wasip2 failed (is the target installed? \
         `rustup target add wasm32-wasip2`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    drop(lock);
    target.join("wasm32-wasip2").join("release")
}
