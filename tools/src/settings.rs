//! Where the admin API is and how to authenticate: from flags, then the environment
//! (`EDGEWAY_ADDR`, `EDGEWAY_TOKEN`, `EDGEWAY_CA`), then a config file, then defaults.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_ADDR: &str = "http://127.0.0.1:9090";

/// The config file (TOML): every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub addr: Option<String>,
    pub token: Option<String>,
    /// A file holding the token (first line), instead of `token`.
    pub token_file: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

/// What the command line gave.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub addr: Option<String>,
    pub token: Option<String>,
    pub ca: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

/// The settings a command runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `http://host:port` or `https://host:port`.
    pub addr: String,
    pub token: Option<String>,
    pub ca: Option<PathBuf>,
}

impl Settings {
    /// Resolves flags, then `env`, then the config file (`--config`, `EDGEWAY_CONFIG`, or
    /// `~/.config/edgeway/edgewayctl.toml` when it exists).
    pub fn resolve(
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let explicit = flags
            .config
            .clone()
            .or_else(|| env("EDGEWAY_CONFIG").map(PathBuf::from));
        let file = match explicit {
            Some(path) => read_file(&path)?,
            None => match default_config_path(env).filter(|p| p.exists()) {
                Some(path) => read_file(&path)?,
                None => FileSettings::default(),
            },
        };
        let file_token = match (&file.token, &file.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => Some(read_token(path)?),
            (None, None) => None,
        };
        let addr = flags
            .addr
            .clone()
            .or_else(|| env("EDGEWAY_ADDR"))
            .or(file.addr)
            .unwrap_or_else(|| DEFAULT_ADDR.to_string());
        Ok(Settings {
            addr: normalize_addr(&addr)?,
            token: flags
                .token
                .clone()
                .or_else(|| env("EDGEWAY_TOKEN"))
                .or(file_token),
            ca: flags
                .ca
                .clone()
                .or_else(|| env("EDGEWAY_CA").map(PathBuf::from))
                .or(file.ca),
        })
    }
}

fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("edgeway").join("edgewayctl.toml"))
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("token_file {}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// `host:port` means `http://host:port`; a trailing slash is dropped.
fn normalize_addr(addr: &str) -> anyhow::Result<String> {
    let addr = addr.trim_end_matches('/');
    let full = match addr.contains("://") {
        true => addr.to_string(),
        false => format!("http://{addr}"),
    };
    let uri: http::Uri = full
        .parse()
        .with_context(|| format!("server address '{addr}' is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        bail!("server address '{addr}': expected http://host:port or https://host:port");
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        bail!("server address '{addr}': give no path, only scheme, host and port");
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ctl.toml");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "from-token-file\n").unwrap();
        std::fs::write(
            &file,
            format!(
                "addr = \"10.0.0.1:9090\"\ntoken_file = \"{}\"\nca = \"file-ca.pem\"\n",
                token_file.display()
            ),
        )
        .unwrap();
        let config = file.to_str().unwrap();
        let only_file =
            Settings::resolve(&Flags::default(), &env_of(&[("EDGEWAY_CONFIG", config)]));
        assert_eq!(
            only_file.unwrap(),
            Settings {
                addr: "http://10.0.0.1:9090".into(),
                token: Some("from-token-file".into()),
                ca: Some("file-ca.pem".into()),
            }
        );
        let env = env_of(&[
            ("EDGEWAY_CONFIG", config),
            ("EDGEWAY_ADDR", "https://edge:9443/"),
            ("EDGEWAY_TOKEN", "from-env"),
        ]);
        let with_env = Settings::resolve(&Flags::default(), &env).unwrap();
        assert_eq!(with_env.addr, "https://edge:9443");
        assert_eq!(with_env.token.as_deref(), Some("from-env"));
        let flags = Flags {
            token: Some("from-flag".into()),
            ..Flags::default()
        };
        let with_flag = Settings::resolve(&flags, &env).unwrap();
        assert_eq!(with_flag.token.as_deref(), Some("from-flag"));
        assert_eq!(with_flag.ca, Some("file-ca.pem".into()));
    }

    #[test]
    fn defaults_and_bad_values() {
        let none = Settings::resolve(&Flags::default(), &env_of(&[])).unwrap();
        assert_eq!((none.addr.as_str(), none.token), (DEFAULT_ADDR, None));
        let bad = |addr: &str| {
            let env = env_of(&[("EDGEWAY_ADDR", addr)]);
            Settings::resolve(&Flags::default(), &env)
                .unwrap_err()
                .to_string()
        };
        assert!(bad("ftp://x:1").contains("expected http://host:port"));
        assert!(bad("http://x:1/admin").contains("give no path"));
        let missing = Flags {
            config: Some("/nonexistent/ctl.toml".into()),
            ..Flags::default()
        };
        let err = Settings::resolve(&missing, &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ctl.toml"));
    }
}
