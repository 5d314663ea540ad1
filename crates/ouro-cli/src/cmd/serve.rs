//! `ouro serve`: a local checkpoint behind the OpenAI API.

use std::path::PathBuf;

use ouro_sample::serve::ServeOptions;

/// Serve a checkpoint over the OpenAI API.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Serve an HF checkpoint directory over the OpenAI API, so that any OpenAI client \
(and `ouro sample --base-url`) can sample from it: POST /v1/completions, POST /v1/chat/completions \
(the checkpoint's own chat template; ChatML when it has none), GET /v1/models, GET /health.

Concurrent requests are decoded together (up to --max-batch sequences); a request that arrives \
while others decode joins them at the next step instead of waiting for them to finish. A sample's \
random draws depend only on its seed; its logits depend on the rows decoded with it to float \
rounding (about 1e-5), which can change a token now and then, as in vLLM: `ouro sample \
--base-url` against an idle server returns what `ouro sample --model` returns, against a busy one \
almost always.

`stream: true` answers with server-sent events as tokens are sampled (the deltas join to the \
text the request answers unstreamed; `stream_options.include_usage` adds a usage chunk). Log-probs: \
`logprobs: k` on completions, `logprobs: true` and `top_logprobs: k` on chat (k up to 20); they \
cover every sampled token, EOS included. A completions prompt may be token ids; `echo: true` \
answers the prompt before its completion and with `logprobs` scores its tokens too (`max_tokens: 0` \
scores without sampling), as log-likelihood clients such as lm-evaluation-harness ask; streamed, \
each choice's prompt is its first chunk. Prompts to score, and the prompts of requests joining \
rows that decode, run --chunk-tokens at a time between decode steps, so neither a large scoring \
request nor a long prompt stalls the streams in flight for long. Not supported: echo \
on chat. Runs until killed.",
    after_help = "Examples:
  ouro serve --model runs/demo/model-0 --port 8000
  curl -s localhost:8000/v1/completions -H 'Content-Type: application/json' \\
      -d '{\"model\": \"model-0\", \"prompt\": \"def add(a, b):\\n\", \"max_tokens\": 32, \"seed\": 1}'
  curl -sN localhost:8000/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{\"messages\": [{\"role\": \"user\", \"content\": \"Write add(a, b).\"}], \"stream\": true}'
  ouro sample --problems runs/problems --base-url http://127.0.0.1:8000/v1 --served-model-name model-0 -n 8 --out runs/s"
)]
pub struct Args {
    /// Checkpoint directory (HF layout with tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Address to listen on; 0.0.0.0 serves other machines too.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// TCP port to listen on.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Name clients pass as `model` [default: the directory name].
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Most sequences decoded together.
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    pub max_batch: usize,
    /// Most prompt tokens run between two decode steps (prompts scored for `echo` with
    /// `logprobs`, prefills of requests joining rows that decode): smaller keeps streams in
    /// flight smoother, larger runs prompts in fewer, wider forwards.
    #[arg(long, default_value_t = 512, value_parser = super::at_least_one)]
    pub chunk_tokens: usize,
    /// Device: `cpu`, `cuda` or `cuda:N` [default: cuda:0 in a CUDA build with a GPU, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Compute dtype: `f32`, `bf16` or `f16` [default: f32 on cpu, bf16 on cuda].
    #[arg(long)]
    pub dtype: Option<String>,
    /// Weights sampling reads: `f32` (the model's own) or `q8` (8-bit copies; CPU, f32
    /// compute) [default: f32].
    #[arg(long, value_name = "f32|q8")]
    pub sample_dtype: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let place = ouro_model::Placement::resolve(args.device.as_deref(), args.dtype.as_deref())?;
    let weights = ouro_model::SampleDtype::resolve(args.sample_dtype.as_deref(), &place)?;
    ouro_sample::serve::serve(&ServeOptions {
        place,
        weights,
        model: args.model,
        host: args.host,
        port: args.port,
        served_model_name: args.served_model_name,
        max_batch: args.max_batch,
        chunk_tokens: args.chunk_tokens,
    })
}
