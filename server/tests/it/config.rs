//! The configuration layers through the real binary and its real
//! environment: defaults, then the file, then variables, then flags.

use std::path::Path;
use std::process::Command;

/// Runs `auditstore admin bootstrap` with only the given `AUDITSTORE_*`
/// variables (none inherited from whoever runs the tests) and these flags.
fn bootstrap(vars: &[(&str, &Path)], flags: &[&std::ffi::OsStr]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditstore"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AUDITSTORE_") {
            command.env_remove(name);
        }
    }
    command.envs(vars.iter().copied()).args(["admin", "bootstrap", "--log-format", "json"]).args(flags);
    let output = command.output().expect("bootstrap runs");
    assert!(output.status.success(), "bootstrap failed: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_variable_beats_the_file_and_a_flag_beats_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (from_file, from_env, from_flag) = (dir.path().join("file"), dir.path().join("env"), dir.path().join("flag"));
    let config = dir.path().join("auditstore.toml");
    std::fs::write(&config, format!("data_dir = {:?}\n", from_file.to_str().expect("utf-8"))).expect("write config");
    let database = |data_dir: &Path| data_dir.join("auditstore.db").exists();

    // The file names one data directory, AUDITSTORE_DATA_DIR another: the variable's is used.
    bootstrap(&[("AUDITSTORE_CONFIG", &config), ("AUDITSTORE_DATA_DIR", &from_env)], &[]);
    assert!(database(&from_env), "the variable's data directory holds the database");
    assert!(!database(&from_file), "the file's data directory is not used");

    // With --data-dir as well, the flag's is used.
    bootstrap(
        &[("AUDITSTORE_CONFIG", &config), ("AUDITSTORE_DATA_DIR", &from_env)],
        &["--data-dir".as_ref(), from_flag.as_os_str()],
    );
    assert!(database(&from_flag), "the flag's data directory holds the database");
    assert!(!database(&from_file), "the file's data directory is still not used");
}
