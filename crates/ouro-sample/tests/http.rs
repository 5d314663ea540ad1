//! The HTTP backend against real servers on loopback: `ouro serve` with a
//! tiny random model, and a scripted flaky server.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

mod common;

use common::tiny_model;
use ouro_data::{Problem, Tests};
use ouro_sample::serve::{self, ServeOptions};
use ouro_sample::{sample, sample_to_dir, BackendConfig, Endpoint, SampleOptions};
use serde_json::{json, Value};

fn problem(id: &str, name: &str) -> Problem {
    Problem {
        problem_id: id.into(),
        source: "test".into(),
        prompt: format!("def {name}(x):\n    \"\"\"Return x plus one.\"\"\"\n"),
        entry_point: name.into(),
        language: "python".into(),
        starter_code: String::new(),
        reference_solution: Some("    return x + 1\n".into()),
        tests: Tests::AssertScript {
            script: format!("assert {name}(1) == 2\n"),
        },
        audit_tests: None,
        difficulty: None,
        tags: vec![],
        split: "train".into(),
    }
}

fn problems() -> Vec<Problem> {
    vec![
        problem("t/0", "inc"),
        problem("t/1", "bump"),
        problem("t/2", "bad_one"),
    ]
}

fn opts() -> SampleOptions {
    SampleOptions {
        temperature: 1.0,
        max_tokens: 12,
        seed: 7,
        ..SampleOptions::default()
    }
}

/// [`opts`] with responses cached in `dir`.
fn cached(dir: &std::path::Path) -> SampleOptions {
    SampleOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..opts()
    }
}

fn openai(urls: Vec<String>, model: &str) -> BackendConfig {
    BackendConfig::OpenAi {
        base_urls: urls,
        model: model.into(),
        api_key_env: None,
        endpoint: Endpoint::Completions,
        concurrency: 4,
        max_retries: 3,
        timeout_s: 30,
        initial_backoff_ms: 1,
        logprobs: false,
    }
}

/// What the scripted server answers: (status, body, Retry-After).
type Script = dyn Fn(&Value, u32) -> (u16, Value, Option<&'static str>) + Send + Sync;

/// A loopback server that answers from a script given the request body and
/// how many times that exact body was seen before.
struct Scripted {
    server: Arc<tiny_http::Server>,
    url: String,
    hits: Arc<AtomicUsize>,
    auth: Arc<Mutex<Vec<String>>>,
    handle: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(script: Box<Script>) -> Scripted {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}/v1", server.server_addr().to_ip().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let (s, h, a) = (server.clone(), hits.clone(), auth.clone());
        let handle = std::thread::spawn(move || {
            let mut seen: HashMap<String, u32> = HashMap::new();
            for mut req in s.incoming_requests() {
                // The client's one `GET /v1/models` probe: answered as a server without
                // that route would (any answer means the server is up), not counted.
                if req.method() == &tiny_http::Method::Get {
                    let _ = req.respond(tiny_http::Response::empty(404));
                    continue;
                }
                h.fetch_add(1, Ordering::SeqCst);
                if let Some(v) = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                {
                    a.lock().unwrap().push(v.value.to_string());
                }
                let mut text = String::new();
                req.as_reader().read_to_string(&mut text).unwrap();
                let body: Value = serde_json::from_str(&text).unwrap();
                let n = seen.entry(text).or_insert(0);
                let (status, reply, retry_after) = script(&body, *n);
                *n += 1;
                let mut resp =
                    tiny_http::Response::from_string(reply.to_string()).with_status_code(status);
                if let Some(r) = retry_after {
                    resp =
                        resp.with_header(tiny_http::Header::from_bytes("Retry-After", r).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        Scripted {
            server,
            url,
            hits,
            auth,
            handle: Some(handle),
        }
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A completion whose text is a function body returning the request's seed.
fn ok_body(body: &Value) -> Value {
    json!({"choices": [{"index": 0, "text": format!("    return x + {}\n", body["seed"]),
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
}

fn ok_server() -> Scripted {
    Scripted::start(Box::new(|b: &Value, _: u32| (200, ok_body(b), None)))
}

/// A URL nothing listens on.
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[test]
fn http_backend_through_ouro_serve_equals_local_backend() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let ps = problems();
    let plan = vec![(&ps[0], 3), (&ps[1], 2)];
    let server = serve::start(&ServeOptions {
        port: 0,
        max_batch: 8,
        ..ServeOptions::new(&model)
    })
    .unwrap();
    assert_eq!(server.model_name(), "tiny-model");
    let models: Value = serde_json::from_str(
        &ureq::get(&format!("{}/v1/models", server.base_url()))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(models["data"][0]["id"], "tiny-model");

    // With log-probs asked for, the server's per-token log-probs sum to the local
    // backend's `Sample.logprob` (to float rounding: the server batched the rows
    // differently, and a matmul's sums round by their batch).
    let mut with_logprobs = openai(vec![server.base_url()], "tiny-model");
    if let BackendConfig::OpenAi { logprobs, .. } = &mut with_logprobs {
        *logprobs = true;
    }
    let (remote, stats) = sample(&plan, &with_logprobs, &opts()).unwrap();
    let (local, _) = sample(&plan, &BackendConfig::local(&model), &opts()).unwrap();
    assert_eq!(remote.len(), 5);
    assert_eq!(stats.counts["requests"], 5);
    for (r, l) in remote.iter().zip(&local) {
        assert_eq!((&r.problem_id, r.index), (&l.problem_id, l.index));
        assert_eq!(r.completion, l.completion, "{}#{}", r.problem_id, r.index);
        assert_eq!(r.sample_id, l.sample_id);
        assert_eq!(r.finish_reason, l.finish_reason);
        assert_eq!(r.prompt_tokens, l.prompt_tokens);
        assert_eq!(r.completion_tokens, l.completion_tokens);
        assert_eq!(r.params, l.params);
        assert!(l.logprob.is_some());
        let (r_lp, l_lp) = (r.logprob.unwrap(), l.logprob.unwrap());
        assert!(
            (r_lp - l_lp).abs() <= 1e-6 * l_lp.abs(),
            "{}#{}: {r_lp} vs {l_lp}",
            r.problem_id,
            r.index
        );
    }
    let seeds: std::collections::HashSet<_> = remote.iter().map(|s| s.params.seed).collect();
    assert_eq!(seeds.len(), 5, "every sample has its own seed");

    // Chat goes through the ChatML template and comes back as a sample too.
    let mut chat = openai(vec![format!("{}/v1", server.base_url())], "tiny-model");
    if let BackendConfig::OpenAi { endpoint, .. } = &mut chat {
        *endpoint = Endpoint::Chat;
    }
    let (chat_samples, _) = sample(&plan, &chat, &opts()).unwrap();
    assert_eq!(chat_samples.len(), 5);
    assert!(chat_samples.iter().all(|s| s.generation_error.is_none()));

    // A wrong model name is the server's 404, reported, not retried.
    let err = sample(&plan, &openai(vec![server.base_url()], "nope"), &opts()).unwrap_err();
    assert!(format!("{err:#}").contains("HTTP 404"), "{err:#}");
    server.shutdown();
}

#[test]
fn retries_429_and_500_until_success() {
    let server = Scripted::start(Box::new(|b: &Value, seen: u32| match seen {
        0 => (429, json!({"error": {"message": "slow down"}}), Some("0")),
        1 => (500, json!({"error": {"message": "oops"}}), None),
        _ => (200, ok_body(b), None),
    }));
    let ps = problems();
    let plan = vec![(&ps[0], 2), (&ps[1], 2)];
    let (samples, stats) = sample(&plan, &openai(vec![server.url.clone()], "m"), &opts()).unwrap();
    assert_eq!(server.hits(), 12);
    assert_eq!(stats.counts["requests"], 12);
    assert_eq!(stats.counts["retries"], 8);
    for s in &samples {
        assert!(s.generation_error.is_none());
        let seed = s.params.seed.unwrap();
        assert_eq!(s.completion, format!("    return x + {seed}\n"));
        assert!(
            s.code.as_deref().unwrap().starts_with("def "),
            "{:?}",
            s.code
        );
        assert_eq!(s.finish_reason.as_deref(), Some("stop"));
        assert_eq!((s.prompt_tokens, s.completion_tokens), (Some(9), Some(4)));
    }
}

#[test]
fn retries_are_capped_and_the_error_says_so() {
    let server = Scripted::start(Box::new(|_: &Value, _: u32| {
        (503, json!({"error": {"message": "overloaded"}}), None)
    }));
    let ps = problems();
    let err = sample(
        &[(&ps[0], 1)],
        &openai(vec![server.url.clone()], "m"),
        &opts(),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("HTTP 503: overloaded (gave up after 3 retries)"),
        "{msg}"
    );
    assert_eq!(server.hits(), 4);
}

#[test]
fn bad_request_fails_fast_with_clear_error() {
    let server = Scripted::start(Box::new(|_: &Value, _: u32| {
        (
            400,
            json!({"error": {"message": "max_tokens is too large"}}),
            None,
        )
    }));
    let ps = problems();
    let err = sample(
        &[(&ps[0], 3)],
        &openai(vec![server.url.clone()], "m"),
        &opts(),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("every request failed"), "{msg}");
    assert!(msg.contains("HTTP 400: max_tokens is too large"), "{msg}");
    // "Fast" is checked by count, not by a clock: one request per sample,
    // none retried (a retry would also wait out its backoff).
    assert_eq!(server.hits(), 3, "a 400 is not retried");
}

#[test]
fn a_redirect_is_named_not_followed_as_a_get() {
    let server = Scripted::start(Box::new(|_: &Value, _: u32| (308, json!({}), None)));
    let ps = problems();
    let err = sample(
        &[(&ps[0], 2)],
        &openai(vec![server.url.clone()], "m"),
        &opts(),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("HTTP 308: the server redirects to (no Location header); give --base-url"),
        "{msg}"
    );
    assert_eq!(server.hits(), 2, "a redirect is not retried");
}

#[test]
fn requests_in_flight_that_succeed_after_the_failures_stop_the_run_are_no_panic() {
    // The first 8 requests fail; those already sent when the run stops succeed. The server
    // answers one request at a time: each failure takes 50 ms, so while it is answered the
    // other workers have their next requests in flight (with instant failures the run
    // could stop before any was sent), and each success is held back long enough that
    // the client has read all 8 failures first (a success read early means the run is
    // not stopped at all).
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let server = Scripted::start(Box::new(move |b: &Value, _: u32| {
        if count.fetch_add(1, Ordering::SeqCst) < 8 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            (400, json!({"error": {"message": "prompt too long"}}), None)
        } else {
            std::thread::sleep(std::time::Duration::from_millis(300));
            (200, ok_body(b), None)
        }
    }));
    let ps = problems();
    let err = sample(
        &[(&ps[0], 40)],
        &openai(vec![server.url.clone()], "m"),
        &opts(),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("stopped after the first 8 requests failed") && msg.contains("not sent"),
        "{msg}"
    );
    assert!(msg.contains("HTTP 400: prompt too long"), "{msg}");
}

#[test]
fn a_failing_problem_becomes_error_samples_not_an_aborted_run() {
    let server = Scripted::start(Box::new(|b: &Value, _: u32| {
        if b["prompt"].as_str().unwrap().contains("bad_one") {
            (400, json!({"error": {"message": "prompt too long"}}), None)
        } else {
            (200, ok_body(b), None)
        }
    }));
    let ps = problems();
    let plan = vec![(&ps[0], 2), (&ps[2], 2)];
    let out = tempfile::tempdir().unwrap();
    let stats = sample_to_dir(
        &plan,
        &openai(vec![server.url.clone()], "m"),
        &opts(),
        out.path(),
    )
    .unwrap();
    assert_eq!(stats.counts["generation_errors"], 2);
    let samples: Vec<ouro_data::Sample> = ouro_data::shard::read_dir(out.path()).unwrap();
    assert_eq!(samples.len(), 4);
    for s in &samples[2..] {
        assert_eq!(s.problem_id, "t/2");
        assert_eq!(s.finish_reason.as_deref(), Some("error"));
        assert!(s
            .generation_error
            .as_deref()
            .unwrap()
            .contains("prompt too long"));
        assert_eq!(s.code, None);
        assert_eq!(s.extraction_error.as_deref(), Some("generation failed"));
    }
}

/// A 200 whose body ends mid-value (the connection closed, no Content-Length) is a
/// broken connection, retried: it was taken as the server's answer, an error sample.
#[test]
fn a_reply_cut_off_mid_body_is_retried() {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut posts = 0;
        for stream in listener.incoming().take(3) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut head, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; length];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            let reply = if head.starts_with("GET") {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            } else {
                posts += 1;
                let full = ok_body(&serde_json::from_slice(&body).unwrap()).to_string();
                let text = if posts == 1 {
                    &full[..full.len() / 2]
                } else {
                    &full[..]
                };
                format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{text}")
            };
            stream.write_all(reply.as_bytes()).unwrap();
        }
    });
    let ps = problems();
    let (samples, stats) = sample(&[(&ps[0], 1)], &openai(vec![url], "m"), &opts()).unwrap();
    handle.join().unwrap();
    assert_eq!(stats.counts["retries"], 1);
    assert_eq!(
        samples[0].finish_reason.as_deref(),
        Some("stop"),
        "{samples:?}"
    );
}

/// Without --served-model-name the model is looked up on the first host that answers:
/// a first host down failed the run, though the run itself leaves such a host out.
#[test]
fn the_served_model_is_asked_of_the_first_host_that_answers() {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let url = format!("http://{}/v1", server.server_addr().to_ip().unwrap());
    let s = server.clone();
    let handle = std::thread::spawn(move || {
        if let Ok(req) = s.recv() {
            let listing = json!({"data": [{"id": "coder-1.5b"}]}).to_string();
            let _ = req.respond(tiny_http::Response::from_string(listing));
        }
    });
    let (name, host) = ouro_sample::served_model(&[dead_url(), url.clone()], "UNSET_KEY").unwrap();
    handle.join().unwrap();
    assert_eq!((name.as_str(), host), ("coder-1.5b", url));
    let err = ouro_sample::served_model(&[dead_url()], "UNSET_KEY").unwrap_err();
    assert!(format!("{err:#}").contains("check --base-url"), "{err:#}");
}

/// A cache replay says nothing about whether a server answers now: a resumed run
/// whose servers are down wrote every missing sample as an error and exited 0.
#[test]
fn a_resumed_run_whose_servers_are_down_fails_though_the_cache_answers_part() {
    let server = ok_server();
    let cache = tempfile::tempdir().unwrap();
    let ps = problems();
    let o = cached(cache.path());
    sample(&[(&ps[0], 2)], &openai(vec![server.url.clone()], "m"), &o).unwrap();
    let plan = vec![(&ps[0], 2), (&ps[1], 2)];
    let err = sample(&plan, &openai(vec![dead_url()], "m"), &o).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("every request failed (2 of 4; 2 came from the cache)")
            && msg.contains("no server answers"),
        "{msg}"
    );
}

#[test]
fn cache_replays_a_killed_run_without_requests() {
    let server = ok_server();
    let cache = tempfile::tempdir().unwrap();
    let ps = problems();
    let o = cached(cache.path());
    let backend = openai(vec![server.url.clone()], "m");
    // The "killed" run finished problem 0 only.
    sample(&[(&ps[0], 3)], &backend, &o).unwrap();
    assert_eq!(server.hits(), 3);
    let plan = vec![(&ps[0], 3), (&ps[1], 2)];
    let (resumed, stats) = sample(&plan, &backend, &o).unwrap();
    assert_eq!(
        server.hits(),
        5,
        "only the two missing samples are requested"
    );
    assert_eq!(stats.counts["cache_hits"], 3);
    // Again, against a different base URL of the same model: nothing is requested.
    let other = ok_server();
    let (again, stats) = sample(&plan, &openai(vec![other.url.clone()], "m"), &o).unwrap();
    assert_eq!((server.hits(), other.hits()), (5, 0));
    assert_eq!(stats.counts["cache_hits"], 5);
    assert_eq!(again, resumed);
    let (uncached, _) = sample(&plan, &backend, &opts()).unwrap();
    assert_eq!(uncached, resumed);
}

#[test]
fn base_urls_are_used_round_robin_and_a_dead_one_is_left_out() {
    let (a, b) = (ok_server(), ok_server());
    let ps = problems();
    let backend = openai(vec![a.url.clone(), dead_url(), b.url.clone()], "m");
    let (samples, _) = sample(&[(&ps[0], 9)], &backend, &opts()).unwrap();
    assert!(samples.iter().all(|s| s.generation_error.is_none()));
    assert!(a.hits() >= 3 && b.hits() >= 3, "{} {}", a.hits(), b.hits());
    assert_eq!(a.hits() + b.hits(), 9);
}

#[test]
fn server_down_aborts_with_a_clear_error() {
    let ps = problems();
    let mut backend = openai(vec![dead_url()], "m");
    if let BackendConfig::OpenAi { max_retries, .. } = &mut backend {
        *max_retries = 1;
    }
    let err = sample(&[(&ps[0], 20)], &backend, &opts()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("every request failed"), "{msg}");
    assert!(
        msg.contains("no server answers (connection error:") && msg.contains("check --base-url"),
        "{msg}"
    );
}

#[test]
fn bearer_token_comes_from_the_named_environment_variable() {
    std::env::set_var("OURO_SAMPLE_TEST_KEY", "sk-test");
    let server = ok_server();
    let ps = problems();
    let mut backend = openai(vec![server.url.clone()], "m");
    if let BackendConfig::OpenAi { api_key_env, .. } = &mut backend {
        *api_key_env = Some("OURO_SAMPLE_TEST_KEY".into());
    }
    sample(&[(&ps[0], 2)], &backend, &opts()).unwrap();
    assert_eq!(*server.auth.lock().unwrap(), vec!["Bearer sk-test"; 2]);
}

#[test]
fn backend_config_reads_from_toml_and_rejects_unknown_keys() {
    let c: BackendConfig = toml::from_str(
        "backend = \"openai\"\nbase_urls = [\"http://a:8000/v1\", \"http://b:8000\"]\nmodel = \"qwen\"\nendpoint = \"chat\"\nconcurrency = 64\n",
    )
    .unwrap();
    match c {
        BackendConfig::OpenAi {
            endpoint,
            concurrency,
            max_retries,
            ..
        } => assert_eq!(
            (endpoint, concurrency, max_retries),
            (Endpoint::Chat, 64, 6)
        ),
        other => panic!("{other:?}"),
    }
    let c: BackendConfig = toml::from_str("backend = \"local\"\nmodel = \"runs/m\"\n").unwrap();
    assert_eq!(c, BackendConfig::local("runs/m"));
    let err = toml::from_str::<BackendConfig>("backend = \"local\"\nmodel = \"m\"\nbatch = 3\n")
        .unwrap_err();
    assert!(err.to_string().contains("batch"), "{err}");
}
