/**
 * --device: which onnxruntime execution provider runs the model. 'cpu' is the tested default; 'cuda' needs
 * onnxruntime-node's CUDA provider library (not bundled: installed with ONNXRUNTIME_NODE_INSTALL=cuda12),
 * 'webgpu' is bundled with onnxruntime-node but needs a GPU adapter. The CPU provider is always appended, so
 * an operator the GPU provider lacks still runs.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AtlasError } from '../errors.ts';

export const DEVICES = ['cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

const INSTALL_HINT: Record<Exclude<Device, 'cpu'>, string> = {
  cuda: 'install the CUDA provider: ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node (needs an NVIDIA GPU with CUDA 12 and cuDNN 9), or use --device cpu',
  webgpu: 'the WebGPU provider needs a GPU adapter (Vulkan on Linux); use --device cpu where none is present',
};

/** The folder holding onnxruntime-node's native libraries. */
export function onnxruntimeBinaryDir(): string {
  const req = createRequire(import.meta.url);
  const root = dirname(req.resolve('onnxruntime-node/package.json'));
  return join(root, 'bin', `napi-v6`, process.platform, process.arch);
}

/** Library file of a provider that onnxruntime-node loads at session creation (undefined: bundled in the main library). */
function providerLibrary(device: Device): string | undefined {
  if (device !== 'cuda') return undefined;
  return process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
}

/** AtlasError unless `device` is one of DEVICES and its provider's binaries are installed. */
export function checkDevice(device: string, binDir = onnxruntimeBinaryDir()): Device {
  if (!(DEVICES as readonly string[]).includes(device)) {
    throw new AtlasError(`--device must be one of ${DEVICES.join(', ')}, got '${device}'`, { field: 'device' });
  }
  const d = device as Device;
  if (d === 'cpu') return d;
  const backends = (ort as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.() ?? [];
  const lib = providerLibrary(d);
  if (!backends.some((b) => b.name === d) || (lib && !existsSync(join(binDir, lib)))) {
    throw new AtlasError(`onnxruntime's ${d} execution provider is not installed${lib ? ` (${join(binDir, lib)} is missing)` : ''}`, { field: 'device', hint: INSTALL_HINT[d] });
  }
  return d;
}

/** The execution providers of a device (the CPU provider last, for operators the device lacks). */
export function executionProviders(device: Device): ort.InferenceSession.SessionOptions['executionProviders'] {
  return device === 'cpu' ? ['cpu'] : [device, 'cpu'];
}

/** Wraps a session-creation failure on a GPU device into one clear line. */
export function deviceError(device: Device, e: unknown): unknown {
  if (device === 'cpu' || e instanceof AtlasError) return e;
  return new AtlasError(`onnxruntime could not start the ${device} execution provider: ${String((e as Error)?.message ?? e).split('\n')[0]}`, { field: 'device', hint: INSTALL_HINT[device] });
}
