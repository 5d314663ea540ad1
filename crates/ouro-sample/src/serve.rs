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
//! `stream: true` answers with server-sent events as tokens are sampled (a choice's
//! text is held back only while it could still turn into a stop string or ends inside a
//! character); the deltas join to the text the same request answers without streaming.
//! `logprobs` (completions: `logprobs: k`; chat: `logprobs: true`, `top_logprobs: k`)
//! reports every sampled token, EOS included, so their sum is the local backend's
//! `Sample.logprob`. Not supported (400): `echo`, token-id prompts.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use ouro_model::chat::{PromptFormat, PromptRenderer};
use ouro_model::{
    checkpoint, Generation, GenerationRequest, Generator, SamplingParams, TokenLogprob, TokenSink,
};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

mod reply;
mod request;

use reply::Event;

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
    let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<(PromptRenderer, Tokenizer)>>();
    let dir = opts.model.clone();
    let max_batch = opts.max_batch.max(1);
    let (place, weights) = (opts.place.clone(), opts.weights);
    std::thread::Builder::new()
        .name("ouro-serve-model".into())
        .spawn(move || model_thread(dir, max_batch, (place, weights), ready_tx, work_rx))
        .context("starting the model thread")?;
    let (chat, tokenizer) = ready_rx
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
        tokenizer,
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
    reply: Reply,
}

enum Reply {
    /// Everything at once, when the batch is done.
    Whole(mpsc::Sender<Result<Vec<Generation>, String>>),
    /// Every token as it is sampled, and each choice as it finishes.
    Stream(mpsc::Sender<Event>),
}

/// Sends a batch's progress to the streaming requests in it.
struct Fanout<'a> {
    batch: &'a [Work],
    /// Index of each work's first request in the batch.
    starts: Vec<usize>,
}

impl Fanout<'_> {
    fn send(&self, request: usize, event: impl FnOnce(usize) -> Event) {
        let w = self.starts.partition_point(|&s| s <= request) - 1;
        if let Reply::Stream(tx) = &self.batch[w].reply {
            // A client that went away stops listening; its rows decode on.
            let _ = tx.send(event(request - self.starts[w]));
        }
    }
}

impl TokenSink for Fanout<'_> {
    fn token(&self, request: usize, token: &TokenLogprob) {
        self.send(request, |i| Event::Token(i, token.clone()));
    }
    fn finished(&self, request: usize, generation: &Generation) {
        self.send(request, |i| Event::Finished(i, generation.clone()));
    }
}

fn model_thread(
    dir: PathBuf,
    max_batch: usize,
    (place, weights): (ouro_model::Placement, ouro_model::SampleDtype),
    ready: mpsc::Sender<anyhow::Result<(PromptRenderer, Tokenizer)>>,
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
    let _ = ready.send(Ok((chat, tok.clone())));
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
        let starts = batch
            .iter()
            .scan(0, |next, w| {
                let s = *next;
                *next += w.requests.len();
                Some(s)
            })
            .collect();
        let fanout = Fanout {
            batch: &batch,
            starts,
        };
        match generator.generate_streaming(&all, &fanout) {
            Ok(generations) => {
                let mut it = generations.into_iter();
                for w in &batch {
                    let mine: Vec<Generation> = it.by_ref().take(w.requests.len()).collect();
                    if let Reply::Whole(tx) = &w.reply {
                        let _ = tx.send(Ok(mine));
                    }
                }
            }
            Err(e) => {
                for w in &batch {
                    let _ = match &w.reply {
                        Reply::Whole(tx) => tx.send(Err(e.to_string())).is_ok(),
                        Reply::Stream(tx) => tx.send(Event::Failed(e.to_string())).is_ok(),
                    };
                }
            }
        }
    }
}

struct Ctx {
    model_name: String,
    chat: PromptRenderer,
    /// The model's tokenizer, for token texts and streamed deltas.
    tokenizer: Tokenizer,
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

/// A streaming request's work, submitted; answered by [`reply::stream`].
struct Streaming {
    head: reply::Head,
    choices: usize,
    include_usage: bool,
    events: mpsc::Receiver<Event>,
}

fn handle(mut request: tiny_http::Request, ctx: &Ctx) {
    let (status, body) = match route(&mut request, ctx) {
        Ok(Answer::Json(v)) => (200, v),
        Ok(Answer::Stream(s)) => {
            let s = *s;
            return reply::stream(
                request,
                &s.head,
                s.choices,
                s.include_usage,
                &ctx.tokenizer,
                s.events,
            );
        }
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

fn route(request: &mut tiny_http::Request, ctx: &Ctx) -> Result<Answer, ApiError> {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().clone();
    use tiny_http::Method::{Get, Post};
    match (method, path.as_str()) {
        (Get, "/v1/models") => Ok(Answer::Json(json!({"object": "list", "data": [{
            "id": ctx.model_name, "object": "model", "created": now(), "owned_by": "ouro"}]}))),
        (Get, "/health") => Ok(Answer::Json(json!({}))),
        (Post, "/v1/completions" | "/v1/chat/completions") => {
            let chat = path == "/v1/chat/completions";
            // A streamed body is chunked, which HTTP/1.0 does not have.
            let v = request.http_version();
            let chunked = (v.0, v.1) >= (1, 1);
            completions(&read_json(request)?, ctx, chat, chunked)
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

fn completions(body: &Value, ctx: &Ctx, chat: bool, chunked: bool) -> Result<Answer, ApiError> {
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
    let req = request::parse(body, chat, &ctx.chat)?;
    if req.stream.is_some() && !chunked {
        return Err(bad(
            "`stream` needs HTTP/1.1 (a streamed answer is chunked)",
        ));
    }
    let n = req.n;
    if req.prompts.len() * n > MAX_CHOICES {
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
    let submit = |reply| {
        ctx.work
            .send(Work { requests, reply })
            .map_err(|_| stopped())
    };
    if let Some(opts) = req.stream {
        let (tx, events) = mpsc::channel();
        submit(Reply::Stream(tx))?;
        return Ok(Answer::Stream(Box::new(Streaming {
            head,
            choices,
            include_usage: opts.include_usage,
            events,
        })));
    }
    let (tx, rx) = mpsc::channel();
    submit(Reply::Whole(tx))?;
    let generations = rx.recv().map_err(|_| stopped())?.map_err(|e| ApiError {
        status: 500,
        message: format!("generation failed: {e}"),
    })?;
    Ok(Answer::Json(reply::response(
        &head,
        &ctx.tokenizer,
        &generations,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_several_requests_streams_each_its_own_choices() {
        let work = |rows: usize, reply| Work {
            requests: vec![GenerationRequest::new("p", SamplingParams::default()); rows],
            reply,
        };
        let (whole, _whole_rx) = mpsc::channel();
        let (a, a_rx) = mpsc::channel();
        let (b, b_rx) = mpsc::channel();
        let batch = vec![
            work(2, Reply::Stream(a)),
            work(3, Reply::Whole(whole)),
            work(2, Reply::Stream(b)),
        ];
        let fanout = Fanout {
            batch: &batch,
            starts: vec![0, 2, 5],
        };
        let t = |id| TokenLogprob {
            id,
            logprob: -1.0,
            top: vec![],
        };
        for r in 0..7 {
            fanout.token(r, &t(r as u32));
        }
        let got = |rx: &mpsc::Receiver<Event>| -> Vec<(usize, u32)> {
            rx.try_iter()
                .map(|e| match e {
                    Event::Token(i, t) => (i, t.id),
                    _ => panic!("only tokens were sent"),
                })
                .collect()
        };
        assert_eq!(got(&a_rx), vec![(0, 0), (1, 1)]);
        assert_eq!(
            got(&b_rx),
            vec![(0, 5), (1, 6)],
            "rows 5 and 6 are b's choices 0 and 1"
        );
    }
}
