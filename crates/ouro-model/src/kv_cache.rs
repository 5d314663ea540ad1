//! The generation path's key/value cache, preallocated and written in place.
//!
//! Concatenating each step's keys onto the cache allocates a fresh `[B, kv, T, D]` tensor
//! per layer per step; at a few hundred tokens the kernel's page clearing for those
//! allocations cost more than the decoder's arithmetic. Here each layer owns a buffer
//! with spare capacity along `T`, new positions are copied into it, and attention reads
//! a view of the filled part.

use candle_core::{Result, Tensor};

/// Keys and values of every layer for the sequences being generated,
/// `[B, kv_heads, T_past, head_dim]` per layer.
#[derive(Default)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<LayerCache>>,
}

/// One layer's buffers `[B, kv_heads, capacity, head_dim]`, filled up to `len`.
pub(crate) struct LayerCache {
    k: Tensor,
    v: Tensor,
    len: usize,
}

/// Positions reserved beyond the first fill, and the least a buffer grows by.
const MIN_SPARE: usize = 64;

impl KvCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached positions (0 when empty).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the batch rows in `rows` (in that order); used to drop finished samples.
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for l in self.layers.iter_mut().flatten() {
            l.k = l.k.index_select(rows, 0)?;
            l.v = l.v.index_select(rows, 0)?;
        }
        Ok(())
    }
}

impl LayerCache {
    /// Appends `k`, `v` (`[B, kv_heads, T, head_dim]`) to `slot` and returns views of
    /// every cached position, `[B, kv_heads, len, head_dim]`.
    pub(crate) fn append(
        slot: &mut Option<LayerCache>,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        let t = k.dim(2)?;
        let len = slot.as_ref().map_or(0, |c| c.len);
        let cap = slot.as_ref().map_or(0, |c| c.k.dim(2).unwrap_or(0));
        if len + t > cap {
            let (b, h, _, d) = k.dims4()?;
            let new_cap = (len + t + MIN_SPARE).max(2 * cap);
            let grow = |old: Option<&Tensor>| -> Result<Tensor> {
                let buf = Tensor::zeros((b, h, new_cap, d), k.dtype(), k.device())?;
                if let Some(old) = old {
                    buf.slice_set(&old.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
                }
                Ok(buf)
            };
            *slot = Some(LayerCache {
                k: grow(slot.as_ref().map(|c| &c.k))?,
                v: grow(slot.as_ref().map(|c| &c.v))?,
                len,
            });
        }
        let c = slot.as_mut().expect("allocated above");
        c.k.slice_set(&k, 2, len)?;
        c.v.slice_set(&v, 2, len)?;
        c.len = len + t;
        Ok((c.k.narrow(2, 0, c.len)?, c.v.narrow(2, 0, c.len)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn appends_past_capacity_equal_concatenation_and_rows_can_be_dropped() {
        let dev = Device::Cpu;
        let mut slot = None;
        let mut want_k: Option<Tensor> = None;
        // A prefill of 5, then single steps well past the first capacity (5 + MIN_SPARE).
        for (step, t) in std::iter::once(5)
            .chain(std::iter::repeat_n(1, 150))
            .enumerate()
        {
            let k = Tensor::randn(0f32, 1.0, (3, 2, t, 4), &dev).unwrap();
            let v = (&k * 2.0).unwrap();
            let (gk, gv) = LayerCache::append(&mut slot, &k, &v).unwrap();
            let wk = match want_k.take() {
                Some(p) => Tensor::cat(&[&p, &k], 2).unwrap(),
                None => k.clone(),
            };
            let diff = |a: &Tensor, b: &Tensor| {
                (a - b)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            };
            assert_eq!(diff(&gk, &wk), 0.0, "step {step}");
            assert_eq!(diff(&gv, &(&wk * 2.0).unwrap()), 0.0, "step {step}");
            want_k = Some(wk);
        }
        let mut cache = KvCache { layers: vec![slot] };
        assert_eq!(cache.len(), 155);
        let rows = Tensor::from_vec(vec![2u32, 0], 2, &dev).unwrap();
        cache.select_rows(&rows).unwrap();
        let slot = &mut cache.layers[0];
        let k = Tensor::zeros((2, 2, 1, 4), candle_core::DType::F32, &dev).unwrap();
        let (gk, _) = LayerCache::append(slot, &k, &k).unwrap();
        let want = want_k.unwrap().index_select(&rows, 0).unwrap();
        let got = gk.narrow(2, 0, 155).unwrap();
        let d = (got - want).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
        assert_eq!(gk.dim(2).unwrap(), 156);
    }
}
