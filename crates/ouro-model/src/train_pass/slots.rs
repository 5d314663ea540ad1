//! Where the backward pass writes: the trainer's gradient accumulators, by tensor name.

use std::collections::HashMap;

use candle_core::Result;

/// Gradient buffers by HF tensor name. The backward adds into them, or, for a fresh set
/// ([`GradSlots::new`] with `overwrite`), overwrites whatever they hold.
pub struct GradSlots<'a> {
    pub(super) slots: HashMap<String, Slot<'a>>,
    overwrite: bool,
}

pub(super) struct Slot<'a> {
    pub(super) buf: &'a mut [f32],
    fresh: bool,
}

impl<'a> Slot<'a> {
    /// For a gemm that adds into the slot: whether to read the old contents.
    pub(super) fn acc(&mut self) -> bool {
        !std::mem::replace(&mut self.fresh, false)
    }

    /// The buffer, zeroed first if it is fresh.
    pub(super) fn sum(&mut self) -> &mut [f32] {
        if std::mem::replace(&mut self.fresh, false) {
            self.buf.fill(0.0);
        }
        self.buf
    }
}

impl<'a> GradSlots<'a> {
    pub fn new(overwrite: bool) -> Self {
        Self {
            slots: HashMap::new(),
            overwrite,
        }
    }

    pub fn insert(&mut self, name: &str, buf: &'a mut [f32]) {
        let fresh = self.overwrite;
        self.slots.insert(name.to_string(), Slot { buf, fresh });
    }

    pub(super) fn take(&mut self, name: &str, len: usize) -> Result<Slot<'a>> {
        let s = self.slots.remove(name).ok_or_else(|| {
            candle_core::Error::Msg(format!("train pass: no gradient buffer for {name}"))
        })?;
        if s.buf.len() != len {
            candle_core::bail!(
                "train pass: gradient buffer for {name} holds {} values, the weight {len}",
                s.buf.len()
            );
        }
        Ok(s)
    }
}
