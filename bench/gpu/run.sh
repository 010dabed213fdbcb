#!/usr/bin/env bash
# The HALO GPU bench in one command, on an offline machine with an NVIDIA GPU (README.md):
#
#   bash run.sh [gpu_bench options]      e.g. bash run.sh --seconds 20
#
# Unpacks Deno, uses the packed Vulkan loader when the machine has none, points the Vulkan loader
# at the NVIDIA driver when no ICD file announces it, and runs gpu_bench.js (the kit's WebGPU
# training step, then the PyTorch peer on CUDA with `python3`; `--python PATH` picks another).
# Results: out/bench/gpu.json and out/bench/gpu.log in this folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if [ -f SHA256SUMS ] && ! sha256sum --quiet -c SHA256SUMS; then
  echo "run.sh: Expected the files of SHA256SUMS intact but found the differences above" >&2
  exit 1
fi
if [ ! -x bin/deno ]; then
  mkdir -p bin
  xz -dc deno.xz >bin/deno.part
  chmod +x bin/deno.part
  mv bin/deno.part bin/deno
fi

has_lib() { { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true; } | grep -q "$1"; }

# The Vulkan loader (libvulkan.so.1): the system's, else the packed one. HALO_PACKED_VULKAN=1 forces it.
if [ -n "${HALO_PACKED_VULKAN:-}" ] || ! has_lib 'libvulkan\.so\.1 '; then
  echo "run.sh: using the packed Vulkan loader ($here/vulkan)" >&2
  export LD_LIBRARY_PATH="$here/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# The NVIDIA Vulkan driver is libGLX_nvidia.so.0, announced by an ICD file (nvidia_icd.json) that
# containers often lack: write one when the library is there and no ICD file is.
icd=""
for d in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
  if ls "$d"/nvidia*.json >/dev/null 2>&1; then icd="$d"; fi
done
if [ -z "$icd" ] && [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  if has_lib 'libGLX_nvidia\.so\.0'; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}\n' \
      >"$here/nvidia_icd.json"
    export VK_ICD_FILENAMES="$here/nvidia_icd.json" VK_DRIVER_FILES="$here/nvidia_icd.json"
    echo "run.sh: no NVIDIA ICD file found; using $here/nvidia_icd.json (libGLX_nvidia.so.0)" >&2
  else
    echo "run.sh: warning: no NVIDIA Vulkan ICD file and no libGLX_nvidia.so.0: the driver's Vulkan part is missing (in Docker: --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all)" >&2
  fi
fi

# Mesa's and some NVIDIA Vulkan loaders refuse to start without XDG_RUNTIME_DIR.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$here/.xdg"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
export DENO_DIR="$here/.deno" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

command -v nvidia-smi >/dev/null && nvidia-smi -L >&2 || true
mkdir -p out/bench
bin/deno run --no-config --no-npm --no-remote --cached-only \
  --allow-read --allow-write --allow-run --allow-env --allow-sys \
  gpu_bench.js "$@" 2>&1 | tee out/bench/gpu.log
