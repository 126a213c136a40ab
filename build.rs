//! Compiles bpf/dispatch.bpf.c into a CO-RE object, generates its Rust skeleton (the object is
//! embedded in the binary through it), and makes the minimal BTF the logger falls back to on
//! kernels without /sys/kernel/btf/vmlinux.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "bpf/dispatch.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("dispatch.bpf.o");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let bpf_arch = match arch.as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        other => panic!("tailcall-logger supports x86_64 and aarch64, not {other}"),
    };

    SkeletonBuilder::new()
        .source(SRC)
        .obj(&obj)
        .clang_args([
            // v3 (32-bit jumps, ALU32) is accepted by every kernel since 5.1; pinned because
            // newer clang defaults may move on.
            "-mcpu=v3".to_string(),
            format!("-D__TARGET_ARCH_{bpf_arch}"),
            "-Wall".to_string(),
            "-Werror".to_string(),
            "-Ibpf".to_string(),
        ])
        .build_and_generate(out.join("dispatch.skel.rs"))
        .expect("compiling bpf/dispatch.bpf.c (needs clang; `make deps` installs it)");

    embed_min_btf(&out, &obj, &arch);

    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=TAILCALL_LOGGER_BTF_SOURCE");
}

/// The embedded BTF: only the types the object relocates against, cut by
/// `bpftool gen min_core_btf` from the build machine's kernel BTF (or from the file named by
/// TAILCALL_LOGGER_BTF_SOURCE, e.g. an arm64 kernel's BTF for a cross build). An empty file
/// means "none embedded"; the logger then says so instead of guessing.
fn embed_min_btf(out: &std::path::Path, obj: &std::path::Path, target_arch: &str) {
    let dest = out.join("min_core.btf");
    let host_arch = env::var("HOST")
        .ok()
        .and_then(|h| h.split('-').next().map(str::to_string))
        .unwrap_or_default();
    // The build machine's BTF describes the build machine's architecture: for a cross build
    // it would give arm64 code x86_64 register layouts. Without an explicit source, embed
    // nothing rather than something wrong.
    let default_source = if host_arch == target_arch {
        "/sys/kernel/btf/vmlinux".to_string()
    } else {
        String::new()
    };
    let source = env::var("TAILCALL_LOGGER_BTF_SOURCE").unwrap_or(default_source);
    let made = !source.is_empty()
        && std::path::Path::new(&source).exists()
        && Command::new("bpftool")
            .args(["gen", "min_core_btf"])
            .arg(&source)
            .arg(&dest)
            .arg(obj)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !made {
        println!("cargo:warning=no minimal BTF embedded (needs bpftool and {source})");
        fs::write(&dest, []).expect("writing an empty min_core.btf");
    }
}
