//! What a cgroup path says about the processes in it: the container (and its runtime), the
//! Kubernetes pod, the systemd unit. Works on v2 paths and on v1 name=systemd paths alike:
//! runtimes and systemd name their cgroups the same way in both.
//!
//! Shapes recognised (each id is 64 lowercase hex digits):
//! - docker: `/docker/<id>` (cgroupfs driver), `/system.slice/docker-<id>.scope` (systemd)
//! - containerd under Kubernetes: `/kubepods/<qos>/pod<uid>/<id>` (cgroupfs driver),
//!   `.../kubepods-<qos>-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope`
//! - CRI-O: `crio-<id>.scope`, `crio-<id>`, and its monitor `crio-conmon-<id>.scope`
//! - podman: `/libpod_parent/libpod-<id>` (cgroupfs), `/machine.slice/libpod-<id>.scope`,
//!   and its monitor `libpod-conmon-<id>.scope`; podman pods: `/libpod_parent/<pod id>`
//!   (cgroupfs), `machine-libpod_pod_<pod id>.slice` (systemd)
//! - any other 64-hex component: a container whose runtime the path does not name
//! - systemd units: the innermost `.service` or `.scope` that is not a container's.

/// The container runtimes a path can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Containerd,
    Crio,
    Podman,
}

impl Runtime {
    /// The name records carry in their `runtime` field.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Podman => "podman",
        }
    }
}

/// What a cgroup path names. Every field is None when the path does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The full 64-hex container id.
    pub container_id: Option<String>,
    pub runtime: Option<Runtime>,
    /// True when the cgroup holds the runtime's monitor for the container (conmon), not the
    /// container's own processes: the id says which container it watches, and a
    /// `--container` filter leaves it out.
    pub monitor: bool,
    /// The pod: a Kubernetes pod uid, with dashes (systemd slice names carry it with
    /// underscores), or a podman pod id.
    pub pod_uid: Option<String>,
    /// The systemd service or scope, e.g. "ssh.service" or "session-3.scope".
    pub unit: Option<String>,
}

/// A container named by one path component.
struct ContainerComponent {
    id: String,
    runtime: Option<Runtime>,
    monitor: bool,
}

const CONTAINER_ID_LEN: usize = 64;

fn is_container_id(s: &str) -> bool {
    s.len() == CONTAINER_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A pod uid is a UUID (dashes) or, for static pods, a hash of the manifest (hex only).
fn is_pod_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_hexdigit())
}

/// `<prefix><id><suffix>`, where the suffix is optional: systemd cgroup drivers add
/// ".scope", cgroupfs drivers do not.
fn id_between<'a>(component: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = component.strip_prefix(prefix)?;
    let id = rest.strip_suffix(".scope").unwrap_or(rest);
    is_container_id(id).then_some(id)
}

/// The container a path component names, given the component above it (docker's cgroupfs
/// driver puts a bare id under `/docker`).
fn container_component(component: &str, parent: Option<&str>) -> Option<ContainerComponent> {
    // Monitors first: "crio-conmon-<id>" would otherwise fail the plain "crio-" shape only
    // by luck of the id check.
    const SHAPES: [(&str, Runtime, bool); 6] = [
        ("crio-conmon-", Runtime::Crio, true),
        ("libpod-conmon-", Runtime::Podman, true),
        ("docker-", Runtime::Docker, false),
        ("cri-containerd-", Runtime::Containerd, false),
        ("crio-", Runtime::Crio, false),
        ("libpod-", Runtime::Podman, false),
    ];
    for (prefix, runtime, monitor) in SHAPES {
        if let Some(id) = id_between(component, prefix) {
            return Some(ContainerComponent {
                id: id.to_string(),
                runtime: Some(runtime),
                monitor,
            });
        }
    }
    if is_container_id(component) {
        // A bare id: only docker's own parent names the runtime. Under kubepods the
        // cgroupfs driver's shape is the same for containerd and dockershim, so say nothing.
        let runtime = (parent == Some("docker")).then_some(Runtime::Docker);
        return Some(ContainerComponent {
            id: component.to_string(),
            runtime,
            monitor: false,
        });
    }
    None
}

fn is_kubepods(component: &str) -> bool {
    component == "kubepods" || component == "kubepods.slice" || component.starts_with("kubepods-")
}

/// The pod uid of a component under kubepods: `pod<uid>` (cgroupfs) or
/// `kubepods[-<qos>]-pod<uid_with_underscores>.slice` (systemd, which reserves '-').
fn pod_component(component: &str) -> Option<String> {
    let uid = if let Some(slice) = component.strip_suffix(".slice") {
        let (_, uid) = slice.rsplit_once("-pod")?;
        uid.replace('_', "-")
    } else {
        component.strip_prefix("pod")?.to_string()
    };
    is_pod_uid(&uid).then_some(uid)
}

/// The podman pod a component names: cgroupfs puts a pod's cgroup, a bare id, right under
/// `libpod_parent` (its containers as `libpod-<id>` below it); systemd uses a slice.
fn podman_pod_component(component: &str, parent: Option<&str>) -> Option<String> {
    let id = if parent == Some("libpod_parent") {
        component
    } else {
        component
            .strip_prefix("machine-libpod_pod_")?
            .strip_suffix(".slice")?
    };
    is_container_id(id).then(|| id.to_string())
}

/// A systemd unit name: a service or a scope with a non-empty name.
fn is_unit(component: &str) -> bool {
    [".service", ".scope"].iter().any(|suffix| {
        component
            .strip_suffix(suffix)
            .is_some_and(|stem| !stem.is_empty())
    })
}

/// What `path` (a cgroup path such as `/system.slice/docker-<id>.scope`) names.
pub fn identify(path: &str) -> Identity {
    let mut identity = Identity::default();
    let mut under_kubepods = false;
    let mut parent: Option<&str> = None;
    for component in path.split('/').filter(|c| !c.is_empty()) {
        if let Some(pod) = podman_pod_component(component, parent) {
            identity.pod_uid = Some(pod);
        } else if let Some(container) = container_component(component, parent) {
            // The innermost container wins (docker in docker, kind nodes); a unit outside
            // it only hosts it (containerd.service above its containers), so it is dropped.
            identity.container_id = Some(container.id);
            identity.runtime = container.runtime;
            identity.monitor = container.monitor;
            identity.unit = None;
        } else if under_kubepods && pod_component(component).is_some() {
            identity.pod_uid = pod_component(component);
        } else if is_unit(component) {
            identity.unit = Some(component.to_string());
        }
        under_kubepods |= is_kubepods(component);
        parent = Some(component);
    }
    identity
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a9b1c04de5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";
    const UID: &str = "0d2f4b3a-5c6e-4f70-8a9b-1c2d3e4f5a6b";
    const POD: &str = "1b318d9f447c9c6d0631a002eb646846e64adfd27d236f4e88443812176e80c8";
    const UID_UNDERSCORES: &str = "0d2f4b3a_5c6e_4f70_8a9b_1c2d3e4f5a6b";

    struct Case {
        path: String,
        container: Option<&'static str>,
        runtime: Option<Runtime>,
        monitor: bool,
        pod: Option<&'static str>,
        unit: Option<String>,
    }

    fn case(path: impl Into<String>) -> Case {
        Case {
            path: path.into(),
            container: None,
            runtime: None,
            monitor: false,
            pod: None,
            unit: None,
        }
    }

    impl Case {
        fn container(mut self, runtime: Option<Runtime>) -> Case {
            self.container = Some(ID);
            self.runtime = runtime;
            self
        }
        fn monitor(mut self, runtime: Runtime) -> Case {
            self = self.container(Some(runtime));
            self.monitor = true;
            self
        }
        fn pod(mut self) -> Case {
            self.pod = Some(UID);
            self
        }
        fn podman_pod(mut self) -> Case {
            self.pod = Some(POD);
            self
        }
        fn unit(mut self, unit: impl Into<String>) -> Case {
            self.unit = Some(unit.into());
            self
        }
    }

    fn cases() -> Vec<Case> {
        use Runtime::*;
        vec![
            // docker
            case(format!("/docker/{ID}")).container(Some(Docker)),
            case(format!("/system.slice/docker-{ID}.scope")).container(Some(Docker)),
            // a cgroup inside the container (cgroupns, or systemd running in it)
            case(format!("/system.slice/docker-{ID}.scope/init.scope"))
                .container(Some(Docker))
                .unit("init.scope"),
            case(format!(
                "/system.slice/docker-{ID}.scope/system.slice/nginx.service"
            ))
            .container(Some(Docker))
            .unit("nginx.service"),
            // containerd under Kubernetes, cgroupfs and systemd drivers
            case(format!("/kubepods/burstable/pod{UID}/{ID}"))
                .container(None)
                .pod(),
            case(format!("/kubepods/pod{UID}/{ID}")).container(None).pod(),
            case(format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_UNDERSCORES}.slice/cri-containerd-{ID}.scope"
            ))
            .container(Some(Containerd))
            .pod(),
            case(format!(
                "/kubepods.slice/kubepods-pod{UID_UNDERSCORES}.slice/cri-containerd-{ID}.scope"
            ))
            .container(Some(Containerd))
            .pod(),
            // the pod's own cgroup, no container yet
            case(format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_UNDERSCORES}.slice"
            ))
            .pod(),
            // CRI-O
            case(format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_UNDERSCORES}.slice/crio-{ID}.scope"
            ))
            .container(Some(Crio))
            .pod(),
            case(format!("/kubepods/besteffort/pod{UID}/crio-{ID}"))
                .container(Some(Crio))
                .pod(),
            case(format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_UNDERSCORES}.slice/crio-conmon-{ID}.scope"
            ))
            .monitor(Crio)
            .pod(),
            // podman
            case(format!("/libpod_parent/libpod-{ID}")).container(Some(Podman)),
            case(format!("/machine.slice/libpod-{ID}.scope")).container(Some(Podman)),
            case(format!("/machine.slice/libpod-{ID}.scope/container"))
                .container(Some(Podman)),
            case(format!("/machine.slice/libpod-conmon-{ID}.scope")).monitor(Podman),
            // podman pods: the pod's own cgroup, and a container in it
            case(format!("/libpod_parent/{POD}")).podman_pod(),
            case(format!("/libpod_parent/{POD}/libpod-{ID}"))
                .container(Some(Podman))
                .podman_pod(),
            case(format!(
                "/machine.slice/machine-libpod_pod_{POD}.slice/libpod-{ID}.scope"
            ))
            .container(Some(Podman))
            .podman_pod(),
            case(format!(
                "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
            ))
            .container(Some(Podman)),
            // a bare id elsewhere (CI runners, other tools)
            case(format!("/actions_job/{ID}")).container(None),
            case(ID).container(None),
            // systemd
            case("/system.slice/ssh.service").unit("ssh.service"),
            case("/system.slice/containerd.service").unit("containerd.service"),
            case("/user.slice/user-1000.slice/session-3.scope").unit("session-3.scope"),
            case("/user.slice/user-1000.slice/user@1000.service").unit("user@1000.service"),
            case("/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service")
                .unit("dbus.service"),
            case("/user.slice/user-1000.slice/user@1000.service/init.scope").unit("init.scope"),
            case("/init.scope").unit("init.scope"),
            // a delegated subtree below a service keeps the service
            case("/system.slice/foo.service/worker/1").unit("foo.service"),
            // a unit above the container only hosts it
            case(format!("/system.slice/containerd.service/{ID}")).container(None),
            // nothing to say
            case("/"),
            case(""),
            case("/user.slice/user-1000.slice"),
            case("/process_api/b22d90530434559e67730dbf2517e6b0"),
            case(".service"),
            case("/system.slice/.scope"),
            // negatives: almost ids
            case(format!("/docker/{}", &ID[..63])),
            case(format!("/docker/{ID}0")),
            case(format!("/docker/{}g", &ID[..63])),
            case(format!("/docker/{}", ID.to_uppercase())),
            // a scope whose name is not a container's is an ordinary unit
            case(format!("/system.slice/docker-{}.scope", &ID[..63]))
                .unit(format!("docker-{}.scope", &ID[..63])),
            case(format!("/libpod_parent/libpod-{}x", &ID[..63])),
            // "pod" outside kubepods, and pod names that are not uids
            case(format!("/pod{UID}")),
            case("/kubepods/burstable/podman"),
            case("/kubepods/burstable/pod"),
        ]
    }

    #[test]
    fn path_shapes() {
        for c in cases() {
            let got = identify(&c.path);
            let want = Identity {
                container_id: c.container.map(str::to_string),
                runtime: c.runtime,
                monitor: c.monitor,
                pod_uid: c.pod.map(str::to_string),
                unit: c.unit.clone(),
            };
            assert_eq!(got, want, "path {:?}", c.path);
        }
    }

    #[test]
    fn runtime_names() {
        let names: Vec<&str> = [
            Runtime::Docker,
            Runtime::Containerd,
            Runtime::Crio,
            Runtime::Podman,
        ]
        .map(Runtime::name)
        .to_vec();
        assert_eq!(names, ["docker", "containerd", "crio", "podman"]);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for path in [
            "/\u{0}/é/..//",
            "kubepods/pod-.slice",
            "-pod.slice",
            "/kubepods-pod_.slice",
        ] {
            let _ = identify(path);
        }
        assert_eq!(identify("/kubepods/kubepods-pod_.slice").pod_uid, None);
    }
}
