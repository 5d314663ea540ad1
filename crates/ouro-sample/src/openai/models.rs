//! The servers' `GET /v1/models`: which model a run samples when it names
//! none, and (for the run's probe) whether a server answers at all.

use std::time::Duration;

use anyhow::bail;
use serde_json::Value;

/// `http://h:8000/v1/` -> `http://h:8000`: base URLs are accepted with or
/// without the `/v1` suffix that OpenAI clients expect.
pub fn base_url_root(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        bail!("base URL '{url}' must start with http:// or https://");
    }
    Ok(trimmed
        .strip_suffix("/v1")
        .unwrap_or(trimmed)
        .trim_end_matches('/')
        .to_string())
}

/// The model the servers serve, from the first one that answers `GET /v1/models`,
/// for a run that names none: the one listed, or an error listing them all (or
/// saying why there is no list). A host that does not answer at all is left out
/// with a warning, as the run leaves it out. Returns the name and the host asked.
pub fn served_model(base_urls: &[String], api_key_env: &str) -> anyhow::Result<(String, String)> {
    let mut down = None;
    for base_url in base_urls {
        match served_model_of(base_url, api_key_env)? {
            Ok(name) => return Ok((name, base_url.clone())),
            Err(e) => {
                tracing::warn!("{e}");
                down.get_or_insert(e);
            }
        }
    }
    Err(down.map_or_else(
        || anyhow::anyhow!("give --model DIR or --base-url URL"),
        |e| {
            anyhow::anyhow!(
            "{e}; start a server (`ouro serve --model DIR`, `vllm serve MODEL`) or check --base-url"
        )
        },
    ))
}

/// One host's answer; the inner error is a host that does not answer at all.
fn served_model_of(base_url: &str, api_key_env: &str) -> anyhow::Result<Result<String, String>> {
    let root = base_url_root(base_url)?;
    let url = format!("{root}/v1/models");
    let key = std::env::var(api_key_env).ok().filter(|k| !k.is_empty());
    let text = match get_models(&root, key.as_deref()).map_err(|e| *e) {
        Ok(resp) => resp.into_string().unwrap_or_default(),
        Err(ureq::Error::Status(code, _)) => bail!(
            "GET {url}: HTTP {code}, so the served model cannot be looked up: give --served-model-name"
        ),
        Err(ureq::Error::Transport(t)) => return Ok(Err(format!("GET {url}: {t}"))),
    };
    let listing: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!("GET {url}: the answer is not JSON ({e}): give --served-model-name")
    })?;
    let ids: Vec<&str> = listed_ids(&listing)
        .into_iter()
        .map(|id| match id {
            Some(id) if !id.is_empty() => Ok(id),
            _ => Err(anyhow::anyhow!(
                "GET {url}: a listed model has no usable id: give --served-model-name"
            )),
        })
        .collect::<anyhow::Result<_>>()?;
    match ids.as_slice() {
        [one] => Ok(Ok(one.to_string())),
        [] => bail!("GET {url} lists no model: give --served-model-name"),
        many => bail!(
            "{url} serves {} models ({}): choose one with --served-model-name",
            many.len(),
            many.join(", ")
        ),
    }
}

/// `GET {root}/v1/models`, with short timeouts: the first thing asked of a server.
pub(super) fn get_models(
    root: &str,
    api_key: Option<&str>,
) -> Result<ureq::Response, Box<ureq::Error>> {
    let mut req = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
        .get(&format!("{root}/v1/models"));
    if let Some(key) = api_key {
        req = req.set("Authorization", &format!("Bearer {key}"));
    }
    req.call().map_err(Box::new)
}

/// The `id` of each entry of a model listing (`{"data": [{"id": ...}]}`), `None`
/// where an entry has no string id.
pub(super) fn listed_ids(listing: &Value) -> Vec<Option<&str>> {
    listing
        .get("data")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|m| m.get("id").and_then(Value::as_str))
        .collect()
}
