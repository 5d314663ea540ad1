//! AdamW over candle `Var`s with torch's update rule, global-norm clipping, LR schedules.
//!
//! Each parameter's gradient sum and moments live where its update runs:
//! - f32 parameters on the CPU use the fused host kernel ([`host`]): candle's `AdamW`
//!   builds a dozen temporary tensors per parameter per step, this walks the gradient,
//!   both moments and the parameter once, in place;
//! - parameters on a GPU (and every parameter under `--backend generic`, so that the
//!   CPU tests the GPU's code) use tensor ops on their own device ([`device`]): nothing
//!   parameter-sized crosses the bus during a step.

mod accumulate;
mod device;
mod host;

use candle_core::{DType, Device, Shape, Tensor, Var};
use std::cell::RefCell;

pub use accumulate::GradAccumulator;
use accumulate::GradSum;

use crate::config::{LrSchedule, OptimConfig};
use crate::error::{Result, TrainError};

/// Learning rate at optimiser step `step` (0-based), as `transformers.get_scheduler`.
pub fn lr_at(cfg: &OptimConfig, step: u64, total_steps: u64) -> f64 {
    let w = cfg.warmup_steps;
    let factor = if step < w {
        step as f64 / w.max(1) as f64
    } else {
        match cfg.schedule {
            LrSchedule::Constant => 1.0,
            LrSchedule::Linear => ((total_steps.saturating_sub(step)) as f64
                / (total_steps.saturating_sub(w)).max(1) as f64)
                .max(0.0),
            LrSchedule::Cosine => {
                let progress = (step - w) as f64 / (total_steps.saturating_sub(w)).max(1) as f64;
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
        }
    };
    cfg.lr * factor
}

/// Clip coefficient of `torch.nn.utils.clip_grad_norm_`: `min(1, max_norm/(norm+1e-6))`.
pub fn clip_coef(norm: f64, max_norm: f64) -> f64 {
    if max_norm <= 0.0 {
        1.0
    } else {
        (max_norm / (norm + 1e-6)).min(1.0)
    }
}

/// Adam moments of one parameter, kept where its update runs.
pub enum Moments {
    Host {
        m: Vec<f32>,
        v: Vec<f32>,
    },
    /// f32 tensors on the parameter's device.
    Device {
        m: Tensor,
        v: Tensor,
    },
}

impl Moments {
    fn zeros(p: &Var, on_device: bool) -> Result<Self> {
        Ok(if on_device {
            let z = Tensor::zeros(p.shape(), DType::F32, p.device())?;
            Moments::Device { m: z.clone(), v: z }
        } else {
            Moments::Host {
                m: vec![0.0; p.elem_count()],
                v: vec![0.0; p.elem_count()],
            }
        })
    }

    /// `(m, v)` as f32 CPU tensors of `shape`, for a checkpoint.
    pub fn to_cpu(&self, shape: &Shape) -> Result<(Tensor, Tensor)> {
        Ok(match self {
            Moments::Host { m, v } => (
                Tensor::from_slice(m, shape, &Device::Cpu)?,
                Tensor::from_slice(v, shape, &Device::Cpu)?,
            ),
            // Views into the optimiser's flat moments: copy out just this parameter's part.
            Moments::Device { m, v } => (
                m.force_contiguous()?.to_device(&Device::Cpu)?,
                v.force_contiguous()?.to_device(&Device::Cpu)?,
            ),
        })
    }

    /// Replaces both moments with `m` and `v` (any device, the parameter's element
    /// count), keeping them where they were.
    pub fn restore(&mut self, m: &Tensor, v: &Tensor) -> Result<()> {
        let load = |t: &Tensor, like: &Tensor| -> Result<Tensor> {
            Ok(t.to_dtype(DType::F32)?
                .reshape(like.shape())?
                .to_device(like.device())?)
        };
        let host = |t: &Tensor, n: usize| -> Result<Vec<f32>> {
            let x: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            if x.len() != n {
                return Err(TrainError::Model(format!(
                    "moment has {} values, the parameter {n}",
                    x.len()
                )));
            }
            Ok(x)
        };
        match self {
            Moments::Host { m: hm, v: hv } => {
                *hm = host(m, hm.len())?;
                *hv = host(v, hv.len())?;
            }
            Moments::Device { m: dm, v: dv } => {
                *dm = load(m, dm)?;
                *dv = load(v, dv)?;
            }
        }
        Ok(())
    }
}

/// AdamW with torch's update rule (`torch.optim.AdamW`, `foreach=False` semantics):
/// `p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;`
/// `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`.
pub struct FusedAdamW {
    pub params: Vec<Var>,
    pub state: Vec<Moments>,
    /// Number of updates applied so far.
    pub t: u64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Whether each parameter takes weight decay ([`takes_weight_decay`]).
    decays: Vec<bool>,
    /// The device-updated parameters' moments end to end, by group (built at the first
    /// step).
    flat: Vec<Option<device::FlatMoments>>,
}

/// Whether the parameter `name` takes weight decay: not norms' weights or biases,
/// as transformers' Trainer (and so TRL) exempts them (`get_decay_parameter_names`).
pub fn takes_weight_decay(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let norm = name
        .split('.')
        .any(|part| part == "norm" || part.ends_with("_norm"));
    !(norm || name.contains("bias") || name.contains("layernorm") || name.contains("rmsnorm"))
}

/// The per-step constants of one update, in the f32 the kernels compute in.
#[derive(Clone, Copy)]
pub(crate) struct StepConstants {
    grad_scale: f32,
    decay: f32,
    b1: f32,
    b2: f32,
    step_size: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
}

impl FusedAdamW {
    /// Zero moments for `params`: on the host for f32 CPU parameters, unless
    /// `on_device`; on the parameter's device otherwise.
    pub fn new(params: Vec<Var>, cfg: &OptimConfig, on_device: bool) -> Result<Self> {
        let params_len = params.len();
        let state = params
            .iter()
            .map(|p| Moments::zeros(p, on_device || !host_kernel_fits(p)))
            .collect::<Result<_>>()?;
        Ok(Self {
            params,
            state,
            t: 0,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            decays: vec![true; params_len],
            flat: Vec::new(),
        })
    }

    /// Exempts from weight decay the parameters whose names say they are norms'
    /// weights or biases ([`takes_weight_decay`]); `names` are in parameter order.
    pub fn with_names(mut self, names: &[String]) -> Self {
        self.decays = names.iter().map(|n| takes_weight_decay(n)).collect();
        self
    }

    /// An empty gradient accumulator whose sums live beside these moments.
    pub fn accumulator(&self) -> GradAccumulator {
        GradAccumulator::new(
            self.params
                .iter()
                .zip(&self.state)
                .map(|(p, s)| match s {
                    Moments::Host { .. } => GradSum::Host(vec![0.0; p.elem_count()]),
                    Moments::Device { .. } => GradSum::Device(None),
                })
                .collect(),
            self.params.clone(),
            self.device_decays(),
        )
    }

    /// [`FusedAdamW::decays`] of the parameters whose moments live on their device.
    fn device_decays(&self) -> Vec<bool> {
        self.state
            .iter()
            .zip(&self.decays)
            .filter(|(m, _)| matches!(m, Moments::Device { .. }))
            .map(|(_, &d)| d)
            .collect()
    }

    /// One update with the gradients summed in `grads` multiplied by `grad_scale` (the
    /// clip coefficient) on the fly.
    pub fn step(&mut self, grads: &GradAccumulator, grad_scale: f64, lr: f64) -> Result<()> {
        self.t += 1;
        let t = self.t as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let k = StepConstants {
            grad_scale: grad_scale as f32,
            decay: (1.0 - lr * self.weight_decay) as f32,
            b1: self.beta1 as f32,
            b2: self.beta2 as f32,
            step_size: (lr / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            eps: self.eps as f32,
        };
        // Norms' weights and biases take no decay.
        let undecayed = StepConstants { decay: 1.0, ..k };
        let device_decays = self.device_decays();
        let mut on_device: Vec<(&Var, &mut Tensor, &mut Tensor)> = Vec::new();
        for (((p, mom), g), &decays) in self
            .params
            .iter()
            .zip(&mut self.state)
            .zip(&grads.sums)
            .zip(&self.decays)
        {
            match (mom, g) {
                (Moments::Host { m, v }, GradSum::Host(g)) => {
                    let op = host::AdamUpdate {
                        grad: g,
                        m: RefCell::new(m),
                        v: RefCell::new(v),
                        k: if decays { k } else { undecayed },
                    };
                    p.as_tensor().inplace_op1(&op)?;
                }
                (Moments::Device { m, v }, GradSum::Device(_)) => on_device.push((p, m, v)),
                _ => {
                    return Err(TrainError::Model(
                        "gradient sums and moments live in different places; build the \
                         accumulator with FusedAdamW::accumulator"
                            .into(),
                    ))
                }
            }
        }
        if !on_device.is_empty() {
            let flats = grads.device_flat()?;
            let sizes: Vec<usize> = on_device.iter().map(|(p, ..)| p.elem_count()).collect();
            let groups = device::groups(&sizes, &device_decays);
            self.flat.resize_with(groups.len(), || None);
            let mut rest = on_device.into_iter();
            for ((r, g), flat) in groups.into_iter().zip(&flats).zip(&mut self.flat) {
                let (mut params, mut ms, mut vs) = (Vec::new(), Vec::new(), Vec::new());
                for (p, m, v) in rest.by_ref().take(r.len()) {
                    params.push(p);
                    ms.push(m);
                    vs.push(v);
                }
                let k = if device_decays[r.start] { k } else { undecayed };
                device::step(&params, &mut ms, &mut vs, flat, g, &k)?;
            }
        }
        Ok(())
    }
}

/// Whether the fused host kernel can update `p` in place.
fn host_kernel_fits(p: &Var) -> bool {
    matches!(p.device(), Device::Cpu) && p.dtype() == DType::F32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gradients of `sum(p * c)` for each `(p, c)`: exactly `c`.
    fn grads_of(pairs: &[(&Var, &[f32])]) -> candle_core::backprop::GradStore {
        let mut total: Option<Tensor> = None;
        for (p, c) in pairs {
            let c = Tensor::from_slice(c, p.shape(), p.device()).unwrap();
            let term = (p.as_tensor() * c).unwrap().sum_all().unwrap();
            total = Some(match total {
                None => term,
                Some(t) => (t + term).unwrap(),
            });
        }
        total.unwrap().backward().unwrap()
    }

    /// transformers' Trainer exempts norms' weights and biases from weight decay; every
    /// parameter had decayed, norms included.
    #[test]
    fn norms_and_biases_take_no_weight_decay_on_either_path() {
        for name in [
            "model.norm.weight",
            "model.layers.0.input_layernorm.weight",
            "model.layers.1.self_attn.q_norm.weight",
            "model.layers.0.self_attn.q_proj.bias",
        ] {
            assert!(!takes_weight_decay(name), "{name}");
        }
        for name in [
            "model.embed_tokens.weight",
            "model.layers.0.mlp.up_proj.weight",
            "lm_head.weight",
            "model.layers.0.self_attn.q_proj.lora_A.weight",
        ] {
            assert!(takes_weight_decay(name), "{name}");
        }
        let cfg = OptimConfig {
            weight_decay: 0.5,
            ..OptimConfig::default()
        };
        for on_device in [false, true] {
            let vars: Vec<Var> = (0..3)
                .map(|_| Var::from_slice(&[1f32, 2.0, 3.0, 4.0], 4, &Device::Cpu).unwrap())
                .collect();
            let names = [
                "model.layers.0.mlp.up_proj.weight",
                "model.norm.weight",
                "lm_head.weight",
            ]
            .map(String::from);
            let mut opt = FusedAdamW::new(vars.clone(), &cfg, on_device)
                .unwrap()
                .with_names(&names);
            let mut acc = opt.accumulator();
            // A zero gradient: Adam moves nothing, so only decay can.
            acc.add(
                &vars,
                &grads_of(&[
                    (&vars[0], &[0.0; 4]),
                    (&vars[1], &[0.0; 4]),
                    (&vars[2], &[0.0; 4]),
                ]),
            )
            .unwrap();
            opt.step(&acc, 1.0, 0.1).unwrap();
            let values = |v: &Var| v.as_tensor().to_vec1::<f32>().unwrap();
            assert_eq!(
                values(&vars[1]),
                [1.0, 2.0, 3.0, 4.0],
                "on_device {on_device}"
            );
            for decayed in [&vars[0], &vars[2]] {
                assert_eq!(
                    values(decayed),
                    [0.95, 1.9, 2.85, 3.8],
                    "on_device {on_device}"
                );
            }
        }
    }

    /// Three steps of two micro-batches each, clipped, against AdamW in f64; the second
    /// parameter gets no gradient in the first micro-batch of every step.
    fn three_steps(on_device: bool) -> (Vec<f32>, Vec<f64>, Vec<f64>) {
        let cfg = OptimConfig {
            weight_decay: 0.01,
            ..OptimConfig::default()
        };
        let n = 1000;
        let init: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
        let p = Var::from_slice(&init, n, &Device::Cpu).unwrap();
        let q = Var::from_slice(&init[..10], (2, 5), &Device::Cpu).unwrap();
        let mut opt = FusedAdamW::new(vec![p.clone(), q.clone()], &cfg, on_device).unwrap();
        let mut acc = opt.accumulator();
        let (mut m, mut v, mut x) = (
            vec![0f64; n],
            vec![0f64; n],
            init.iter().map(|&a| a as f64).collect::<Vec<_>>(),
        );
        let mut norms = Vec::new();
        for step in 1..=3 {
            let g: Vec<f32> = (0..n).map(|i| ((i * step) as f32 * 0.11).cos()).collect();
            let (g1, g2): (Vec<f32>, Vec<f32>) = g.iter().map(|&x| (0.25 * x, 0.75 * x)).unzip();
            let gq = vec![0.5f32; 10];
            acc.reset();
            acc.add(&opt.params, &grads_of(&[(&p, &g1)])).unwrap();
            acc.add(&opt.params, &grads_of(&[(&p, &g2), (&q, &gq)]))
                .unwrap();
            let norm = acc.global_norm().unwrap();
            norms.push(norm);
            let want_sq: f64 = g.iter().map(|&a| (a as f64).powi(2)).sum::<f64>() + 10.0 * 0.25;
            assert!((norm - want_sq.sqrt()).abs() < 1e-4 * norm, "{norm}");
            let coef = clip_coef(norm, 20.0);
            opt.step(&acc, coef, 1e-2).unwrap();
            for i in 0..n {
                let gi = g[i] as f64 * coef;
                x[i] *= 1.0 - 1e-2 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * gi;
                v[i] = 0.999 * v[i] + 0.001 * gi * gi;
                let bc1 = 1.0 - 0.9f64.powi(step as i32);
                let bc2 = 1.0 - 0.999f64.powi(step as i32);
                x[i] -= 1e-2 / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + 1e-8);
            }
        }
        let home = matches!(opt.state[0], Moments::Device { .. });
        assert_eq!(home, on_device, "moments kept where asked");
        (p.as_tensor().to_vec1().unwrap(), x, norms)
    }

    #[test]
    fn host_and_device_adamw_match_the_f64_formula_and_each_other() {
        let (host, want, host_norms) = three_steps(false);
        let (dev, _, dev_norms) = three_steps(true);
        for i in 0..host.len() {
            assert!(
                (host[i] as f64 - want[i]).abs() < 1e-5,
                "host {i}: {} vs {}",
                host[i],
                want[i]
            );
            assert!(
                (dev[i] - host[i]).abs() < 1e-6,
                "device {i}: {} vs {}",
                dev[i],
                host[i]
            );
        }
        for (a, b) in host_norms.iter().zip(&dev_norms) {
            assert!((a - b).abs() < 1e-5 * a, "norms {a} vs {b}");
        }
        assert!(host_norms[0] > 20.0, "the test clips");
    }

    #[test]
    fn moments_round_trip_through_cpu_tensors_in_either_home() {
        let p = Var::from_slice(&[1f32, 2., 3., 4., 5., 6.], (2, 3), &Device::Cpu).unwrap();
        for on_device in [false, true] {
            let mut mom = Moments::zeros(&p, on_device).unwrap();
            let m = Tensor::arange(0f32, 6., &Device::Cpu).unwrap();
            let v = (&m * 2.0).unwrap();
            mom.restore(&m, &v).unwrap();
            let (m2, v2) = mom.to_cpu(p.shape()).unwrap();
            assert_eq!(m2.dims(), &[2, 3]);
            assert_eq!(
                m2.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                m.to_vec1::<f32>().unwrap()
            );
            assert_eq!(
                v2.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                v.to_vec1::<f32>().unwrap()
            );
            let short = Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap();
            assert!(
                mom.restore(&short, &short).is_err(),
                "a wrong size is refused"
            );
        }
    }

    #[test]
    fn schedules_follow_transformers() {
        let mut cfg = OptimConfig {
            lr: 1.0,
            warmup_steps: 2,
            schedule: LrSchedule::Linear,
            ..OptimConfig::default()
        };
        assert_eq!(lr_at(&cfg, 0, 10), 0.0);
        assert_eq!(lr_at(&cfg, 1, 10), 0.5);
        assert_eq!(lr_at(&cfg, 2, 10), 1.0);
        assert_eq!(lr_at(&cfg, 6, 10), 0.5);
        cfg.schedule = LrSchedule::Cosine;
        assert!((lr_at(&cfg, 6, 10) - 0.5).abs() < 1e-12);
        cfg.schedule = LrSchedule::Constant;
        assert_eq!(lr_at(&cfg, 9, 10), 1.0);
    }

    #[test]
    fn clip_coefficient_is_torch_formula() {
        assert_eq!(clip_coef(0.5, 1.0), 1.0);
        assert!((clip_coef(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
    }
}
