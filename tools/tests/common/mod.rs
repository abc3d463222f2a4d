//! Runs the real `edgewayctl` binary against an in-process node, with a clean environment: no
//! config file of the user's, address and token from `EDGEWAY_ADDR` / `EDGEWAY_TOKEN`.

#![allow(dead_code)] // each test file uses its own part of this module

use edgeway_tests::TestNode;
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

pub struct Ctl {
    pub addr: String,
    pub token: String,
    /// HOME and XDG_CONFIG_HOME of the runs, and room for files.
    pub dir: TempDir,
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts success; stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        &self.stdout
    }

    /// Asserts success; stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Asserts the exit code and that stderr mentions `text`.
    #[track_caller]
    pub fn fails(&self, code: i32, text: &str) {
        assert_eq!(
            self.code, code,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        assert!(
            self.stderr.contains(text),
            "stderr lacks '{text}': {}",
            self.stderr
        );
    }
}

impl Ctl {
    pub fn for_node(node: &TestNode) -> Ctl {
        Ctl {
            addr: format!("http://{}", node.admin_addr()),
            token: node.admin.token.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `edgewayctl ARGS` with EDGEWAY_ADDR and EDGEWAY_TOKEN set.
    pub async fn run(&self, args: &[&str]) -> Out {
        self.run_with(
            args,
            &[("EDGEWAY_ADDR", &self.addr), ("EDGEWAY_TOKEN", &self.token)],
        )
        .await
    }

    /// `edgewayctl ARGS` with only `env` set (besides PATH, HOME and XDG_CONFIG_HOME).
    pub async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgewayctl"));
        command
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"));
        for (name, value) in env {
            command.env(name, value);
        }
        let output = tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
            .await
            .expect("edgewayctl finished within 30 s")
            .expect("edgewayctl runs");
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Writes `text` to `name` in the run directory; its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, text).expect("write file");
        path_str(&path)
    }
}

pub fn path_str(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_string()
}
