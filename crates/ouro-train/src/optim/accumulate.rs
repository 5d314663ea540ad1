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
    /// The parameters the sums belong to (for the sizes of absent gradients).
    params: Vec<Var>,
    /// The device sums end to end by group, built once per step (by the norm or the
    /// update).
    device_flat: std::cell::RefCell<Option<Vec<candle_core::Tensor>>>,
    /// Whether each device-summed parameter takes weight decay (their groups follow it).
    device_decays: Vec<bool>,
}

impl GradAccumulator {
    pub(super) fn new(sums: Vec<GradSum>, params: Vec<Var>, device_decays: Vec<bool>) -> Self {
        Self {
            sums,
            filled: false,
            params,
            device_flat: Default::default(),
            device_decays,
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
                (GradSum::Device(acc), Some(g)) => {
                    self.device_flat.take();
                    device::add(acc, g)?
                }
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

    /// Global L2 norm of all gradient sums: the host parameters' `sum(g^2)` added in
    /// parameter order in f64 (so the result does not depend on thread timing), plus
    /// the device parameters' reduced in one pass over their flat gradient.
    pub fn global_norm(&self) -> Result<f64> {
        let device_sq = match self.sums.iter().any(|s| matches!(s, GradSum::Device(_))) {
            true => device::squared_norm(&self.device_flat()?)?,
            false => 0.0,
        };
        let host_sq: f64 = self
            .sums
            .iter()
            .map(|s| match s {
                GradSum::Host(b) => host::squared_norm(b),
                GradSum::Device(_) => 0.0,
            })
            .sum();
        Ok((host_sq + device_sq).sqrt())
    }

    /// The device sums end to end in parameter order, one flat tensor per group (see
    /// `device::groups`), zeros where a parameter got no gradient; built once per step.
    pub(super) fn device_flat(&self) -> Result<Vec<candle_core::Tensor>> {
        if let Some(t) = &*self.device_flat.borrow() {
            return Ok(t.clone());
        }
        let parts: Vec<_> = self
            .sums
            .iter()
            .zip(&self.params)
            .filter_map(|(s, p)| match s {
                GradSum::Device(g) => Some((g.as_ref(), p)),
                GradSum::Host(_) => None,
            })
            .collect();
        let flat = device::flatten(&parts, &self.device_decays)?;
        *self.device_flat.borrow_mut() = Some(flat.clone());
        Ok(flat)
    }

    /// Marks the sums empty for the next optimiser step (device sums are freed now).
    pub fn reset(&mut self) {
        for s in &mut self.sums {
            if let GradSum::Device(t) = s {
                *t = None;
            }
        }
        self.device_flat.take();
        self.filled = false;
    }
}
