//! The HTTP backend: OpenAI-compatible `/v1/completions` and `/v1/chat/completions`.
//!
//! One request per sample, each with its own seed: llama.cpp's server
//! ignores `n`, and per-sample seeds make every sample reproducible on its
//! own. Worker threads pull jobs from a shared counter (bounded
//! concurrency); job `i` goes to base URL `i mod k` and each retry moves to
//! the next URL, so a server that fails mid-run costs a retry, not a sample.
//! Before the first request that the cache does not answer, each base URL is
//! asked for `GET /v1/models` once: a server that does not answer at all is left
//! out, and a run whose servers are all down stops at once instead of after
//! every retry's backoff.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context};
use ouro_data::run::StageStats;
use serde_json::{json, Value};

use crate::cache::{self, Cache};
use crate::record::Raw;
use crate::{BackendConfig, Endpoint, Job, SampleOptions};

mod models;
pub use models::{base_url_root, served_model};
use models::{get_models, listed_ids};

/// Longest wait a `Retry-After` header can impose.
const MAX_RETRY_AFTER_S: f64 = 120.0;
/// Largest reply read: far above any completion's, and a bound on a broken server's.
const MAX_REPLY_BYTES: u64 = 64 << 20;
/// Longest computed backoff.
const MAX_BACKOFF_MS: f64 = 30_000.0;
/// A run whose first this-many requests all failed, for more than one problem,
/// stops: the server is down or rejects every request, and the rest would fail
/// the same way. One problem's failures (a prompt over the context, answered
/// 400 at once) say nothing about the others.
const ABORT_AFTER_FAILURES: usize = 8;

struct Client<'a> {
    agent: ureq::Agent,
    base_urls: Vec<String>,
    /// The base URLs that answered [`Client::probe`], or why none did.
    live: OnceLock<Result<Vec<String>, String>>,
    model: &'a str,
    api_key: Option<String>,
    endpoint: Endpoint,
    max_retries: u32,
    initial_backoff_ms: u64,
    logprobs: bool,
    cache: Option<Cache>,
    opts: &'a SampleOptions,
}

/// The result of one job.
struct Outcome {
    raw: Raw,
    cached: bool,
    /// HTTP requests sent (0 for a cache hit).
    requests: u32,
    /// It failed for want of a server (none answers, or retries ran out on
    /// connection errors, timeouts, 429 or 5xx), not for its own request.
    unreachable: bool,
}

/// What the replies so far say about the servers. `ok` counts replies a server
/// sent in this run: a cache replay says nothing about whether one answers now.
/// A run fails, and stops early, for failures that are not one problem's own
/// (a prompt over the context, rejected at once): more than one problem's, or
/// any for want of a server.
struct Tally<'a> {
    ok: usize,
    failed: usize,
    failed_problems: std::collections::HashSet<&'a str>,
    unreachable: bool,
    problems: usize,
}

impl<'a> Tally<'a> {
    fn new(problem_ids: impl Iterator<Item = &'a str>) -> Self {
        Tally {
            ok: 0,
            failed: 0,
            failed_problems: Default::default(),
            unreachable: false,
            problems: problem_ids.collect::<std::collections::HashSet<_>>().len(),
        }
    }

    fn add(&mut self, problem_id: &'a str, outcome: &Outcome) {
        if outcome.raw.error.is_some() {
            self.failed += 1;
            self.failed_problems.insert(problem_id);
            self.unreachable |= outcome.unreachable;
        } else if !outcome.cached {
            self.ok += 1;
        }
    }

    fn beyond_one_problem(&self) -> bool {
        self.unreachable || self.failed_problems.len() >= self.problems.min(2)
    }

    /// Whether the first replies, all failures, say the rest would fail too.
    fn stops_early(&self, jobs: usize) -> bool {
        self.ok == 0 && self.failed >= ABORT_AFTER_FAILURES.min(jobs) && self.beyond_one_problem()
    }

    fn run_failed(&self) -> bool {
        self.ok == 0 && self.failed > 0 && self.beyond_one_problem()
    }
}

/// A failed HTTP attempt.
struct Failure {
    message: String,
    retryable: bool,
    retry_after: Option<f64>,
}

pub(crate) fn generate(
    jobs: &[Job],
    backend: &BackendConfig,
    opts: &SampleOptions,
    stats: &mut StageStats,
) -> anyhow::Result<Vec<Raw>> {
    let BackendConfig::OpenAi {
        base_urls,
        model,
        api_key_env,
        endpoint,
        concurrency,
        max_retries,
        timeout_s,
        initial_backoff_ms,
        logprobs,
    } = backend
    else {
        unreachable!("openai::generate called with a local backend")
    };
    if base_urls.is_empty() {
        bail!("the openai backend needs at least one base URL");
    }
    let base_urls = base_urls
        .iter()
        .map(|u| base_url_root(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let key_var = api_key_env.as_deref().unwrap_or("OPENAI_API_KEY");
    let concurrency = (*concurrency).max(1);
    let client = Client {
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs((*timeout_s).max(1)))
            // A redirected POST comes back as a GET, which no server answers with a
            // completion: the 30x itself says more (see `post`).
            .redirects(0)
            .max_idle_connections_per_host(concurrency)
            .max_idle_connections(concurrency * base_urls.len())
            .build(),
        base_urls,
        live: OnceLock::new(),
        model,
        api_key: std::env::var(key_var).ok().filter(|k| !k.is_empty()),
        endpoint: *endpoint,
        max_retries: *max_retries,
        initial_backoff_ms: *initial_backoff_ms,
        logprobs: *logprobs,
        cache: match &opts.cache_dir {
            Some(dir) => Some(Cache::new(dir)?),
            None => None,
        },
        opts,
    };

    let n = jobs.len();
    let mut results: Vec<Option<Raw>> = vec![None; n];
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    let bar = ouro_data::progress::bar(n as u64, opts.progress, "sample", "samples");
    let mut tally = Tally::new(jobs.iter().map(|j| j.problem.problem_id.as_str()));
    let mut first_error = None::<String>;
    std::thread::scope(|s| {
        for _ in 0..concurrency.min(n) {
            let tx = tx.clone();
            let (client, next, abort) = (&client, &next, &abort);
            s.spawn(move || loop {
                if abort.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || tx.send((i, client.fetch(i, &jobs[i]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, outcome) in rx {
            stats.add("requests", outcome.requests as u64);
            stats.add("retries", outcome.requests.saturating_sub(1) as u64);
            if outcome.cached {
                stats.add("cache_hits", 1);
            }
            if let Some(e) = &outcome.raw.error {
                tracing::warn!("{}#{}: {e}", jobs[i].problem.problem_id, jobs[i].index);
                first_error.get_or_insert_with(|| e.clone());
            }
            tally.add(&jobs[i].problem.problem_id, &outcome);
            if tally.stops_early(n) {
                abort.store(true, Ordering::Relaxed);
            }
            results[i] = Some(outcome.raw);
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    let unsent = results.iter().filter(|r| r.is_none()).count();
    let unsent_note = match unsent {
        0 => String::new(),
        k => format!(", {k} not sent"),
    };
    let (ok, failed) = (tally.ok, tally.failed);
    if tally.run_failed() {
        let cached = n - unsent - failed;
        let cached_note = match cached {
            0 => String::new(),
            k => format!("; {k} came from the cache"),
        };
        bail!(
            "every request failed ({failed} of {n}{unsent_note}{cached_note}); first error: {}",
            first_error.unwrap_or_default()
        );
    }
    if unsent > 0 {
        // Requests in flight when the failures stopped the run may still have succeeded;
        // the run stopped all the same (a rerun takes those from the cache).
        bail!(
            "stopped after the first {ABORT_AFTER_FAILURES} requests failed ({ok} already in \
             flight succeeded, {failed} failed{unsent_note}); first error: {}",
            first_error.unwrap_or_default()
        );
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect())
}

impl Client<'_> {
    fn body(&self, job: &Job) -> Value {
        let o = self.opts;
        let mut body = json!({
            "model": self.model,
            "max_tokens": o.max_tokens,
            "temperature": o.temperature,
            "top_p": o.top_p,
            "seed": job.seed,
            "n": 1,
            "stream": false,
        });
        let map = body.as_object_mut().expect("object");
        match self.endpoint {
            Endpoint::Completions => {
                map.insert("prompt".into(), json!(job.problem.prompt));
                if self.logprobs {
                    map.insert("logprobs".into(), json!(1));
                }
            }
            Endpoint::Chat => {
                map.insert(
                    "messages".into(),
                    json!([{"role": "user", "content": job.problem.prompt}]),
                );
                if self.logprobs {
                    map.insert("logprobs".into(), json!(true));
                }
            }
        }
        // Sent only when set: OpenAI itself rejects parameters it does not know.
        if !o.stop.is_empty() {
            map.insert("stop".into(), json!(o.stop));
        }
        if o.top_k > 0 {
            map.insert("top_k".into(), json!(o.top_k));
        }
        if o.min_p > 0.0 {
            map.insert("min_p".into(), json!(o.min_p));
        }
        body
    }

    fn fetch(&self, i: usize, job: &Job) -> Outcome {
        let path = self.endpoint.path();
        let body = self.body(job);
        let key = cache::key(path, &body);
        if let Some(cached) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            if let Ok(raw) = parse_response(&cached, self.endpoint) {
                return Outcome {
                    raw,
                    cached: true,
                    requests: 0,
                    unreachable: false,
                };
            }
        }
        let urls = match self.live.get_or_init(|| self.probe()) {
            Ok(urls) => urls,
            Err(e) => {
                return Outcome {
                    raw: Raw::failed(e.clone()),
                    cached: false,
                    requests: 0,
                    unreachable: true,
                }
            }
        };
        let body_text = body.to_string();
        let mut attempt: u32 = 0;
        loop {
            let url = format!("{}{path}", urls[(i + attempt as usize) % urls.len()]);
            let failure = match self.post(&url, &body_text) {
                Ok(response) => {
                    let raw = match parse_response(&response, self.endpoint) {
                        Ok(raw) => raw,
                        Err(e) => Raw::failed(format!("POST {url}: {e}")),
                    };
                    if raw.error.is_none() {
                        if let Some(cache) = &self.cache {
                            if let Err(e) = cache.put(&key, &response) {
                                tracing::warn!("{e:#}");
                            }
                        }
                    }
                    return Outcome {
                        raw,
                        cached: false,
                        requests: attempt + 1,
                        unreachable: false,
                    };
                }
                Err(f) => f,
            };
            if failure.retryable && attempt < self.max_retries {
                let delay = backoff(self.initial_backoff_ms, attempt, failure.retry_after);
                tracing::debug!("{} (retrying in {delay:?})", failure.message);
                std::thread::sleep(delay);
                attempt += 1;
                continue;
            }
            let unreachable = failure.retryable;
            let message = if failure.retryable && attempt > 0 {
                format!("{} (gave up after {attempt} retries)", failure.message)
            } else {
                failure.message
            };
            return Outcome {
                raw: Raw::failed(message),
                cached: false,
                requests: attempt + 1,
                unreachable,
            };
        }
    }

    /// The base URLs whose server answers `GET /v1/models` with any HTTP status (some
    /// servers have no such route); the rest are left out with a warning. A listing
    /// without the requested model is a warning too: llama.cpp serves whatever it
    /// loaded under any name.
    fn probe(&self) -> Result<Vec<String>, String> {
        let mut live = Vec::new();
        let mut down = Vec::new();
        for root in &self.base_urls {
            match get_models(root, self.api_key.as_deref()).map_err(|e| *e) {
                Ok(resp) => {
                    let listing: Value = resp
                        .into_string()
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or_default();
                    let listed: Vec<&str> = listed_ids(&listing).into_iter().flatten().collect();
                    if !listed.is_empty() && !listed.contains(&self.model) {
                        tracing::warn!(
                            "{root}/v1/models lists {}, not '{}': requests may fail (check --served-model-name)",
                            listed.join(", "),
                            self.model
                        );
                    }
                    live.push(root.clone());
                }
                Err(ureq::Error::Status(..)) => live.push(root.clone()),
                Err(ureq::Error::Transport(t)) => down.push(format!("{root}: {t}")),
            }
        }
        if live.is_empty() {
            return Err(format!(
                "no server answers (connection error: {}); start one (`ouro serve --model DIR`, \
                 `vllm serve MODEL`) or check --base-url",
                down.join("; ")
            ));
        }
        for d in &down {
            tracing::warn!("left out, no answer: {d}");
        }
        Ok(live)
    }

    fn post(&self, url: &str, body: &str) -> Result<Value, Failure> {
        let mut req = self.agent.post(url).set("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        match req.send_string(body) {
            // With redirects off, a 30x is an answer rather than an error.
            Ok(resp) if (300..400).contains(&resp.status()) => Err(Failure {
                message: format!(
                    "POST {url}: HTTP {}: the server redirects to {}; give --base-url \
                     that address",
                    resp.status(),
                    resp.header("location").unwrap_or("(no Location header)")
                ),
                retryable: false,
                retry_after: None,
            }),
            Ok(resp) => {
                let mut text = String::new();
                resp.into_reader()
                    .take(MAX_REPLY_BYTES + 1)
                    .read_to_string(&mut text)
                    .map_err(|e| Failure {
                        message: format!("POST {url}: reading the response: {e}"),
                        retryable: true,
                        retry_after: None,
                    })?;
                if text.len() as u64 > MAX_REPLY_BYTES {
                    // The same request would get the same reply: not worth a retry.
                    return Err(Failure {
                        message: format!(
                            "POST {url}: the reply is over {} MiB; ask for fewer tokens \
                             (--max-tokens) or no --logprobs",
                            MAX_REPLY_BYTES >> 20
                        ),
                        retryable: false,
                        retry_after: None,
                    });
                }
                serde_json::from_str(&text).map_err(|e| Failure {
                    message: format!("POST {url}: response is not JSON ({e}): {}", snippet(&text)),
                    // A body that ends mid-value is a connection closed early (with no
                    // Content-Length nothing else says so); another reply would do.
                    retryable: e.is_eof(),
                    retry_after: None,
                })
            }
            Err(ureq::Error::Status(code, resp)) => {
                let retry_after = resp.header("retry-after").and_then(retry_after_s);
                let text = resp.into_string().unwrap_or_default();
                Err(Failure {
                    message: format!("POST {url}: HTTP {code}: {}", error_message(&text)),
                    retryable: matches!(code, 408 | 425 | 429 | 500..=599),
                    retry_after,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(Failure {
                message: format!("POST {url}: connection error: {t}"),
                retryable: true,
                retry_after: None,
            }),
        }
    }
}

/// A `Retry-After` value in seconds: delay-seconds, or an HTTP date (a date
/// already past is no wait).
fn retry_after_s(value: &str) -> Option<f64> {
    let value = value.trim();
    if let Ok(s) = value.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then_some(s);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .map_or(0.0, |d| d.as_secs_f64()),
    )
}

/// Exponential backoff with jitter in [d/2, d); a server's `Retry-After` wins.
fn backoff(initial_ms: u64, attempt: u32, retry_after: Option<f64>) -> Duration {
    if let Some(s) = retry_after {
        return Duration::from_secs_f64(s.min(MAX_RETRY_AFTER_S));
    }
    let d = (initial_ms as f64 * 2f64.powi(attempt.min(30) as i32)).min(MAX_BACKOFF_MS);
    Duration::from_secs_f64(d * (0.5 + 0.5 * rand::random::<f64>()) / 1000.0)
}

/// The server's error message: OpenAI/vLLM `error.message`, TGI `error`,
/// FastAPI `detail`, else the start of the body.
fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let found = v
            .pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"));
        if let Some(m) = found {
            return m
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string());
        }
    }
    snippet(body)
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &t[..cut]),
        None if t.is_empty() => "(empty body)".into(),
        None => t.to_string(),
    }
}

/// The first choice of a completions or chat response.
fn parse_response(v: &Value, endpoint: Endpoint) -> anyhow::Result<Raw> {
    // Such a reply is a failed request, not a sample: it is neither cached nor kept, so a
    // rerun asks again.
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        bail!(
            "the server answered with an error: {}",
            snippet(&e.to_string())
        );
    }
    // By `index`, not position: `n` is always 1, but a server or proxy that
    // ignores it may list other choices first.
    let choices = v.get("choices").and_then(Value::as_array);
    let choice = choices
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("index").and_then(Value::as_u64) == Some(0))
                .or_else(|| c.first())
        })
        .with_context(|| format!("response has no choices: {}", snippet(&v.to_string())))?;
    if let Some(r @ ("error" | "abort")) = choice.get("finish_reason").and_then(Value::as_str) {
        bail!("the server ended choices[0] with finish_reason '{r}'");
    }
    let completion = match endpoint {
        Endpoint::Completions => choice
            .get("text")
            .and_then(Value::as_str)
            .context("choices[0].text is missing or not a string")?
            .to_string(),
        Endpoint::Chat => {
            let message = choice
                .get("message")
                .context("choices[0].message is missing")?;
            let content = match message.get("content") {
                None | Some(Value::Null) => {
                    // Not an empty answer: say what came instead, and ask again on a rerun.
                    if let Some(r) = message.get("refusal").and_then(Value::as_str) {
                        bail!("the model refused: {}", snippet(r));
                    }
                    if message.get("tool_calls").is_some_and(|t| !t.is_null()) {
                        bail!(
                            "the model answered with tool calls, not text (ouro offers no tools)"
                        );
                    }
                    ""
                }
                Some(Value::String(s)) => s.as_str(),
                Some(_) => bail!("choices[0].message.content is not a string"),
            };
            // Kept in a <think> block, as the importer does, so extraction skips it.
            let reasoning = ["reasoning_content", "reasoning"]
                .iter()
                .find_map(|k| message.get(*k).and_then(Value::as_str))
                .filter(|r| !r.is_empty());
            match reasoning {
                Some(r) => format!("<think>\n{r}\n</think>\n{content}"),
                None => content.to_string(),
            }
        }
    };
    let usage = |k: &str| {
        v.pointer(&format!("/usage/{k}"))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Ok(Raw {
        completion,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        error: None,
        prompt_tokens: usage("prompt_tokens"),
        completion_tokens: usage("completion_tokens"),
        logprob: ouro_import::generations::choice_logprob(choice),
    })
}

#[cfg(test)]
mod tests;
