//! On-disk cache of successful HTTP responses, one file per request.
//!
//! The key hashes the endpoint path and the canonical request body (model,
//! prompt, sampling parameters, seed) but not the base URL, so a restarted
//! run, or one pointed at a different pool of the same model, replays
//! nothing it already has. Files are written atomically; a torn or corrupt
//! entry is treated as missing.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("creating cache directory {}: {e}", dir.display()))?;
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The cached response body, if present and valid JSON.
    pub fn get(&self, key: &str) -> Option<Value> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn put(&self, key: &str, body: &Value) -> anyhow::Result<()> {
        let path = self.path(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
        }
        let bytes = serde_json::to_vec(body)?;
        ouro_data::fsutil::atomic_write(&path, &bytes)
            .map_err(|e| anyhow::anyhow!("writing cache entry {}: {e}", path.display()))
    }
}

/// Cache key of a request: blake3 of the path and the body with object keys sorted.
pub(crate) fn key(path: &str, body: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(body, &mut canonical);
    let mut h = blake3::Hasher::new();
    h.update(b"ouro-sample-cache-v1\0");
    h.update(path.as_bytes());
    h.update(b"\0");
    h.update(canonical.as_bytes());
    h.finalize().to_hex().to_string()
}

/// JSON with sorted object keys, independent of serde_json's `preserve_order`.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_object_key_order_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"model":"m","seed":1,"stop":["a"]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"stop":["a"],"seed":1,"model":"m"}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"stop":["a"],"seed":2,"model":"m"}"#).unwrap();
        assert_eq!(key("/v1/completions", &a), key("/v1/completions", &b));
        assert_ne!(key("/v1/completions", &a), key("/v1/completions", &c));
        assert_ne!(key("/v1/completions", &a), key("/v1/chat/completions", &a));
    }

    #[test]
    fn corrupt_entry_reads_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path()).unwrap();
        let k = key("/p", &Value::Null);
        cache.put(&k, &serde_json::json!({"ok": true})).unwrap();
        assert_eq!(cache.get(&k), Some(serde_json::json!({"ok": true})));
        std::fs::write(cache.path(&k), b"{\"ok\": tr").unwrap();
        assert_eq!(cache.get(&k), None);
    }
}
