//! The plugin's online model and the fuzzing hooks: guest markers, per-test-case verdicts, on_hazard
//! actions, a report file. (That the online model agrees with the offline analysis on every scenario is
//! checked by scenarios.rs, from the same run.)

mod support;

fn run13(env: &support::Env, variant: &str, opts: &str) -> support::Run {
    support::run_variant(env, variant, &format!(",out=none,{opts}"))
}

#[test]
fn on_hazard_exit_stops_qemu_at_the_end_of_the_failing_test_case() {
    let Some(env) = support::env() else { return };
    let r = run13(&env, "13-test-cases", "model=online,on_hazard=exit,exit_code=42");
    assert_eq!(r.status, Some(42), "{}", r.stderr);
    assert!(r.stderr.contains("test case 2: 1 new hazard"), "{}", r.stderr);
    assert!(r.stderr.contains("in \"framebuffer\""), "the NAME marker names the range: {}", r.stderr);
    assert!(!r.stdout.contains("PASS"), "QEMU must stop before test case 3 and the guest's verdict");
    // The corrected twin runs to the end.
    let r = run13(&env, "13-test-cases-fixed", "model=online,on_hazard=exit,exit_code=42");
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("PASS"));
}

#[test]
fn on_hazard_abort_raises_sigabrt_after_writing_the_report() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("online-abort");
    let report = dir.join("report.json");
    let r = run13(&env, "13-test-cases", &format!("model=online,on_hazard=abort,report={}", report.display()));
    assert_eq!(r.status, None, "killed by a signal: {}", r.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        let out = std::process::Command::new(&env.qemu)
            .args(support::command(&env, "13-test-cases"))
            .arg("-plugin")
            .arg(format!("{},out=none,model=online,on_hazard=abort", env.plugin.display()))
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(libc_sigabrt()), "SIGABRT, what AFL++/LibAFL count as a crash");
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v[0]["class"], "stale-read");
    assert_eq!(v[0]["range"], "framebuffer");
    assert_eq!(v[0]["test_case"], 2);
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn on_hazard_log_reports_per_test_case_and_runs_on() {
    let Some(env) = support::env() else { return };
    let r = run13(&env, "13-test-cases", "model=online");
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("PASS"));
    assert_eq!(r.stderr.matches("new hazard").count(), 1, "only case 2 (the suppressed buffer stays silent): {}", r.stderr);
    assert!(r.stderr.contains("==cohtrace== 1 hazard found online"), "{}", r.stderr);
}
