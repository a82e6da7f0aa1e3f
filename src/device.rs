//! Choosing the compute device (`--device auto|cpu|cuda|metal`).
use candle_core::{DType, Device};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum DeviceChoice {
    /// CUDA or Metal when this build has it and a device is present, else CPU
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

pub fn select_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => Device::new_cuda(0).map_err(|e| {
            Error::Usage(format!("--device cuda: {e} (build with `--features cuda` on a machine with an NVIDIA GPU)"))
        }),
        DeviceChoice::Metal => Device::new_metal(0)
            .map_err(|e| Error::Usage(format!("--device metal: {e} (build with `--features metal` on macOS)"))),
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
    }
}

/// f32 on CPU (what the parity tests pin); f32 too on GPUs unless asked otherwise.
pub fn default_dtype(_device: &Device) -> DType {
    DType::F32
}
