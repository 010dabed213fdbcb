#!/usr/bin/env bash
# Builds the offline GPU-bench pack (bench/gpu/README.md): a folder that runs `bench/gpu_bench.ts`
# with one command (`bash run.sh`) on a machine with an NVIDIA GPU where nothing can be downloaded.
#
#   bash bench/gpu/pack.sh [OUT_DIR]        (default: out/gpu-pack)
#
# Contents: deno.xz (this machine's Deno, xz -9), gpu_bench.js (`deno bundle --platform deno` of
# bench/gpu_bench.ts: one file, no node_modules, no network), peer/generator_peer.py and peer/halo_torch/
# (the PyTorch peer and the model it imports, from torch/), vulkan/libvulkan.so.1 + the libvulkan1 .deb it came from (the Vulkan loader, for machines
# without one), run.sh, README.md, SHA256SUMS. Needs deno (PATH or $DENO), xz, dpkg and a libvulkan1
# .deb in /var/cache/apt/archives (or network for `apt-get download libvulkan1`).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/out/gpu-pack}")
deno_bin=$(readlink -f "${DENO:-$(command -v deno)}")
tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/peer/halo_torch" "$tmp/vulkan"
cd "$root"

echo "pack: bundling bench/gpu_bench.ts" >&2
"$deno_bin" bundle --quiet --platform deno -o "$tmp/gpu_bench.js" bench/gpu_bench.ts
cp torch/generator_peer.py "$tmp/peer/"
cp torch/halo_torch/*.py torch/halo_torch/vocab.json "$tmp/peer/halo_torch/"
cp bench/gpu/run.sh bench/gpu/README.md "$tmp/"
chmod +x "$tmp/run.sh"

# Deno: xz -9 takes about 1.5 min on one core; a previous pack's deno.xz of the same binary is reused.
deno_sum=$(sha256sum <"$deno_bin" | cut -d' ' -f1)
if [ -f "$out/deno.xz" ] && [ "$(cat "$out/deno.sha256" 2>/dev/null)" = "$deno_sum" ]; then
  echo "pack: reusing $out/deno.xz ($("$deno_bin" --version | head -1))" >&2
  cp "$out/deno.xz" "$tmp/deno.xz"
else
  echo "pack: compressing $deno_bin ($("$deno_bin" --version | head -1)) with xz -9" >&2
  xz -9 -T1 -c "$deno_bin" >"$tmp/deno.xz"
fi
echo "$deno_sum" >"$tmp/deno.sha256"

# The Vulkan loader: Debian's libvulkan1 from the local apt cache, else downloaded by apt.
deb=$(ls /var/cache/apt/archives/libvulkan1_*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$deb" ]; then
  echo "pack: no libvulkan1 .deb in /var/cache/apt/archives; trying apt-get download libvulkan1" >&2
  (cd "$tmp" && apt-get download -qq libvulkan1:amd64) || {
    echo "pack: Expected a libvulkan1 .deb (apt-get download libvulkan1 on a machine with apt access, then copy it to /var/cache/apt/archives/) but found none" >&2
    exit 1
  }
  deb=$(ls "$tmp"/libvulkan1_*_amd64.deb | tail -n 1)
else
  cp "$deb" "$tmp/"
fi
dpkg -x "$deb" "$tmp/vulkan/deb"
cp -P "$tmp"/vulkan/deb/usr/lib/x86_64-linux-gnu/libvulkan.so.1* "$tmp/vulkan/"
rm -rf "$tmp/vulkan/deb"

(cd "$tmp" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum >SHA256SUMS)
bytes=$(du -sb "$tmp" | cut -f1)
if [ "$bytes" -gt $((64 * 1024 * 1024)) ]; then
  echo "pack: Expected the pack under 64 MiB but found $((bytes / 1024 / 1024)) MiB" >&2
  exit 1
fi
rm -rf "$out"
mv "$tmp" "$out"
echo "pack: $out, $((bytes / 1024)) KiB:" >&2
ls -l "$out" >&2
