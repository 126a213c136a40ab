//! Containers and services on the host kernel: real cgroups made by the tests under the
//! cgroup2 mount, and a real podman container. Records carry the cgroup's id and path (and
//! the container's id and runtime, or the unit); `--cgroup` and `--container` keep the
//! subtree and drop the rest in the kernel (the summary's `seen` counts only what passed).

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tailcall_logger::cgroups::Layout;
use tailcall_logger_testkit::cgroups::TestCgroup;
use tailcall_logger_testkit::containers::Container;
use tailcall_logger_testkit::{bins, go, parse_lines, require_bpf, Bins};

const BINS: Bins = bins!();

/// The cgroup2 mount of this host; every test here needs one (the hybrid test machine
/// has it at /sys/fs/cgroup/unified).
fn cgroup2_mount() -> PathBuf {
    Layout::detect()
        .expect("reading /proc/self/mountinfo")
        .cgroup2_mount
        .expect("these tests need a cgroup2 mount")
}

/// A cgroup directory name no other test (or run) uses.
fn unique(name: &str) -> String {
    format!("tcl-test-{}-{name}", std::process::id())
}

#[test]
fn records_carry_the_cgroup_id_and_path() {
    require_bpf!();
    let dir = cgroup2_mount().join(unique("paths"));
    // The scenario moves its child into DIR/leaf and checks the child's records there.
    let detail = BINS.scenario_cell(
        "cgroup-paths",
        &["--in-cgroup", &dir.to_string_lossy()],
        &[],
    );
    assert!(detail.contains("/leaf"), "{detail}");
}

#[test]
fn cgroup_filter_keeps_the_subtree_in_the_kernel() {
    require_bpf!();
    for dispatch in ["tail", "inline"] {
        let name = unique(&format!("filter-{dispatch}"));
        let dir = cgroup2_mount().join(&name);
        // --only-child: every record is the child's, and `seen` counts nothing else: the
        // rest of the machine was dropped in the kernel, not by the reader.
        let detail = BINS.scenario_cell(
            &format!("cgroup-filter-{dispatch}"),
            &["--in-cgroup", &dir.to_string_lossy(), "--only-child"],
            &["--cgroup", &format!("/{name}"), "--dispatch", dispatch],
        );
        assert!(detail.contains("seen="), "{detail}");
    }
}

/// The `[u:UNIT]` tag of a systemd-style unit cgroup before the message of human lines,
/// and none with --no-container.
#[test]
fn human_lines_tag_the_unit() {
    require_bpf!();
    let unit = format!("{}.service", unique("unit"));
    let cgroup = TestCgroup::create(&cgroup2_mount().join(&unit).to_string_lossy()).unwrap();
    let tag = format!("[u:{unit}] ");
    for (extra, tagged) in [(None, true), (Some("--no-container"), false)] {
        let mut act = BINS.actor(&["--act"]);
        cgroup.enter(act.id()).unwrap();
        let pid = act.id().to_string();
        let mut args = vec!["--pid", pid.as_str()];
        args.extend(extra);
        let logger = BINS.start_logger(&args);
        logger.wait_for_stderr(Duration::from_secs(20), |l| l.contains("dispatch="));
        go(&mut act);
        assert!(act.wait().unwrap().success());
        let lines = logger.wait_for(Duration::from_secs(20), |l| l.contains("Deleting a timer"));
        logger.signal(Signal::SIGINT);
        let (status, _, stderr) = logger.finish(Duration::from_secs(5));
        assert!(status.success(), "{stderr}");
        let timer = lines
            .iter()
            .find(|l| l.contains("Deleting a timer"))
            .unwrap();
        assert_eq!(
            timer.contains(&format!(": {tag}Deleting a timer")),
            tagged,
            "{timer}"
        );
    }
    cgroup.remove();
}

/// A podman container (runc, cgroupfs manager: `/libpod_parent/libpod-<id>`): its exec and
/// syscalls carry its id, runtime and cgroup; `--container` with 12 digits of the id selects
/// it alone, in the kernel; human lines carry its short id.
#[test]
fn podman_container_is_named_and_selected() {
    require_bpf!();
    let container = Container::run(&[
        "/bin/busybox",
        "sh",
        "-c",
        "while :; do /bin/busybox sleep 0.2; done",
    ])
    .unwrap_or_else(|e| panic!("a podman container: {e}"));
    let cgroup = container
        .cgroup
        .clone()
        .expect("the container's cgroup2 path");
    assert!(
        cgroup.contains(&format!("libpod-{}", container.id)),
        "{cgroup}"
    );
    let short = &container.id[..12];

    let logger = BINS.start_logger(&["--json", "--container", short]);
    let lines = logger.wait_for(Duration::from_secs(30), |l| {
        l.contains("\"handler\":\"exec\"") && l.contains("/bin/busybox")
    });
    logger.signal(Signal::SIGINT);
    let (status, rest, stderr) = logger.finish(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    let all: Vec<Value> = parse_lines(&lines.into_iter().chain(rest).collect::<Vec<_>>());
    let syscalls: Vec<&Value> = all.iter().filter(|r| r["type"] == "syscall").collect();
    assert!(
        syscalls.iter().any(|r| r["handler"] == "exec"),
        "no exec record"
    );
    for r in &syscalls {
        assert_eq!(r["container_id"], container.id.as_str(), "{r}");
        assert_eq!(r["runtime"], "podman", "{r}");
        assert_eq!(r["cgroup"], cgroup.as_str(), "{r}");
        assert!(r["cgroup_id"].as_u64().is_some_and(|id| id > 1), "{r}");
    }
    let summary = all.iter().find(|r| r["type"] == "summary").unwrap();
    let start = all.iter().find(|r| r["type"] == "start").unwrap();
    assert_eq!(start["filters"]["container"][0], short);
    assert_eq!(
        summary["seen"].as_u64().unwrap(),
        syscalls.len() as u64 + summary["lost"].as_u64().unwrap(),
        "the kernel let other processes through: {summary}"
    );

    let logger = BINS.start_logger(&["--container", short]);
    let tagged = format!(": [c:{short}] ");
    let lines = logger.wait_for(Duration::from_secs(30), |l| l.contains(&tagged));
    logger.signal(Signal::SIGINT);
    let (status, rest, stderr) = logger.finish(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    for line in lines.iter().chain(&rest) {
        assert!(line.contains(&tagged), "a line without the tag: {line}");
    }
}

/// The filters' mistakes are one line with exit code 2, before anything is loaded.
#[test]
fn bad_filters_are_usage_errors() {
    require_bpf!();
    for (args, want) in [
        (
            &["--cgroup", "/no/such/cgroup"][..],
            "--cgroup /no/such/cgroup: no such cgroup under",
        ),
        (&["--container", "abc"], "give at least 12 hex digits"),
        (
            &["--container", "0123456789abcdef0"],
            "no container with that id",
        ),
    ] {
        let out = BINS.run_logger(args);
        let stderr = tailcall_logger_testkit::assert_clean_failure(&out, 2);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
