/**
 * What a canonical parameter name is: its block (layer) and its component, the units every report aggregates
 * over. GPT-2's c_attn packs q, k and v along its output columns; `elementComponent` splits it.
 */
import { AtlasError } from '../errors.ts';
import { W, canonicalWeightShapes, type ModelSpec } from '../model/spec.ts';

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

/** Component of a canonical tensor name (src/model/spec.ts `W`); 'other' for names outside the table. */
export function canonicalComponent(name: string): { layer: number | null; component: Component; group: string } {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const layer = Number(m[1]);
    const rest = m[2];
    const table: [RegExp, Component][] = [
      [/^attn\.[Wb]_Q$/, 'attn_q'], [/^attn\.[Wb]_K$/, 'attn_k'], [/^attn\.[Wb]_V$/, 'attn_v'], [/^attn\.[Wb]_O$/, 'attn_o'],
      [/^mlp\.[Wb]_in$/, 'mlp_up'], [/^mlp\.[Wb]_gate$/, 'mlp_gate'], [/^mlp\.[Wb]_out$/, 'mlp_down'], [/^ln/, 'norm'],
    ];
    return { layer, component: table.find(([re]) => re.test(rest))?.[1] ?? 'other', group: String(layer) };
  }
  if (name === 'embed.W_E') return { layer: null, component: 'embedding', group: 'embed' };
  if (name === 'pos_embed.W_pos' || name === 'embed.W_type') return { layer: null, component: 'position', group: 'embed' };
  if (name.startsWith('embed.ln.')) return { layer: null, component: 'norm', group: 'embed' };
  if (name.startsWith('ln_final.')) return { layer: null, component: 'final_norm', group: 'head' };
  if (name.startsWith('unembed.')) return { layer: null, component: 'lm_head', group: 'head' };
  return { layer: null, component: 'other', group: 'other' };
}

export interface ParamClassifier {
  info(storedName: string): ParamInfo;
  /** Flat index → component for stored tensors that pack several canonical ones; null otherwise. */
  elements(storedName: string, shape: number[]): ((flat: number) => Component) | null;
}

/**
 * Classification of STORED tensors from the model's recipes (any architecture): a stored tensor is what the
 * canonical tensors made from it are; fused q|k|v is 'attn_qkv' with a per-element split, a tied embedding
 * is the embedding.
 */
export function paramClassifier(recipes: Map<string, { from: string; storedShape: number[]; transpose?: boolean; rows?: { start: number; count: number } | Int32Array }>): ParamClassifier {
  const byStored = new Map<string, string[]>();
  for (const [canon, r] of recipes) {
    const list = byStored.get(r.from) ?? [];
    list.push(canon);
    byStored.set(r.from, list);
  }
  const info = (stored: string): ParamInfo => {
    const list = byStored.get(stored);
    if (!list) return classifyParam(stored);
    const parts = list.map(canonicalComponent);
    const comps = new Set(parts.map((p) => p.component));
    const qkv = comps.size > 1 && [...comps].every((c) => c === 'attn_q' || c === 'attn_k' || c === 'attn_v');
    return { ...parts[0], component: qkv ? 'attn_qkv' : parts[0].component };
  };
  const elements = (stored: string, shape: number[]): ((flat: number) => Component) | null => {
    const list = byStored.get(stored);
    if (!list || list.length < 2) return null;
    const comps = list.map((c) => canonicalComponent(c).component);
    // a split needs the contributors to own disjoint rows (a tied embedding is wholly W_E and W_U: no split)
    if (new Set(comps).size < 2 || list.some((c) => !recipes.get(c)!.rows)) return null;
    // which canonical tensor owns each row of the (transposed) stored view
    const r0 = recipes.get(list[0])!;
    const t = r0.transpose === true;
    const viewRows = shape.length === 1 ? shape[0] : t ? shape[1] : shape[0];
    const owner = new Int32Array(viewRows).fill(-1);
    list.forEach((c, k) => {
      const rows = recipes.get(c)!.rows!;
      if (rows instanceof Int32Array) { for (const i of rows) if (owner[i] < 0) owner[i] = k; }
      else for (let i = rows.start; i < rows.start + rows.count; i++) if (owner[i] < 0) owner[i] = k;
    });
    const cols = shape.length === 1 ? 1 : shape[1];
    return (flat) => {
      const row = shape.length === 1 ? flat : t ? flat % cols : Math.floor(flat / cols);
      return comps[Math.max(0, owner[row])];
    };
  };
  return { info, elements };
}

/**
 * The Fisher/similarity toolkit's component names (its tensor suffixes `self_attn.q_proj.weight` …
 * `mlp.down_proj.weight`) → the canonical weight of each block (spec.ts `W.block(l)` key) and its Component.
 * `similarity --components q,k,v,o,gate,up,down` selects by these; every family is covered through its weight
 * recipes (GPT-2's fused c_attn gives q, k and v; non-gated MLPs have no gate).
 */
export const TOOLKIT_COMPONENTS = {
  q: { weight: 'Wq', component: 'attn_q', toolkit: 'self_attn.q_proj.weight' },
  k: { weight: 'Wk', component: 'attn_k', toolkit: 'self_attn.k_proj.weight' },
  v: { weight: 'Wv', component: 'attn_v', toolkit: 'self_attn.v_proj.weight' },
  o: { weight: 'Wo', component: 'attn_o', toolkit: 'self_attn.o_proj.weight' },
  gate: { weight: 'Wgate', component: 'mlp_gate', toolkit: 'mlp.gate_proj.weight' },
  up: { weight: 'Win', component: 'mlp_up', toolkit: 'mlp.up_proj.weight' },
  down: { weight: 'Wout', component: 'mlp_down', toolkit: 'mlp.down_proj.weight' },
} as const satisfies Record<string, { weight: keyof ReturnType<typeof W.block>; component: Component; toolkit: string }>;

export type ToolkitComponent = keyof typeof TOOLKIT_COMPONENTS;

/**
 * `--components q,k,...` for a model: the canonical weight names selected (every block). A name outside
 * TOOLKIT_COMPONENTS, or one the family does not have (gate on a non-gated MLP), is an AtlasError naming the
 * valid components.
 */
export function selectComponents(list: readonly string[], spec: ModelSpec): { names: ToolkitComponent[]; canonical: Set<string> } {
  const all = Object.keys(TOOLKIT_COMPONENTS) as ToolkitComponent[];
  const shapes = canonicalWeightShapes(spec);
  const present = all.filter((c) => spec.blocks.some((_, l) => shapes.has(W.block(l)[TOOLKIT_COMPONENTS[c].weight])));
  const names = list.map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new AtlasError(`--components is empty; valid: ${all.join(', ')}`, { field: '--components' });
  for (const n of names) {
    if (!(all as string[]).includes(n)) throw new AtlasError(`unknown component '${n}'; valid: ${all.join(', ')}`, { field: '--components' });
    if (!present.includes(n as ToolkitComponent)) {
      throw new AtlasError(`${spec.modelType} models have no '${n}' (${TOOLKIT_COMPONENTS[n as ToolkitComponent].toolkit}); valid for this model: ${present.join(', ')}`, { field: '--components' });
    }
  }
  const chosen = [...new Set(names)] as ToolkitComponent[];
  const canonical = new Set<string>();
  spec.blocks.forEach((_, l) => { for (const c of chosen) canonical.add(W.block(l)[TOOLKIT_COMPONENTS[c].weight]); });
  return { names: chosen, canonical };
}

/** The name-pattern classification (checkpoint names of the GPT-2 and Llama families) as a ParamClassifier. */
export const NAME_CLASSIFIER: ParamClassifier = { info: classifyParam, elements: elementComponent };
