//! Vectorisable float helpers for the CPU kernels: a libm call per element keeps a loop
//! scalar, and an `f32` sum in one accumulator cannot be reordered into SIMD lanes.

/// Sum in 8 independent lanes, so the loop vectorises.
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `e^x` to about 2 ulp without a libm call, so loops over it vectorise: `x = k ln2 + r`
/// with `|r| <= ln2/2`, `e^r` by its degree-6 Taylor polynomial, `2^k` built in the
/// exponent bits. Inputs are clamped to the finite range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // `k` read from the low mantissa bits of `shifted` in wrapping integer ops: Rust's
    // saturating `k as i32` kept the loop from vectorising (2 ns an element).
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(k_bits.wrapping_add(127) << 23)
}

/// `out[i] = exp((x[i] - shift) * scale)`, in AVX2 lanes where the CPU has them (chosen at
/// run time; the build targets baseline x86-64, whose SSE2 lanes are half as wide). The
/// values are the same either way: every op is elementwise and none is contracted.
pub fn exp_shifted(out: &mut [f32], x: &[f32], shift: f32, scale: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { exp_shifted_avx2(out, x, shift, scale) };
        return;
    }
    exp_shifted_lanes(out, x, shift, scale);
}

#[inline(always)]
fn exp_shifted_lanes(out: &mut [f32], x: &[f32], shift: f32, scale: f32) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp((v - shift) * scale);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exp_shifted_avx2(out: &mut [f32], x: &[f32], shift: f32, scale: f32) {
    exp_shifted_lanes(out, x, shift, scale);
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut worst = 0.0f32;
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let (got, want) = (super::exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 5e-7, "relative error {worst}");
        assert!(super::exp(-200.0) < 1e-37 && super::exp(-200.0) >= 0.0);
        assert!(super::exp(200.0).is_finite());
    }

    #[test]
    fn exp_shifted_gives_the_scalar_values_bit_for_bit() {
        let x: Vec<f32> = (0..10_007)
            .map(|i| ((i * 7919) % 2000) as f32 / 37.0 - 30.0)
            .collect();
        for (shift, scale) in [(0.0, 1.0), (24.0, 1.0), (24.0, 1.25), (-3.0, 0.5)] {
            let mut got = vec![0.0; x.len()];
            super::exp_shifted(&mut got, &x, shift, scale);
            for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
                let want = super::exp((v - shift) * scale);
                assert_eq!(g.to_bits(), want.to_bits(), "x[{i}] = {v}");
            }
        }
    }
}
