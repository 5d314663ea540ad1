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

    /// Appends `other`'s rows after this cache's (continuous batching: rows that start
    /// while others decode). The shorter side is left-padded with zero keys so that both
    /// end at the same position; the caller must mark those positions invalid in each
    /// row's `key_valid`, `self.len().max(other.len()) - len` of them at the front.
    /// Cached keys carry their RoPE rotation, so moving them along the time axis does not
    /// change attention.
    pub fn join(&mut self, other: KvCache) -> Result<()> {
        if self.layers.is_empty() {
            *self = other;
            return Ok(());
        }
        if other.layers.len() != self.layers.len() {
            candle_core::bail!(
                "KvCache::join: {} layers against {}",
                other.layers.len(),
                self.layers.len()
            );
        }
        let len = self.len().max(other.len());
        for (mine, theirs) in self.layers.iter_mut().zip(other.layers) {
            let (Some(a), Some(b)) = (mine.as_ref(), theirs) else {
                candle_core::bail!("KvCache::join: a layer was never filled");
            };
            let padded = |c: &LayerCache, t: &Tensor| -> Result<Tensor> {
                let (rows, h, _, d) = t.dims4()?;
                let buf = Tensor::zeros((rows, h, len + MIN_SPARE, d), t.dtype(), t.device())?;
                buf.slice_set(&t.narrow(2, 0, c.len)?.contiguous()?, 2, len - c.len)?;
                Ok(buf)
            };
            let k = Tensor::cat(&[padded(a, &a.k)?, padded(&b, &b.k)?], 0)?;
            let v = Tensor::cat(&[padded(a, &a.v)?, padded(&b, &b.v)?], 0)?;
            *mine = Some(LayerCache { k, v, len });
        }
        Ok(())
    }

    /// Drops the first `n` positions of every row (positions no remaining row attends
    /// to, once the rows that needed them have finished).
    pub fn trim_front(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        for l in self.layers.iter_mut().flatten() {
            let keep = l.len.checked_sub(n).ok_or_else(|| {
                candle_core::Error::Msg(format!("trim_front({n}) of {} positions", l.len))
            })?;
            let cut = |t: &Tensor| -> Result<Tensor> {
                let (rows, h, cap, d) = t.dims4()?;
                let buf = Tensor::zeros((rows, h, cap - n, d), t.dtype(), t.device())?;
                buf.slice_set(&t.narrow(2, n, keep)?.contiguous()?, 2, 0)?;
                Ok(buf)
            };
            l.k = cut(&l.k)?;
            l.v = cut(&l.v)?;
            l.len = keep;
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
            let k =
                crate::init::seeded_normal((3, 2, t, 4), (0.0, 1.0), step as u64, &dev).unwrap();
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

    fn filled(rows: usize, t: usize, salt: f32) -> KvCache {
        let dev = Device::Cpu;
        let k = Tensor::arange(0f32, (rows * 2 * t * 3) as f32, &dev)
            .unwrap()
            .reshape((rows, 2, t, 3))
            .unwrap();
        let k = (k + salt as f64).unwrap();
        let mut slot = None;
        LayerCache::append(&mut slot, &k, &(&k * 2.0).unwrap()).unwrap();
        KvCache { layers: vec![slot] }
    }

    fn keys(c: &KvCache) -> Vec<Vec<Vec<Vec<f32>>>> {
        let l = c.layers[0].as_ref().unwrap();
        let k = l.k.narrow(2, 0, l.len).unwrap();
        (0..k.dim(0).unwrap())
            .map(|r| k.get(r).unwrap().to_vec3().unwrap())
            .collect()
    }

    #[test]
    fn joined_caches_end_together_and_trimming_drops_the_front() {
        let (mut a, b) = (filled(2, 5, 0.0), filled(1, 3, 1000.0));
        let (ka, kb) = (keys(&a), keys(&b));
        a.join(b).unwrap();
        assert_eq!(a.len(), 5);
        let k = keys(&a);
        assert_eq!(k.len(), 3);
        assert_eq!(&k[..2], &ka[..], "the old rows keep their keys");
        for h in 0..2 {
            assert_eq!(k[2][h][..2], vec![vec![0.0; 3]; 2], "left padding");
            assert_eq!(
                k[2][h][2..],
                kb[0][h][..],
                "the new row ends with the others"
            );
        }
        // Appending after a join writes at the shared position.
        let dev = Device::Cpu;
        let step = Tensor::ones((3, 2, 1, 3), candle_core::DType::F32, &dev).unwrap();
        LayerCache::append(&mut a.layers[0], &step, &step).unwrap();
        assert_eq!(a.len(), 6);
        a.trim_front(2).unwrap();
        assert_eq!(a.len(), 4);
        let t = keys(&a);
        assert_eq!(t[2][1][..3], kb[0][1][..]);
        assert_eq!(t[0][0][..3], ka[0][0][2..]);
        assert_eq!(t[1][1][3], vec![1.0; 3]);
        assert!(a.trim_front(5).is_err());
        // A longer newcomer pads the old rows instead.
        let mut c = filled(1, 2, 0.0);
        c.join(filled(1, 4, 7.0)).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(keys(&c)[0][0][..2], vec![vec![0.0; 3]; 2]);
    }
}
