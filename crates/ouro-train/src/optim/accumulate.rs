//! Gradients of the trainable parameters, straight from one backward pass or summed over
//! gradient-accumulation micro-batches, each kept where its parameter's update runs.

use candle_core::{backprop::GradStore, DType, Device, Var};
use ouro_model::train_pass::GradSlots;
use rayon::prelude::*;

use super::{device, host};
use crate::error::{Result, TrainError};

/// One parameter's gradient sum.
pub(super) enum GradSum {
    /// A host buffer, for the fused CPU AdamW (zeros until the first gradient).
    Host(Vec<f32>),
    /// An f32 tensor on the parameter's device (`None`: no gradient yet, i.e. zero).
    Device(Option<candle_core::Tensor>),
}

/// The summed gradients of one optimiser step; built by [`super::FusedAdamW::accumulator`]
/// so every sum lives where that optimiser keeps the parameter's moments.
pub struct GradAccumulator {
    pub(super) sums: Vec<GradSum>,
    filled: bool,
}

impl GradAccumulator {
    pub(super) fn new(sums: Vec<GradSum>) -> Self {
        Self {
            sums,
            filled: false,
        }
    }

    /// Adds the gradients of `params` in `grads` (a missing gradient counts as zero).
    pub fn add(&mut self, params: &[Var], grads: &GradStore) -> Result<()> {
        let first = !self.filled;
        for (p, sum) in params.iter().zip(self.sums.iter_mut()) {
            match (sum, grads.get(p.as_tensor())) {
                (GradSum::Host(buf), Some(g)) => {
                    let g = if matches!(g.device(), Device::Cpu) && g.dtype() == DType::F32 {
                        g.contiguous()?
                    } else {
                        g.to_dtype(DType::F32)?
                            .to_device(&Device::Cpu)?
                            .contiguous()?
                    };
                    host::add_into(buf, &g, first)?;
                }
                (GradSum::Host(buf), None) if first => {
                    buf.par_chunks_mut(host::CHUNK).for_each(|d| d.fill(0.0))
                }
                // `reset` empties device sums, so the first gradient starts a fresh one.
                (GradSum::Device(acc), Some(g)) => device::add(acc, g)?,
                _ => {}
            }
        }
        self.filled = true;
        Ok(())
    }

    /// Lets `backward` add a hand-written pass's gradients straight into the host buffers
    /// (`names` in the order of the optimiser's parameters).
    pub fn add_pass(
        &mut self,
        names: &[String],
        backward: impl FnOnce(&mut GradSlots) -> candle_core::Result<()>,
    ) -> Result<()> {
        let mut slots = GradSlots::new(!self.filled);
        for (n, sum) in names.iter().zip(self.sums.iter_mut()) {
            match sum {
                GradSum::Host(b) => slots.insert(n, b),
                GradSum::Device(_) => {
                    return Err(TrainError::Model(format!(
                        "'{n}': the hand-written pass writes host gradients, but this \
                         parameter's optimiser state is on the device"
                    )))
                }
            }
        }
        backward(&mut slots)?;
        self.filled = true;
        Ok(())
    }

    /// Global L2 norm of all gradient sums: each parameter's `sum(g^2)`, added in
    /// parameter order in f64, so the result does not depend on thread timing.
    pub fn global_norm(&self) -> Result<f64> {
        let on_device: Vec<&candle_core::Tensor> = self
            .sums
            .iter()
            .filter_map(|s| match s {
                GradSum::Device(Some(t)) => Some(t),
                _ => None,
            })
            .collect();
        let mut device_sq = device::squared_norms(&on_device)?.into_iter();
        let mut total = 0.0;
        for s in &self.sums {
            total += match s {
                GradSum::Host(b) => host::squared_norm(b),
                GradSum::Device(Some(_)) => device_sq.next().expect("one per device sum"),
                GradSum::Device(None) => 0.0,
            };
        }
        Ok(total.sqrt())
    }

    /// Marks the sums empty for the next optimiser step (device sums are freed now).
    pub fn reset(&mut self) {
        for s in &mut self.sums {
            if let GradSum::Device(t) = s {
                *t = None;
            }
        }
        self.filled = false;
    }
}
