//! `ouro serve`: a local checkpoint behind the OpenAI API.
//!
//! Endpoints: `POST /v1/completions`, `POST /v1/chat/completions` (ChatML
//! template), `GET /v1/models`, `GET /health`. Each HTTP request gets a
//! thread; one model thread owns the checkpoint and decodes every request
//! that arrived while it was busy as one batch, so concurrent clients share
//! batches. A sample's tokens depend only on its prompt, parameters and
//! seed, never on what it was batched with, so the HTTP backend pointed at
//! this server returns what the local backend would.
//!
//! Not supported (400): `stream`, `echo`, token-id prompts. `logprobs` is
//! accepted and answered with `null`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use ouro_data::Message;
use ouro_model::chat::{PromptFormat, PromptRenderer};
use ouro_model::{checkpoint, Generation, GenerationRequest, Generator, SamplingParams};
use serde_json::{json, Value};

/// Largest request body read.
const MAX_BODY_BYTES: u64 = 16 << 20;
/// Most completions one request may ask for (`n` times the prompts).
const MAX_CHOICES: usize = 1024;

/// How `ouro serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HF checkpoint directory (with tokenizer.json).
    pub model: PathBuf,
    pub host: String,
    /// 0 picks a free port (see [`RunningServer::addr`]).
    pub port: u16,
    /// Name clients pass as `model`; defaults to the directory name.
    pub served_model_name: Option<String>,
    /// Most sequences decoded together.
    pub max_batch: usize,
    /// Device and dtype the model is loaded on.
    pub place: ouro_model::Placement,
    /// The weights decoding reads (8-bit copies or the model's own).
    pub weights: ouro_model::SampleDtype,
}

impl ServeOptions {
    pub fn new(model: impl Into<PathBuf>) -> Self {
        ServeOptions {
            model: model.into(),
            host: "127.0.0.1".into(),
            port: 8000,
            served_model_name: None,
            max_batch: 64,
            place: ouro_model::Placement::auto(),
            weights: ouro_model::SampleDtype::Full,
        }
    }
}

/// A server running on background threads.
pub struct RunningServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    model_name: String,
    accept: Option<JoinHandle<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://HOST:PORT` (OpenAI clients append `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn model_name(&self) -> &str {
        &self.model_name
    }
    /// Blocks until the server stops (it does not stop on its own).
    pub fn wait(mut self) {
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
    /// Stops accepting requests and waits for the accept loop to end.
    pub fn shutdown(mut self) {
        self.server.unblock();
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.server.unblock();
        }
    }
}

/// Loads the checkpoint, binds `host:port` and serves on background threads.
pub fn start(opts: &ServeOptions) -> anyhow::Result<RunningServer> {
    let model_name = opts
        .served_model_name
        .clone()
        .unwrap_or_else(|| crate::checkpoint_name(&opts.model));
    let (work_tx, work_rx) = mpsc::channel::<Work>();
    let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<PromptRenderer>>();
    let dir = opts.model.clone();
    let max_batch = opts.max_batch.max(1);
    let (place, weights) = (opts.place.clone(), opts.weights);
    std::thread::Builder::new()
        .name("ouro-serve-model".into())
        .spawn(move || model_thread(dir, max_batch, (place, weights), ready_tx, work_rx))
        .context("starting the model thread")?;
    let chat = ready_rx
        .recv()
        .map_err(|_| anyhow!("the model thread died while loading"))??;
    let bind = format!("{}:{}", opts.host, opts.port);
    let server = tiny_http::Server::http(&bind).map_err(|e| anyhow!("binding {bind}: {e}"))?;
    let addr = server
        .server_addr()
        .to_ip()
        .with_context(|| format!("{bind} is not an IP address"))?;
    let server = Arc::new(server);
    let ctx = Arc::new(Ctx {
        model_name: model_name.clone(),
        chat,
        work: work_tx,
        next_id: AtomicU64::new(0),
    });
    let accept_server = Arc::clone(&server);
    let accept = std::thread::Builder::new()
        .name("ouro-serve-accept".into())
        .spawn(move || {
            for request in accept_server.incoming_requests() {
                let ctx = Arc::clone(&ctx);
                let spawned = std::thread::Builder::new()
                    .name("ouro-serve-request".into())
                    .spawn(move || handle(request, &ctx));
                if let Err(e) = spawned {
                    tracing::error!("cannot start a request thread: {e}");
                }
            }
        })
        .context("starting the accept thread")?;
    Ok(RunningServer {
        server,
        addr,
        model_name,
        accept: Some(accept),
    })
}

/// `ouro serve`: [`start`], print where, and serve until killed.
pub fn serve(opts: &ServeOptions) -> anyhow::Result<()> {
    let server = start(opts)?;
    eprintln!(
        "serving {} ({}, {} weights) as '{}' at {}/v1 (completions, chat/completions, models)",
        opts.model.display(),
        opts.place.describe(),
        opts.weights.name(),
        server.model_name(),
        server.base_url()
    );
    server.wait();
    Ok(())
}

/// Generation work for the model thread, and where to send the result.
struct Work {
    requests: Vec<GenerationRequest>,
    reply: mpsc::Sender<Result<Vec<Generation>, String>>,
}

fn model_thread(
    dir: PathBuf,
    max_batch: usize,
    (place, weights): (ouro_model::Placement, ouro_model::SampleDtype),
    ready: mpsc::Sender<anyhow::Result<PromptRenderer>>,
    work: mpsc::Receiver<Work>,
) {
    let ck = match checkpoint::load_for_sampling(&dir, (&place, weights)) {
        Ok(ck) => ck,
        Err(e) => {
            let _ = ready.send(Err(anyhow!("loading checkpoint {}: {e}", dir.display())));
            return;
        }
    };
    let Some(tok) = ck.tokenizer.as_ref() else {
        let _ = ready.send(Err(anyhow!(
            "{}: no tokenizer.json; ouro serve needs the checkpoint's tokenizer",
            dir.display()
        )));
        return;
    };
    // The checkpoint's own chat template renders chat requests (ChatML without one).
    let chat = match PromptRenderer::for_model(&dir, PromptFormat::ChatMl) {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(anyhow!("{e}")));
            return;
        }
    };
    let _ = ready.send(Ok(chat));
    let generator = Generator::new(&ck.decoder, tok).with_max_batch(max_batch);
    while let Ok(first) = work.recv() {
        // Everything that queued up while the last batch ran is decoded together.
        let mut batch = vec![first];
        let mut rows = batch[0].requests.len();
        while rows < max_batch {
            match work.try_recv() {
                Ok(w) => {
                    rows += w.requests.len();
                    batch.push(w);
                }
                Err(_) => break,
            }
        }
        let all: Vec<GenerationRequest> = batch
            .iter()
            .flat_map(|w| w.requests.iter().cloned())
            .collect();
        match generator.generate(&all) {
            Ok(generations) => {
                let mut it = generations.into_iter();
                for w in batch {
                    let mine: Vec<Generation> = it.by_ref().take(w.requests.len()).collect();
                    let _ = w.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

struct Ctx {
    model_name: String,
    chat: PromptRenderer,
    work: mpsc::Sender<Work>,
    next_id: AtomicU64,
}

/// An error answered in OpenAI's shape.
struct ApiError {
    status: u16,
    message: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError {
        status: 400,
        message: message.into(),
    }
}

fn handle(mut request: tiny_http::Request, ctx: &Ctx) {
    let (status, body) = match route(&mut request, ctx) {
        Ok(v) => (200, v),
        Err(e) => {
            let kind = match e.status {
                400 => "BadRequestError",
                404 => "NotFoundError",
                405 => "MethodNotAllowed",
                _ => "InternalServerError",
            };
            (
                e.status,
                json!({"error": {"message": e.message, "type": kind, "param": null, "code": e.status}}),
            )
        }
    };
    let response = tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(
            tiny_http::Header::from_bytes("Content-Type", "application/json")
                .expect("valid header"),
        );
    if let Err(e) = request.respond(response) {
        tracing::debug!("client went away: {e}");
    }
}

fn route(request: &mut tiny_http::Request, ctx: &Ctx) -> Result<Value, ApiError> {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().clone();
    use tiny_http::Method::{Get, Post};
    match (method, path.as_str()) {
        (Get, "/v1/models") => Ok(json!({"object": "list", "data": [{
            "id": ctx.model_name, "object": "model", "created": now(), "owned_by": "ouro"}]})),
        (Get, "/health") => Ok(json!({})),
        (Post, "/v1/completions") => completions(&read_json(request)?, ctx, false),
        (Post, "/v1/chat/completions") => completions(&read_json(request)?, ctx, true),
        (_, "/v1/models" | "/health" | "/v1/completions" | "/v1/chat/completions") => {
            Err(ApiError {
                status: 405,
                message: format!("method not allowed on {path}"),
            })
        }
        _ => Err(ApiError {
            status: 404,
            message: format!("no route {path}"),
        }),
    }
}

fn read_json(request: &mut tiny_http::Request) -> Result<Value, ApiError> {
    let mut text = String::new();
    request
        .as_reader()
        .take(MAX_BODY_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("reading the request body: {e}")))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("request body is not JSON: {e}")))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn completions(body: &Value, ctx: &Ctx, chat: bool) -> Result<Value, ApiError> {
    if let Some(model) = body.get("model").and_then(Value::as_str) {
        if !model.is_empty() && model != ctx.model_name {
            return Err(ApiError {
                status: 404,
                message: format!(
                    "The model `{model}` does not exist (this server serves `{}`).",
                    ctx.model_name
                ),
            });
        }
    }
    for flag in ["stream", "echo"] {
        if body.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(bad(format!("`{flag}` is not supported by ouro serve")));
        }
    }
    let prompts =
        if chat {
            vec![chat_prompt(body, &ctx.chat)?]
        } else {
            match body.get("prompt") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(items))
                    if items.iter().all(Value::is_string) && !items.is_empty() =>
                {
                    items
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                }
                Some(_) => return Err(bad(
                    "`prompt` must be a string or a list of strings (token ids are not supported)",
                )),
                None => return Err(bad("`prompt` is required")),
            }
        };
    let (params, n) = sampling_params(body, if chat { 512 } else { 16 })?;
    if prompts.len() * n > MAX_CHOICES {
        return Err(bad(format!(
            "at most {MAX_CHOICES} completions per request"
        )));
    }
    let requests: Vec<GenerationRequest> = prompts
        .iter()
        .flat_map(|prompt| {
            (0..n as u64).map(|j| GenerationRequest {
                prompt: prompt.clone(),
                params: SamplingParams {
                    seed: params.seed.wrapping_add(j),
                    ..params.clone()
                },
            })
        })
        .collect();
    let (reply_tx, reply_rx) = mpsc::channel();
    let internal = |m: String| ApiError {
        status: 500,
        message: m,
    };
    ctx.work
        .send(Work {
            requests,
            reply: reply_tx,
        })
        .map_err(|_| internal("the model thread has stopped".into()))?;
    let generations = reply_rx
        .recv()
        .map_err(|_| internal("the model thread has stopped".into()))?
        .map_err(|e| internal(format!("generation failed: {e}")))?;
    // Usage per request: the prompt counted once per prompt, as OpenAI does.
    let prompt_tokens: usize = generations.iter().step_by(n).map(|g| g.prompt_tokens).sum();
    let completion_tokens: usize = generations.iter().map(|g| g.completion_tokens).sum();
    let choices: Vec<Value> = generations
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if chat {
                json!({"index": i, "message": {"role": "assistant", "content": g.text},
                       "logprobs": null, "finish_reason": g.finish_reason.as_str()})
            } else {
                json!({"index": i, "text": g.text, "logprobs": null,
                       "finish_reason": g.finish_reason.as_str()})
            }
        })
        .collect();
    let id = ctx.next_id.fetch_add(1, Ordering::Relaxed);
    Ok(json!({
        "id": format!("{}-{id}", if chat { "chatcmpl" } else { "cmpl" }),
        "object": if chat { "chat.completion" } else { "text_completion" },
        "created": now(),
        "model": ctx.model_name,
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }))
}

/// `messages` rendered with the checkpoint's chat template.
fn chat_prompt(body: &Value, chat: &PromptRenderer) -> Result<String, ApiError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("`messages` must be a non-empty list"))?;
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        let content = match m.get("content") {
            Some(Value::String(s)) => Some(s.clone()),
            // Content parts: the text parts, joined.
            Some(Value::Array(parts)) => Some(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(""),
            ),
            _ => None,
        };
        match (role, content) {
            (Some(role), Some(content)) => out.push(Message {
                role: role.to_string(),
                content,
            }),
            _ => {
                return Err(bad(format!(
                    "messages[{i}] needs a string `role` and `content`"
                )))
            }
        }
    }
    chat.conversation(&out).map_err(|e| bad(e.to_string()))
}

/// Sampling parameters with OpenAI's defaults; `default_max_tokens` differs
/// between completions (16) and chat.
fn sampling_params(
    body: &Value,
    default_max_tokens: u64,
) -> Result<(SamplingParams, usize), ApiError> {
    let f = |k: &str, default: f64| -> Result<f64, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| bad(format!("`{k}` must be a number"))),
        }
    };
    let u = |k: &str| -> Result<Option<u64>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| bad(format!("`{k}` must be a non-negative integer"))),
        }
    };
    let temperature = f("temperature", 1.0)?;
    if !(0.0..=100.0).contains(&temperature) {
        return Err(bad(format!(
            "`temperature` must be >= 0, got {temperature}"
        )));
    }
    let top_p = f("top_p", 1.0)?;
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(bad(format!("`top_p` must be in (0, 1], got {top_p}")));
    }
    let min_p = f("min_p", 0.0)?;
    if !(0.0..=1.0).contains(&min_p) {
        return Err(bad(format!("`min_p` must be in [0, 1], got {min_p}")));
    }
    // vLLM's "disabled" is -1, OpenAI's is absent; ours is 0.
    let top_k = match body.get("top_k") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(k) if k <= 0 => 0,
            Some(k) => k as usize,
            None => return Err(bad("`top_k` must be an integer")),
        },
    };
    let max_tokens = u("max_tokens")?
        .or(u("max_completion_tokens")?)
        .unwrap_or(default_max_tokens);
    if max_tokens == 0 {
        return Err(bad("`max_tokens` must be at least 1"));
    }
    let n = u("n")?.unwrap_or(1) as usize;
    if n == 0 {
        return Err(bad("`n` must be at least 1"));
    }
    let seed = match body.get("seed") {
        None | Some(Value::Null) => rand::random::<u32>() as u64,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| bad("`seed` must be a non-negative integer"))?,
    };
    let stop = match body.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("`stop` must be a string or a list of strings"))?,
        Some(_) => return Err(bad("`stop` must be a string or a list of strings")),
    };
    Ok((
        SamplingParams {
            temperature,
            top_p,
            top_k,
            min_p,
            max_tokens: max_tokens as usize,
            stop,
            seed,
        },
        n,
    ))
}
