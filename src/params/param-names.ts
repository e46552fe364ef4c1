/**
 * What a canonical parameter name is: its block (layer) and its component, the units every report aggregates
 * over. GPT-2's c_attn packs q, k and v along its output columns; `elementComponent` splits it.
 */
export type Component =
  | 'embedding' | 'position' | 'attn_q' | 'attn_k' | 'attn_v' | 'attn_qkv' | 'attn_o'
  | 'mlp_up' | 'mlp_gate' | 'mlp_down' | 'norm' | 'final_norm' | 'lm_head' | 'other';

export interface ParamInfo {
  /** Block index, or null for embeddings, final norm and LM head. */
  layer: number | null;
  component: Component;
  /** Row label for per-layer tables: 'embed', '0', '1', …, 'head'. */
  group: string;
}

const RULES: [RegExp, Component][] = [
  [/\.attn\.c_attn\./, 'attn_qkv'],
  [/\.attn\.c_proj\./, 'attn_o'],
  [/\.mlp\.c_fc\./, 'mlp_up'],
  [/\.mlp\.c_proj\./, 'mlp_down'],
  [/\.self_attn\.q_proj\./, 'attn_q'],
  [/\.self_attn\.k_proj\./, 'attn_k'],
  [/\.self_attn\.v_proj\./, 'attn_v'],
  [/\.self_attn\.o_proj\./, 'attn_o'],
  [/\.mlp\.gate_proj\./, 'mlp_gate'],
  [/\.mlp\.up_proj\./, 'mlp_up'],
  [/\.mlp\.down_proj\./, 'mlp_down'],
  [/\.(ln_1|ln_2|input_layernorm|post_attention_layernorm)\./, 'norm'],
];

export function classifyParam(name: string): ParamInfo {
  const m = /^(?:h|layers)\.(\d+)\./.exec(name);
  if (m) {
    const layer = Number(m[1]);
    const rule = RULES.find(([re]) => re.test(name));
    return { layer, component: rule ? rule[1] : 'other', group: String(layer) };
  }
  if (/^(wte|embed_tokens)\./.test(name)) return { layer: null, component: 'embedding', group: 'embed' };
  if (/^wpe\./.test(name)) return { layer: null, component: 'position', group: 'embed' };
  if (/^(ln_f|norm)\./.test(name)) return { layer: null, component: 'final_norm', group: 'head' };
  if (/^lm_head\./.test(name)) return { layer: null, component: 'lm_head', group: 'head' };
  return { layer: null, component: 'other', group: 'other' };
}

/**
 * For tensors that pack several components (GPT-2 c_attn: [d, 3d] weight and [3d] bias, q|k|v along the
 * output dimension), a function from flat element index to component; null for single-component tensors.
 */
export function elementComponent(name: string, shape: number[]): ((flat: number) => Component) | null {
  if (!/\.attn\.c_attn\.(weight|bias)$/.test(name)) return null;
  const cols = shape[shape.length - 1];
  const third = cols / 3;
  const parts: Component[] = ['attn_q', 'attn_k', 'attn_v'];
  return (flat) => parts[Math.floor((flat % cols) / third)];
}

/** Order of groups in tables: embed, 0..L-1, head, other. */
export function groupOrder(a: string, b: string): number {
  const rank = (g: string): number => (g === 'embed' ? -1 : g === 'head' ? 1e9 : g === 'other' ? 2e9 : Number(g));
  return rank(a) - rank(b);
}

/** Multi-dimensional index of a flat row-major index. */
export function unravel(flat: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    idx[i] = flat % shape[i];
    flat = Math.floor(flat / shape[i]);
  }
  return idx;
}
