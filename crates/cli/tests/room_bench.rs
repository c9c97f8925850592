//! `mplive room bench` against a real server: the session keys it writes through the store flags, the rooms it
//! runs, and the JSON report it prints (the same fields as before the tool moved to `crates/bench`).

mod common;

use common::*;
use serde_json::Value;

#[test]
fn room_bench_joins_and_exits_every_member_and_reports() {
    let server = Server::start("");
    let pid = server.pid().to_string();
    let out = server.cli(&[
        "room",
        "bench",
        "--addr",
        &server.http,
        "--rooms",
        "3",
        "--members",
        "3",
        "--parallel",
        "2",
        "--server-pid",
        &pid,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "room bench failed: {stderr}");
    assert!(
        stderr.contains("session keys for 9 members written in"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "joinSeconds",
            "leaveSeconds",
            "membersChangedOnExit",
            "membersChangedOnJoin",
            "membersPerRoom",
            "rooms",
            "serverKiBPerRoom",
            "serverRssKiB",
            "totalSeconds"
        ]
    );
    assert_eq!(
        (report["rooms"].as_u64(), report["membersPerRoom"].as_u64()),
        (Some(3), Some(3))
    );
    // Each room: the 2nd join reaches 1 member, the 3rd 2; the 1st exit reaches 2, the 2nd 1.
    assert_eq!(report["membersChangedOnJoin"]["count"], 9, "{report}");
    assert_eq!(report["membersChangedOnExit"]["count"], 9, "{report}");
    assert!(
        report["serverRssKiB"]["joined"].as_u64().is_some(),
        "{report}"
    );

    let out = server.cli(&["room", "bench", "--addr", &server.http, "--members", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--members must be 2 to 50"));
}
