//! How many tensors one generic-path training step creates, phase by phase: the CPU's
//! stand-in for the number of kernels the step launches on a GPU.
//!
//! On a GPU every candle op that writes data launches at least one kernel and allocates
//! its output; views (reshape, transpose, narrow, broadcast) do neither. Counting the
//! main thread's heap allocations of at least 4 KiB with a tensor element's alignment
//! while the step runs on the CPU therefore counts those ops, with no GPU at hand. It
//! over-counts matmuls alike on both paths (candle's CPU bf16 matmul converts its
//! operands, a few allocations per product) and misses copies into existing storage
//! (`Var::set`, the parts of a `cat`), which launch kernels without allocating. The model is the
//! SmolLM2-135M layer shape (hidden 576, 9 heads over 3 kv heads, MLP 1536, vocabulary
//! 49152) with `LAYERS` layers, bf16 compute over f32 master weights, `--backend generic`,
//! an SFT surrogate over B x T random tokens. Counts do not depend on the machine.
//!
//!     cargo run --release --example op_census [LAYERS] [B] [T]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use candle_core::{DType, Device, Tensor};
use ouro_train::TrainableLm;

/// Smallest allocation counted: below it are shapes, strides and other host bookkeeping.
const COUNTED_BYTES: usize = 4096;

struct Census;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static MAIN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Counts `l` if it looks like a tensor's storage: candle allocates each op's output on
/// the calling thread as a `Vec` of its element type, while the matmul's packing
/// buffers are byte-aligned or over-aligned (measured: counting those too made one
/// matmul look like ninety).
fn count(l: &Layout) {
    if l.size() >= COUNTED_BYTES && (2..=16).contains(&l.align()) && MAIN.with(|m| m.get()) {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(l.size() as u64, Relaxed);
    }
}

unsafe impl GlobalAlloc for Census {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(&l);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count(&l);
        System.alloc_zeroed(l)
    }
}

#[global_allocator]
static GLOBAL: Census = Census;

fn counted<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (a0, b0) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    let out = f();
    (out, ALLOCS.load(Relaxed) - a0, BYTES.load(Relaxed) - b0)
}

fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (layers, b, t) = (arg(1, 2), arg(2, 2), arg(3, 128));
    MAIN.with(|m| m.set(true));
    let mut cfg = ouro_model::Config::tiny();
    cfg.vocab_size = 49_152;
    cfg.hidden_size = 576;
    cfg.intermediate_size = 1536;
    cfg.num_hidden_layers = layers;
    cfg.num_attention_heads = 9;
    cfg.num_key_value_heads = Some(3);
    cfg.max_position_embeddings = t.max(128);
    let dev = Device::Cpu;
    let ckpt = || {
        let varmap = ouro_model::init::init_varmap(&cfg, 0, DType::F32, &dev).unwrap();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        ouro_model::checkpoint::Checkpoint {
            dir: std::path::PathBuf::from("<census>"),
            config: cfg.clone(),
            decoder: ouro_model::Decoder::new(&cfg, vb).unwrap(),
            varmap,
            tokenizer: None,
            generation_config: None,
            chat_template: None,
        }
    };
    let ids: Vec<u32> = (0..b * t)
        .map(|i| (i * 7919 % 49_000 + 10) as u32)
        .collect();
    let ids = Tensor::from_vec(ids, (b, t), &dev).unwrap();
    let mut paths = serde_json::Map::new();
    for autograd in [true, false] {
        let model = ouro_train::run::DecoderLm::from_checkpoint(ckpt(), &dev)
            .with_compute_dtype(DType::BF16)
            .with_generic();
        let model = if autograd {
            model.with_autograd()
        } else {
            model
        };
        paths.insert(model.gradient_path().to_string(), census(&model, &ids));
    }
    println!(
        "{}",
        serde_json::json!({"layers": layers, "batch": b, "seq": t, "paths": paths})
    );
}

/// Tensors created by each phase of the second of two SFT steps (the first also
/// allocates the optimiser's moments), as the trainer's engine runs them.
fn census(model: &ouro_train::run::DecoderLm, ids: &Tensor) -> serde_json::Value {
    let (names, vars): (Vec<String>, Vec<_>) = model.vars().into_iter().unzip();
    let optim = ouro_train::OptimConfig::default();
    let mut opt = ouro_train::optim::FusedAdamW::new(vars.clone(), &optim, true).unwrap();
    let mut acc = opt.accumulator();
    let (b, t) = ids.dims2().unwrap();
    let mut rows = Vec::new();
    for _ in 0..2 {
        acc.reset();
        let (lp, fa, fb) = counted(|| ouro_train::engine::token_logprobs(model, ids, ids).unwrap());
        let (_, ba, bb) = counted(|| {
            let coef = vec![vec![1.0f32; t]; b];
            let gradient = lp.gradient(coef).unwrap();
            gradient.backward(model, &names, &vars, &mut acc).unwrap()
        });
        let (_, oa, ob) = counted(|| {
            let norm = acc.global_norm().unwrap();
            opt.step(&acc, ouro_train::optim::clip_coef(norm, 1.0), 1e-5)
                .unwrap();
        });
        rows = vec![
            ("forward", fa, fb),
            ("backward", ba, bb),
            ("optimizer", oa, ob),
        ];
    }
    let mut out: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .map(|(k, a, by)| {
            (
                k.to_string(),
                serde_json::json!({"tensors": a, "mib": (*by as f64 / (1 << 20) as f64).round()}),
            )
        })
        .collect();
    out.insert(
        "tensors_per_step".into(),
        rows.iter().map(|r| r.1).sum::<u64>().into(),
    );
    serde_json::Value::Object(out)
}
