/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) and global-norm gradient clipping, with the same
 * update order and defaults as torch.optim.AdamW and torch.nn.utils.clip_grad_norm_, on float32 parameters
 * with float32 moment buffers (as PyTorch keeps them for float32 parameters).
 */
import type { FloatArray, ParamStore } from './param-store.ts';

export interface AdamWOptions {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999 (PyTorch's default; GPT-2-style training often uses 0.95). */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay. Default 0.01 (PyTorch's default). */
  weightDecay?: number;
  /** Which parameters are decayed. Default: every parameter with ≥ 2 dimensions (matrices and embeddings; not biases or norm weights), as nanoGPT. */
  decays?: (name: string, shape: number[]) => boolean;
}

export interface AdamWState {
  /** Number of updates done so far. */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export function newAdamWState(params: ParamStore): AdamWState {
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [n, t] of params.tensors) {
    m.set(n, new Float32Array(t.data.length));
    v.set(n, new Float32Array(t.data.length));
  }
  return { step: 0, m, v };
}

/**
 * One AdamW update at learning rate `lr`, in place (PyTorch order): p ← p − lr·λ·p; m ← β1·m + (1−β1)·g;
 * v ← β2·v + (1−β2)·g²; p ← p − lr·(m/(1−β1^t)) / (√(v/(1−β2^t)) + ε).
 */
export function adamWStep(params: ParamStore, grads: Map<string, FloatArray>, state: AdamWState, lr: number, opts: AdamWOptions = {}): void {
  const b1 = opts.beta1 ?? 0.9;
  const b2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay ?? 0.01;
  const decays = opts.decays ?? ((_n: string, shape: number[]) => shape.length >= 2);
  state.step++;
  const bc1 = 1 - b1 ** state.step;
  const bc2 = 1 - b2 ** state.step;
  const stepSize = lr / bc1;
  const sqrtBc2 = Math.sqrt(bc2);
  for (const [name, t] of params.tensors) {
    const g = grads.get(name);
    if (!g) throw new Error(`adamWStep: no gradient for '${name}'`);
    const p = t.data;
    const m = state.m.get(name)!;
    const v = state.v.get(name)!;
    const decay = decays(name, t.shape) ? 1 - lr * wd : 1;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      p[i] *= decay;
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBc2 + eps);
    }
  }
  params.changed();
}

/**
 * Scales all gradients in place so their global L2 norm is at most `maxNorm` (factor maxNorm/(norm + 1e-6),
 * applied only when it is < 1, as clip_grad_norm_). Returns the norm before clipping.
 */
export function clipGradNorm(grads: Map<string, FloatArray>, maxNorm: number): number {
  let sq = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
