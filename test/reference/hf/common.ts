/**
 * What every family reference shares: the stored-tensor map, config reads with the family's HF defaults, the
 * mask-derived positions and the recorder of hook points and hidden states. Hook names are spelled here on
 * purpose (not imported from src/model/spec.ts); test/reference-hf.test.ts checks they agree with hookName().
 */
import { maskPositions, type F64 } from './math.ts';

export interface HfTensor {
  shape: number[];
  data: Float64Array;
}

/** Stored tensor name (prefix and all, as in model.safetensors) → tensor. */
export type HfTensors = Map<string, HfTensor>;

export interface HfReferenceOutput {
  /** Hook name (`blocks.0.hook_resid_pre`, …) → values, [B, T, width] row-major ([B, H, T, T] for patterns). */
  hooks: Map<string, Float64Array>;
  /** [B, T, V], when the checkpoint has a language-model head. */
  logits?: Float64Array;
  /** What HF returns with output_hidden_states=True: nLayer + 1 arrays, each [B, T, d]. */
  hiddenStates: Float64Array[];
}

export type BlockHook =
  | 'resid_pre' | 'ln1' | 'attn_out' | 'resid_mid' | 'mlp_post' | 'mlp_out' | 'resid_post'
  | 'attn_pattern' | 'attn_pattern_last' | 'attn_v';

export function blockHookName(kind: BlockHook, layer: number): string {
  const p = `blocks.${layer}`;
  const suffix: Record<BlockHook, string> = {
    resid_pre: 'hook_resid_pre',
    ln1: 'ln1.hook_normalized',
    attn_out: 'hook_attn_out',
    resid_mid: 'hook_resid_mid',
    mlp_post: 'mlp.hook_post',
    mlp_out: 'hook_mlp_out',
    resid_post: 'hook_resid_post',
    attn_pattern: 'attn.hook_pattern',
    attn_pattern_last: 'attn.hook_pattern_last',
    attn_v: 'attn.hook_v',
  };
  return `${p}.${suffix[kind]}`;
}

export const FINAL_HOOK = 'ln_final.hook_normalized';

export class RefContext {
  readonly B: number;
  readonly T: number;
  readonly N: number;
  /** cumsum(mask) − 1 clamped at 0, [B·T]. */
  readonly positions: number[];
  readonly hooks = new Map<string, F64>();
  readonly hidden: F64[] = [];

  constructor(
    readonly family: string,
    readonly config: Record<string, unknown>,
    readonly tensors: HfTensors,
    readonly ids: number[][],
    readonly mask: number[][],
  ) {
    this.B = ids.length;
    this.T = ids[0]?.length ?? 0;
    this.N = this.B * this.T;
    if (mask.length !== this.B || mask.some((r, b) => r.length !== ids[b]!.length) || ids.some((r) => r.length !== this.T)) {
      throw new Error('reference: ids and mask must both be [B, T]');
    }
    this.positions = maskPositions(mask);
  }

  /** The stored-name prefix of the base model (`gpt_neox.`, `model.`, …), or '' for a base-model checkpoint. */
  prefix(candidate: string): string {
    for (const n of this.tensors.keys()) if (n.startsWith(candidate)) return candidate;
    return '';
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** A stored tensor's data, checking its element count when `shape` is given. */
  t(name: string, shape?: number[]): F64 {
    const x = this.tensors.get(name);
    if (!x) throw new Error(`reference ${this.family}: no tensor '${name}'`);
    if (shape && x.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`reference ${this.family}: '${name}' has shape [${x.shape}], expected [${shape}]`);
    }
    return x.data;
  }

  opt(name: string): F64 | undefined {
    return this.tensors.get(name)?.data;
  }

  /** config[key], or `dflt` (the HF config class default) when absent or null. */
  c<T>(key: string, dflt?: T): T {
    const v = this.config[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) throw new Error(`reference ${this.family}: config has no '${key}'`);
      return dflt;
    }
    return v as T;
  }

  /** Rows table[row(b, t)] of a [rows, d] table, [B·T, d]. */
  gather(table: F64, d: number, row: (n: number) => number): F64 {
    const y = new Float64Array(this.N * d);
    for (let n = 0; n < this.N; n++) {
      const r = row(n);
      if (!Number.isInteger(r) || (r + 1) * d > table.length || r < 0) throw new Error(`reference ${this.family}: row ${r} out of range`);
      for (let i = 0; i < d; i++) y[n * d + i] = table[r * d + i]!;
    }
    return y;
  }

  tokenRow = (n: number): number => this.ids[Math.floor(n / this.T)]![n % this.T]!;

  rec(kind: BlockHook, layer: number, x: F64): void {
    this.hooks.set(blockHookName(kind, layer), Float64Array.from(x));
  }

  /**
   * The unembedding: the stored head `name` if present, else the token embedding when the model ties them
   * (config tie_word_embeddings, `tiedDefault` = the family's config-class default), else none (a base model).
   */
  head(name: string, E: F64, tiedDefault: boolean): F64 | undefined {
    return this.opt(name) ?? (this.c<boolean>('tie_word_embeddings', tiedDefault) ? E : undefined);
  }

  /** logits = x · Wᵀ (+ b), [B·T, V]. */
  logits(x: F64, d: number, W: F64, b: F64 | undefined, V: number): F64 {
    const y = new Float64Array(this.N * V);
    for (let n = 0; n < this.N; n++) {
      for (let v = 0; v < V; v++) {
        let s = b ? b[v]! : 0;
        for (let i = 0; i < d; i++) s += x[n * d + i]! * W[v * d + i]!;
        y[n * V + v] = s;
      }
    }
    return y;
  }

  /** Decoder outputs: hidden = every block input, then the final-norm output (what HF returns). */
  decoderOutput(final: F64, logits: F64 | undefined, hasFinalNorm = true): HfReferenceOutput {
    if (hasFinalNorm) this.hooks.set(FINAL_HOOK, Float64Array.from(final));
    return { hooks: this.hooks, hiddenStates: [...this.hidden, Float64Array.from(final)], logits };
  }
}
