//! `--device` and `--dtype` as the commands take them: parsed and checked before any
//! work starts, so a bad flag fails in a second with one line instead of after a load.

use candle_core::{DType, Device};

/// A `--device`/`--dtype` value that cannot be used; the message is the whole story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceError(pub String);

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeviceError {}

/// A parsed `--device` (not yet opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Whether this build can drive CUDA devices at all.
pub const CUDA_BUILD: bool = cfg!(feature = "cuda");

/// `cpu | cuda | cuda:N`.
pub fn parse_device(s: &str) -> Result<DeviceSpec, DeviceError> {
    let t = s.trim().to_ascii_lowercase();
    let spec = match t.as_str() {
        "cpu" => DeviceSpec::Cpu,
        "cuda" | "gpu" => DeviceSpec::Cuda(0),
        _ => match t.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => DeviceSpec::Cuda(i),
            _ => {
                return Err(DeviceError(format!(
                    "--device {s}: expected cpu, cuda or cuda:N"
                )))
            }
        },
    };
    if matches!(spec, DeviceSpec::Cuda(_)) && !CUDA_BUILD {
        return Err(DeviceError(format!(
            "--device {s}: this ouro was built without CUDA; rebuild with \
             `cargo build --release -p ouro-cli --features cuda`"
        )));
    }
    Ok(spec)
}

/// `f32 | bf16 | f16` (also the HF spellings `float32`, `bfloat16`, `float16`).
pub fn parse_dtype(s: &str) -> Result<DType, DeviceError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "f32" | "float32" | "fp32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" | "fp16" | "half" => Ok(DType::F16),
        _ => Err(DeviceError(format!(
            "--dtype {s}: expected f32, bf16 or f16"
        ))),
    }
}

/// The short name the flags take (`f32`, `bf16`, ...), for logs and reports.
pub fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        DType::F64 => "f64",
        DType::U8 => "u8",
        DType::U32 => "u32",
        DType::I64 => "i64",
        _ => "other",
    }
}

/// `cpu` or `cuda:N`, for logs and reports.
pub fn device_name(d: &Device) -> String {
    match d.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// Opens `spec`; `None` is the default: `cuda:0` in a CUDA build with a GPU present,
/// else the CPU.
pub fn open(spec: Option<DeviceSpec>) -> Result<Device, DeviceError> {
    match spec {
        Some(DeviceSpec::Cpu) => Ok(Device::Cpu),
        Some(DeviceSpec::Cuda(i)) => open_cuda(i).map_err(|e| {
            DeviceError(format!(
                "--device cuda:{i}: cannot open CUDA device {i}: {}",
                first_line(&e.to_string())
            ))
        }),
        None if CUDA_BUILD && candle_core::utils::cuda_is_available() => {
            Ok(open_cuda(0).unwrap_or(Device::Cpu))
        }
        None => Ok(Device::Cpu),
    }
}

/// Opens CUDA device `ordinal` the way every ouro command and the device check use it.
///
/// cudarc gives each allocation two CUDA events by default, created with it and destroyed
/// with it, so that a tensor used from several streams stays ordered. ouro issues all of a
/// device's work on candle's one stream, where those events are never recorded or waited
/// on: they only cost four driver calls per tensor, and a training step of SmolLM2-135M
/// creates thousands of tensors. Tracking is therefore off, from before the first tensor.
/// `OURO_CUDA_EVENT_TRACKING=1` leaves it on (the device check times both).
pub fn open_cuda(ordinal: usize) -> candle_core::Result<Device> {
    let dev = Device::new_cuda(ordinal)?;
    #[cfg(feature = "cuda")]
    if let Device::Cuda(d) = &dev {
        if std::env::var("OURO_CUDA_EVENT_TRACKING").as_deref() != Ok("1") {
            // SAFETY: the device's work all goes to candle's one stream, so no tensor is
            // ever used across streams, which is all the events would order.
            unsafe { d.disable_event_tracking() };
        }
    }
    Ok(dev)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The compute dtype when none is asked for: f32 on the CPU (the fast kernels are f32),
/// bf16 on a GPU (f32 master weights stay with the trainer).
pub fn default_dtype(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// A device and compute dtype, resolved from the optional flag strings.
#[derive(Debug, Clone)]
pub struct Placement {
    pub device: Device,
    pub dtype: DType,
}

impl Placement {
    /// The defaults: see [`open`] and [`default_dtype`].
    pub fn auto() -> Self {
        Self::resolve(None, None).unwrap_or(Placement {
            device: Device::Cpu,
            dtype: DType::F32,
        })
    }

    pub fn cpu() -> Self {
        Placement {
            device: Device::Cpu,
            dtype: DType::F32,
        }
    }

    /// Parses and opens `--device`/`--dtype` (either may be absent).
    pub fn resolve(device: Option<&str>, dtype: Option<&str>) -> Result<Self, DeviceError> {
        let spec = device.map(parse_device).transpose()?;
        let dtype = dtype.map(parse_dtype).transpose()?;
        let device = open(spec)?;
        let dtype = dtype.unwrap_or_else(|| default_dtype(&device));
        Ok(Placement { device, dtype })
    }

    /// `cpu/f32`, `cuda:0/bf16`: what the commands log.
    pub fn describe(&self) -> String {
        format!("{}/{}", device_name(&self.device), dtype_name(self.dtype))
    }
}

/// The weights sampling reads (`--sample-dtype`): the model's own, or 8-bit (Q8_0)
/// copies made for sampling ([`crate::Decoder::quantize_for_sampling`]); training
/// always uses the model's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleDtype {
    /// The model's weights in the compute dtype (`f32`).
    #[default]
    Full,
    /// 8-bit copies (`q8`): a quarter of f32's bytes per decoded token.
    Q8,
}

impl SampleDtype {
    /// Parses `f32` or `q8`; `None` is the default (`f32`).
    pub fn parse(s: Option<&str>) -> Result<Self, DeviceError> {
        match s.map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(SampleDtype::Full),
            Some(v) if v == "f32" => Ok(SampleDtype::Full),
            Some(v) if v == "q8" || v == "q8_0" => Ok(SampleDtype::Q8),
            Some(_) => Err(DeviceError(format!(
                "--sample-dtype {}: expected f32 or q8",
                s.unwrap_or_default()
            ))),
        }
    }

    /// [`SampleDtype::parse`] then [`SampleDtype::check`] against `place`.
    pub fn resolve(s: Option<&str>, place: &Placement) -> Result<Self, DeviceError> {
        let w = Self::parse(s)?;
        w.check(place)?;
        Ok(w)
    }

    /// Checks that `place` can sample with these weights: the 8-bit kernels are the
    /// CPU's, over f32 activations.
    pub fn check(self, place: &Placement) -> Result<(), DeviceError> {
        if self == SampleDtype::Q8 && (!place.device.is_cpu() || place.dtype != DType::F32) {
            return Err(DeviceError(format!(
                "--sample-dtype q8: 8-bit sampling runs on the CPU in f32, not on {}",
                place.describe()
            )));
        }
        Ok(())
    }

    pub fn name(self) -> &'static str {
        match self {
            SampleDtype::Full => "f32",
            SampleDtype::Q8 => "q8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_dtypes() {
        assert_eq!(parse_device("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert_eq!(parse_dtype("float16").unwrap(), DType::F16);
        assert!(parse_dtype("int8").unwrap_err().0.contains("expected f32"));
        assert!(parse_device("tpu").unwrap_err().0.contains("expected cpu"));
        if CUDA_BUILD {
            assert_eq!(parse_device("cuda:1").unwrap(), DeviceSpec::Cuda(1));
        } else {
            let e = parse_device("cuda").unwrap_err().0;
            assert!(e.contains("built without CUDA"), "{e}");
            assert!(e.contains("--features cuda"), "{e}");
        }
    }

    #[test]
    fn cpu_placement_resolves() {
        let p = Placement::resolve(Some("cpu"), None).unwrap();
        assert!(p.device.is_cpu());
        assert_eq!(p.describe(), "cpu/f32");
        let p = Placement::resolve(Some("cpu"), Some("bf16")).unwrap();
        assert_eq!(p.describe(), "cpu/bf16");
        let e = SampleDtype::Q8.check(&p).unwrap_err().0;
        assert!(
            e.contains("--sample-dtype q8") && e.contains("cpu/bf16"),
            "{e}"
        );
        assert!(SampleDtype::Q8.check(&Placement::cpu()).is_ok());
    }

    #[test]
    fn parses_sample_dtypes() {
        assert_eq!(SampleDtype::parse(None).unwrap(), SampleDtype::Full);
        assert_eq!(SampleDtype::parse(Some("Q8")).unwrap(), SampleDtype::Q8);
        assert_eq!(SampleDtype::parse(Some("f32")).unwrap(), SampleDtype::Full);
        let e = SampleDtype::parse(Some("q4")).unwrap_err().0;
        assert_eq!(e, "--sample-dtype q4: expected f32 or q8");
    }
}
