import pytest
import torch

from common.device import autocast, make_grad_scaler, resolve_amp_dtype, resolve_device
from common.errors import ConfigError


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_request_without_gpu_is_a_clear_error(spec):
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        resolve_device(spec)


def test_unknown_device_is_an_error():
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_cpu_trains_in_fp32_and_rejects_half_precision():
    cpu = torch.device("cpu")
    assert resolve_amp_dtype(cpu, "auto") is None
    assert not make_grad_scaler(cpu, None).is_enabled()
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        resolve_amp_dtype(cpu, "bf16")
    with autocast(cpu, None):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_autocast_dtype_and_scaler():
    cuda = resolve_device("cuda")
    dtype = resolve_amp_dtype(cuda, "auto")
    assert dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    assert make_grad_scaler(cuda, dtype).is_enabled() == (dtype == torch.float16)
    with autocast(cuda, dtype):
        assert (torch.ones(8, 8, device=cuda) @ torch.ones(8, 8, device=cuda)).dtype == dtype
