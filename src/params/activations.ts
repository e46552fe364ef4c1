import { AtlasError } from '../errors.ts';

/**
 * MLP nonlinearities and their derivatives, shared by the reverse-mode engine (src/params/backprop.ts) and the
 * forward-mode Jacobians of the Fisher metric (src/fisher/tail.ts). gelu_new is GPT-2's tanh approximation.
 */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
export function geluGrad(x: number): number {
  const t = Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x);
}
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}
export function siluGrad(x: number): number {
  const s = 1 / (1 + Math.exp(-x));
  return s * (1 + x * (1 - s));
}

/** [f, f'] for a config's activation name. */
export function activation(name: string): [(x: number) => number, (x: number) => number] {
  switch (name) {
    case 'gelu_new': return [gelu, geluGrad];
    case 'silu': return [silu, siluGrad];
    case 'relu': return [(x) => (x > 0 ? x : 0), (x) => (x > 0 ? 1 : 0)];
    default: throw new AtlasError(`activation '${name}' has no derivative implementation`, { field: 'activation', hint: 'supported: gelu_new, silu, relu' });
  }
}
