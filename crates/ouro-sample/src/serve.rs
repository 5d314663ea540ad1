//! `ouro serve`: a local checkpoint behind the OpenAI API.
//!
//! Endpoints: `POST /v1/completions`, `POST /v1/chat/completions` (the
//! checkpoint's chat template, ChatML without one), `GET /v1/models`, `GET /health`.
//! Each HTTP connection gets a thread ([`http`]); one model thread owns the checkpoint and decodes every request's
//! rows together, and a request that arrives mid-decode joins them at the next
//! step (continuous batching) instead of waiting for the longest generation in
//! flight; rows beyond `max_batch` queue for a free row. A sample's random draws depend only on
//! its seed, but its logits on the rows batched with it to float rounding (about 1e-5 in
//! a log-prob, from matrix products of another shape): a draw that lands that close to a
//! boundary between two tokens can take the other one, as in vLLM. An idle server
//! returns what the local backend does with the same batch; a busy one may not.
//!
//! `stream: true` answers with server-sent events as tokens are sampled (a choice's
//! text is held back only while it could still turn into a stop string or ends inside a
//! character); the deltas join to the text the same request answers without streaming.
//! `logprobs` (completions: `logprobs: k`; chat: `logprobs: true`, `top_logprobs: k`)
//! reports every sampled token, EOS included, so their sum is the local backend's
//! `Sample.logprob`. A completions `prompt` may be token ids (or a list of id lists), taken
//! as they are; `echo` answers each prompt before its completion and, with `logprobs`,
//! scores the prompt's tokens too (`max_tokens: 0` scores without sampling): what
//! log-likelihood clients such as lm-evaluation-harness's `local-completions` send.
//! A streamed `echo` sends each choice's prompt as its first chunk. Prompts to score are
//! scored, and the prompts of requests joining are prefilled, `chunk_tokens` at a time
//! between decode steps, so neither a large log-likelihood request nor a long prompt
//! stalls the streams in flight for long. Not supported (400): `echo` on chat.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use ouro_model::chat::PromptRenderer;
use ouro_model::generate::DECODE_CONTEXT;
use ouro_model::{GenerationRequest, Prompt, SamplingParams};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

mod detok;
mod http;
mod model_thread;
mod reply;
mod request;

use model_thread::{model_thread, Loaded, Reply, Work};
use reply::Streaming;

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
    /// Most prompt tokens run between two decode steps (prompts scored for `echo` with
    /// `logprobs`, and prefills of requests joining), so that they share the model with
    /// the rows in flight.
    pub chunk_tokens: usize,
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
            chunk_tokens: 512,
        }
    }
}

/// A server running on background threads.
pub struct RunningServer {
    stopper: http::Stopper,
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
        self.stopper.stop();
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.stopper.stop();
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
    let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<Loaded>>();
    let dir = opts.model.clone();
    let limits = model_thread::Limits {
        max_batch: opts.max_batch.max(1),
        chunk_tokens: opts.chunk_tokens.max(1),
    };
    let (place, weights) = (opts.place.clone(), opts.weights);
    std::thread::Builder::new()
        .name("ouro-serve-model".into())
        .spawn(move || model_thread(dir, limits, (place, weights), ready_tx, work_rx))
        .context("starting the model thread")?;
    let Loaded {
        chat,
        tokenizer,
        vocab,
        context,
    } = ready_rx
        .recv()
        .map_err(|_| anyhow!("the model thread died while loading"))??;
    let bind = format!("{}:{}", opts.host, opts.port);
    let server =
        http::Server::bind(&bind, MAX_BODY_BYTES).map_err(|e| anyhow!("binding {bind}: {e}"))?;
    let addr = server.addr();
    let stopper = server.stopper();
    let ctx = Arc::new(Ctx {
        model_name: model_name.clone(),
        chat,
        tokenizer,
        vocab,
        context,
        work: work_tx,
        next_id: AtomicU64::new(0),
    });
    let accept = std::thread::Builder::new()
        .name("ouro-serve-accept".into())
        .spawn(move || {
            server.serve(Arc::new(move |request, out: &mut http::Responder<'_>| {
                handle(request, out, &ctx)
            }))
        })
        .context("starting the accept thread")?;
    Ok(RunningServer {
        stopper,
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

struct Ctx {
    model_name: String,
    chat: PromptRenderer,
    /// The model's tokenizer, for token texts and streamed deltas.
    tokenizer: Tokenizer,
    vocab: usize,
    context: usize,
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

/// What a route answers with.
enum Answer {
    Json(Value),
    Stream(Box<Streaming>),
}

fn handle(request: http::Request, out: &mut http::Responder<'_>, ctx: &Ctx) {
    let (status, body) = match route(&request, ctx, &|| out.client_gone()) {
        Ok(Answer::Json(v)) => (200, v),
        Ok(Answer::Stream(s)) => return reply::stream(out.raw(), &s, &ctx.tokenizer),
        Err(e) => {
            let kind = match e.status {
                400 => "BadRequestError",
                404 => "NotFoundError",
                405 => "MethodNotAllowed",
                413 => "RequestTooLargeError",
                _ => "InternalServerError",
            };
            (
                e.status,
                json!({"error": {"message": e.message, "type": kind, "param": null, "code": e.status}}),
            )
        }
    };
    // A 405 names the methods the path takes (RFC 9110 requires it).
    let allow = match (status, request.path.as_str()) {
        (405, "/v1/models" | "/health") => "Allow: GET, HEAD\r\n",
        (405, _) => "Allow: POST\r\n",
        _ => "",
    };
    if let Err(e) = out.respond_with(
        status,
        "application/json",
        allow,
        body.to_string().as_bytes(),
    ) {
        tracing::debug!("client went away: {e}");
    }
}

/// `gone` says whether the client went away, for answers that take long to make.
fn route(request: &http::Request, ctx: &Ctx, gone: &dyn Fn() -> bool) -> Result<Answer, ApiError> {
    let path = request.path.as_str();
    match (request.method.as_str(), path) {
        ("GET", "/v1/models") => Ok(Answer::Json(json!({"object": "list", "data": [{
            "id": ctx.model_name, "object": "model", "created": now(), "owned_by": "ouro"}]}))),
        ("GET", "/health") => Ok(Answer::Json(json!({}))),
        ("POST", "/v1/completions" | "/v1/chat/completions") => {
            let chat = path == "/v1/chat/completions";
            // A streamed body is chunked, which HTTP/1.0 does not have.
            let chunked = request.version >= (1, 1);
            completions(&read_json(request)?, ctx, (chat, chunked), gone)
        }
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

fn read_json(request: &http::Request) -> Result<Value, ApiError> {
    let Some(bytes) = &request.body else {
        return Err(ApiError {
            status: 413,
            message: format!("request body is larger than {MAX_BODY_BYTES} bytes"),
        });
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| bad(format!("reading the request body: not UTF-8: {e}")))?;
    let body: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("request body is not JSON: {e}")))?;
    if !body.is_object() {
        return Err(bad("request body must be a JSON object"));
    }
    Ok(body)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Prompt plus completion must fit the model's context, as vLLM requires: past it the
/// positions have no trained meaning and the KV cache grows without bound. A default
/// `max_tokens` (not the client's) shrinks to what is left instead.
fn fit_context(body: &Value, req: &mut request::Parsed, ctx: &Ctx) -> Result<(), ApiError> {
    let asked = ["max_tokens", "max_completion_tokens"]
        .iter()
        .any(|k| body.get(*k).is_some_and(|v| !v.is_null()));
    let mut longest = 0;
    for p in &mut req.prompts {
        let len = match p {
            Prompt::Ids(ids) => ids.len(),
            Prompt::Text(_) | Prompt::Rendered(_) => {
                let ids = p
                    .encode(&ctx.tokenizer)
                    .map_err(|e| bad(format!("`prompt`: {e}")))?;
                let len = ids.len();
                // The generator encodes a text prompt just so: hand it the ids rather than
                // tokenize twice. An echo keeps its text, which it answers as given.
                if !req.echo {
                    *p = Prompt::Ids(ids);
                }
                len
            }
        };
        longest = longest.max(len.max(1));
    }
    let room = ctx.context.saturating_sub(longest);
    let wanted = req.params.max_tokens;
    if longest.saturating_add(wanted) <= ctx.context || (!asked && room > 0) {
        req.params.max_tokens = wanted.min(room);
        return Ok(());
    }
    Err(bad(format!(
        "This model's maximum context length is {} tokens. However, you requested {} tokens \
         ({longest} in the prompt, {wanted} in the completion). Please reduce the length of \
         the prompt or `max_tokens`.",
        ctx.context,
        longest.saturating_add(wanted)
    )))
}

fn completions(
    body: &Value,
    ctx: &Ctx,
    (chat, chunked): (bool, bool),
    gone: &dyn Fn() -> bool,
) -> Result<Answer, ApiError> {
    let model = match body.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.as_str()),
        Some(_) => return Err(bad("`model` must be a string")),
    };
    if let Some(model) = model {
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
    let mut req = request::parse(body, chat, &ctx.chat)?;
    if req.stream.is_some() && !chunked {
        return Err(bad(
            "`stream` needs HTTP/1.1 (a streamed answer is chunked)",
        ));
    }
    // Checked here as well as in the generator, so a bad id is the client's 400 before
    // anything is queued rather than a failed batch.
    for p in &req.prompts {
        p.check_ids(ctx.vocab)
            .map_err(|e| bad(format!("`prompt`: {e}")))?;
    }
    fit_context(body, &mut req, ctx)?;
    let n = req.n;
    if req.prompts.len().saturating_mul(n) > MAX_CHOICES {
        return Err(bad(format!(
            "at most {MAX_CHOICES} completions per request"
        )));
    }
    let requests: Vec<GenerationRequest> = req
        .prompts
        .iter()
        .flat_map(|prompt| {
            (0..n as u64).map(|j| GenerationRequest {
                prompt: prompt.clone(),
                params: SamplingParams {
                    seed: req.params.seed.wrapping_add(j),
                    ..req.params.clone()
                },
                top_logprobs: req.logprobs.unwrap_or(0),
            })
        })
        .collect();
    let id = ctx.next_id.fetch_add(1, Ordering::Relaxed);
    let head = reply::Head {
        id: format!("{}-{id}", if chat { "chatcmpl" } else { "cmpl" }),
        created: now(),
        model: ctx.model_name.clone(),
        chat,
        n,
        logprobs: req.logprobs.is_some(),
        stop: req.params.stop.clone(),
    };
    let stopped = || ApiError {
        status: 500,
        message: "the model thread has stopped".into(),
    };
    let choices = requests.len();
    // Each choice's prompt as text, answered before its completion.
    let echo: Vec<String> = if req.echo {
        (0..choices)
            .map(|i| match &req.prompts[i / n] {
                Prompt::Text(t) | Prompt::Rendered(t) => t.clone(),
                Prompt::Ids(ids) => ctx.tokenizer.decode(ids, false).unwrap_or_default(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let score = req.logprobs.filter(|_| req.echo);
    let submit = |reply| {
        ctx.work
            .send(Work {
                requests,
                score_prompts: score,
                reply,
            })
            .map_err(|_| stopped())
    };
    if let Some(opts) = req.stream {
        // Each choice's prompt tail, which its text is decoded after (as the generator
        // decodes a whole completion's).
        let contexts: Vec<Vec<u32>> = (0..choices)
            .map(|i| {
                let ids = req.prompts[i / n]
                    .encode(&ctx.tokenizer)
                    .unwrap_or_default();
                ids[ids.len().saturating_sub(DECODE_CONTEXT)..].to_vec()
            })
            .collect();
        let (tx, events) = mpsc::channel();
        submit(Reply::Stream(tx))?;
        return Ok(Answer::Stream(Box::new(Streaming {
            head,
            choices,
            include_usage: opts.include_usage,
            echo,
            contexts,
            events,
        })));
    }
    let (tx, rx) = mpsc::channel();
    let abandoned = Arc::new(AtomicBool::new(false));
    submit(Reply::Whole(tx, Arc::clone(&abandoned)))?;
    // A client that gives up (a timeout, a stopped evaluation) frees its batch rows
    // instead of leaving them to decode to `max_tokens` for no one.
    let answered = loop {
        match rx.recv_timeout(std::time::Duration::from_millis(250)) {
            Ok(answered) => break answered,
            Err(mpsc::RecvTimeoutError::Timeout) if gone() => {
                abandoned.store(true, Ordering::Relaxed);
                return Err(ApiError {
                    status: 499,
                    message: "the client closed the connection".into(),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(stopped()),
        }
    };
    let answered = answered.map_err(|e| ApiError {
        status: 500,
        message: format!("generation failed: {e}"),
    })?;
    let mut prompts = answered.prompts.into_iter();
    let echoes: Vec<reply::Echo> = echo
        .into_iter()
        .map(|text| {
            let (ids, logprobs) = prompts.next().unwrap_or_default();
            reply::Echo {
                text,
                ids,
                logprobs,
            }
        })
        .collect();
    Ok(Answer::Json(reply::response(
        &head,
        &ctx.tokenizer,
        &answered.generations,
        &echoes,
    )))
}
