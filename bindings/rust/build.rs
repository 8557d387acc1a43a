//! Finds libbus: in a meson build directory named by BUS_BUILD_DIR, else
//! through `pkg-config libbus`, else on the linker's default path.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BUS_BUILD_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");

    if let Some(dir) = env::var_os("BUS_BUILD_DIR").filter(|d| !d.is_empty()) {
        let mut dir = PathBuf::from(dir);
        if dir.is_relative() {
            dir = env::current_dir().expect("current directory").join(dir);
        }
        let lib = dir.join("libbus");
        if !lib.join("libbus.so").exists() {
            panic!(
                "BUS_BUILD_DIR={} holds no libbus/libbus.so: build it first (ninja -C {})",
                dir.display(),
                dir.display()
            );
        }
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-lib=dylib=bus");
        // Tests and examples run from the build tree, not an installed libbus.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        println!("cargo:rustc-env=BUS_IPC_BUILD_DIR={}", dir.display());
        println!("cargo:rerun-if-changed={}", lib.join("libbus.so").display());
        return;
    }

    if let Ok(out) = Command::new("pkg-config").args(["--libs", "libbus"]).output() {
        if out.status.success() {
            let libs = String::from_utf8_lossy(&out.stdout);
            for word in libs.split_whitespace() {
                if let Some(path) = word.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={}", path);
                    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", path);
                } else if let Some(name) = word.strip_prefix("-l") {
                    println!("cargo:rustc-link-lib=dylib={}", name);
                }
            }
            println!("cargo:rustc-env=BUS_IPC_BUILD_DIR=");
            return;
        }
    }

    println!(
        "cargo:warning=neither BUS_BUILD_DIR nor pkg-config libbus found; linking -lbus from the default path"
    );
    println!("cargo:rustc-link-lib=dylib=bus");
    println!("cargo:rustc-env=BUS_IPC_BUILD_DIR=");
}
