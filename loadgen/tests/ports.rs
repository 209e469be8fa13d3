//! Tests of `loadgen ports`, the four-tuple experiment (real sockets, in a private
//! network namespace that the command makes itself: as root with `unshare --net`,
//! without root inside a user namespace).

use std::process::Command;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Every case measures what the arithmetic predicts, and the server's sockets all
/// share the listening port while their four-tuples differ.
#[test]
fn four_tuple_cases_match_predictions() {
    let json = std::env::temp_dir().join(format!("loadgen-ports-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["ports", "--range", "41000-41099", "--k", "2", "--port", "12300"])
        // The cases in time, with a 2 s TIME_WAIT case (one TIME_WAIT is 60 s) on
        // 50 ports: about 17 s.
        .args(["--time-long", "2s", "--time-ports", "50", "--json"])
        .arg(&json)
        .output()
        .expect("run loadgen ports");
    if !is_root() && !userns_available() {
        assert_refused_without_userns(&out);
        return;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).ok();
    let cases = v["cases"].as_array().unwrap();
    let ids: Vec<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e", "e", "f", "g", "h"]);
    let by = |i: usize, f: &str| cases[i][f].as_u64().unwrap();
    for i in 0..cases.len() {
        assert_eq!(by(i, "measured"), by(i, "predicted"), "case {i}: {stdout}");
    }
    assert_eq!(by(0, "measured"), 100, "(a) one family holds the range");
    assert_eq!(by(1, "measured"), 200, "(b) two sources double it");
    assert_eq!(by(2, "measured"), 100, "(c) bind() caps it whatever the destinations");
    assert_eq!(cases[2]["stopped_by"], "EADDRINUSE");
    assert_eq!(by(3, "measured"), 200, "(d) two destinations double it");
    assert!(by(4, "measured") < 100, "(e) TIME_WAIT holds ports without reuse");
    assert_eq!(by(5, "measured"), 100, "(e) tcp_tw_reuse takes them back");
    assert_eq!(by(6, "measured"), 100, "(f) connected UDP sockets: the range, like TCP");
    assert_eq!(by(7, "measured"), 100, "(g) but destinations do not multiply them");
    assert_eq!(cases[7]["stopped_by"], "EAGAIN");
    assert_eq!(by(8, "measured"), 200, "(h) one unconnected socket, every peer");
    let udp = &v["udp_server"];
    assert_eq!((udp["flows"].as_u64(), udp["distinct_peers"].as_u64()), (Some(200), Some(200)));
    assert_eq!(udp["udp_sockets_on_port"], 1, "one UDP socket for every flow");
    assert_eq!(udp["tcp_sockets_on_port"], 200, "TCP: a socket per connection");
    let spread = &v["udp_reuseport"];
    assert_eq!(spread["flows_split"], 0, "a flow always reaches the same socket");
    let per: u64 =
        spread["flows_per_socket"].as_array().unwrap().iter().filter_map(|x| x.as_u64()).sum();
    assert_eq!(per, spread["flows"].as_u64().unwrap(), "every flow reached a socket");
    // In time: FIN closes without reuse spend the 50 ports once and then meet
    // EADDRNOTAVAIL; with tcp_tw_reuse 1 or 2 (loopback) a port comes back after the
    // reuse delay, about 50 per second; RST closes meet no port limit at all.
    let time = v["time"].as_array().unwrap();
    let rows: Vec<(&str, u64)> = time
        .iter()
        .map(|t| (t["close"].as_str().unwrap(), t["tw_reuse"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [("fin", 0), ("fin", 1), ("fin", 2), ("rst", 0)]);
    // The range once; a port or two may come back early (a CI run saw 51 in 2 s).
    let once = time[0]["connections"].as_u64().unwrap();
    assert!((50..=52).contains(&once), "the range once: {stdout}");
    for t in time {
        assert_eq!(
            t["as_predicted"], true,
            "{t}
{stdout}"
        );
    }
    assert!(time[0]["eaddrnotavail"].as_u64().unwrap() > 0);
    assert_eq!(time[3]["eaddrnotavail"], 0);
    assert!(stdout.contains("ports over time"), "{stdout}");
    let sample = &v["sample"];
    assert_eq!(sample["accepted"], 200);
    assert_eq!(sample["distinct_local_ports"], 1);
    assert_eq!(sample["distinct_tuples"], 200);
    assert_eq!(sample["distinct_peer_addrs"], 2);
    assert!(stdout.contains("127.0.0.1:12301"), "{stdout}");
}

/// Without root the experiment runs in a user namespace, with the same verdicts. Run
/// as root, the test drops to `nobody` (setpriv) to take that path, running a copy of
/// the binary in the temp folder (the checkout may sit where nobody cannot reach).
#[test]
fn runs_without_root_in_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt as _;
    let copy = std::env::temp_dir().join(format!("loadgen-nobody-{}", std::process::id()));
    let mut cmd = if is_root() {
        std::fs::copy(env!("CARGO_BIN_EXE_loadgen"), &copy).expect("copy loadgen");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&copy);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_loadgen"))
    };
    let out = cmd
        .args(["ports", "--range", "41200-41249", "--k", "2", "--port", "12400", "--sample", "3"])
        .arg("--no-time")
        .output()
        .expect("run loadgen ports (setpriv from util-linux when root)");
    let _ = std::fs::remove_file(&copy);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !userns_available() {
        assert_refused_without_userns(&out);
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let cases: Vec<&str> = stdout.lines().filter(|l| l.starts_with('(')).collect();
    assert_eq!(cases.len(), 9, "{stdout}");
    assert!(cases.iter().all(|l| l.trim_end().ends_with(" ok")), "{stdout}");
    assert!(stdout.contains("ip_local_port_range 41200 41249 = 50 ports per family"), "{stdout}");
}

/// This machine allows no unprivileged user namespace (a sysctl, an LSM or a seccomp
/// filter): the refusal must say so, on one line, exit 2.
fn assert_refused_without_userns(out: &std::process::Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot make a private network namespace"), "{err}");
    assert!(err.contains("user.max_user_namespaces"), "{err}");
}

/// Whether an unprivileged user may make a user and network namespace here (asked
/// of the kernel directly, as `nobody` when the test runs as root).
fn userns_available() -> bool {
    let unshare = ["unshare", "--user", "--map-root-user", "--net", "true"];
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).args(unshare);
        c
    } else {
        let mut c = Command::new(unshare[0]);
        c.args(&unshare[1..]);
        c
    };
    cmd.output().is_ok_and(|o| o.status.success())
}

/// A bad range is refused with one line naming the flag, exit 2.
#[test]
fn bad_range_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["ports", "--range", "500-400"])
        .output()
        .expect("run loadgen ports");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--range"), "{err}");
}

/// --inner refuses to run outside a fresh private namespace, also with a forged
/// --host-netns, and leaves the host's port range as it was.
#[test]
fn inner_refuses_host_namespace() {
    let range = || std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let before = range();
    for extra in [&[][..], &["--host-netns", "net:[1]"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["ports", "--inner", "--range", "41000-41009"])
            .args(extra)
            .output()
            .expect("run loadgen ports");
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("private network namespace"));
    }
    assert_eq!(range(), before);
}
