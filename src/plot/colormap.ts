/**
 * Continuous colormaps: viridis (sequential, perceptually uniform, colour-blind-safe) and RdBu (diverging, from
 * ColorBrewer), with the exact control colours matplotlib uses so plots match the Python tools' look.
 */
import { AtlasError } from '../errors.ts';

export type Rgb = [number, number, number];
/** matplotlib's diverging maps (ColorBrewer's 11-class schemes, Moreland's coolwarm, bwr, seismic) and their _r. */
const DIVERGING_BASE = ['RdBu', 'coolwarm', 'bwr', 'seismic', 'PiYG', 'PRGn', 'BrBG', 'PuOr', 'RdGy', 'RdYlBu', 'RdYlGn', 'Spectral'] as const;
type DivergingBase = (typeof DIVERGING_BASE)[number];
export type ColormapName = 'viridis' | DivergingBase | `${DivergingBase}_r`;

/** matplotlib's 256-entry viridis table (CC0, van der Walt & Smith), 8-bit sRGB, as 6-hex-digit runs. */
const VIRIDIS_HEX =
  '44015444025645045745055946075a46085c460a5d460b5e470d60470e6147106347116447136548146748166848176948186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f854240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f881fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad8128ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc743fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc8635ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21ad8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725';

/**
 * ColorBrewer RdBu, 11 classes, red (low) to blue (high): matplotlib builds its 'RdBu' LinearSegmentedColormap
 * from exactly these, evenly spaced.
 */
const RDBU_HEX = ['67001f', 'b2182b', 'd6604d', 'f4a582', 'fddbc7', 'f7f7f7', 'd1e5f0', '92c5de', '4393c3', '2166ac', '053061'];

/** The other ColorBrewer diverging schemes, 11 classes, as matplotlib's _cm.py holds them (low → high). */
const BREWER_HEX: Record<string, string[]> = {
  PiYG: ['8e0152', 'c51b7d', 'de77ae', 'f1b6da', 'fde0ef', 'f7f7f7', 'e6f5d0', 'b8e186', '7fbc41', '4d9221', '276419'],
  PRGn: ['40004b', '762a83', '9970ab', 'c2a5cf', 'e7d4e8', 'f7f7f7', 'd9f0d3', 'a6dba0', '5aae61', '1b7837', '00441b'],
  BrBG: ['543005', '8c510a', 'bf812d', 'dfc27d', 'f6e8c3', 'f5f5f5', 'c7eae5', '80cdc1', '35978f', '01665e', '003c30'],
  PuOr: ['7f3b08', 'b35806', 'e08214', 'fdb863', 'fee0b6', 'f7f7f7', 'd8daeb', 'b2abd2', '8073ac', '542788', '2d004b'],
  RdGy: ['67001f', 'b2182b', 'd6604d', 'f4a582', 'fddbc7', 'ffffff', 'e0e0e0', 'bababa', '878787', '4d4d4d', '1a1a1a'],
  RdYlBu: ['a50026', 'd73027', 'f46d43', 'fdae61', 'fee090', 'ffffbf', 'e0f3f8', 'abd9e9', '74add1', '4575b4', '313695'],
  RdYlGn: ['a50026', 'd73027', 'f46d43', 'fdae61', 'fee08b', 'ffffbf', 'd9ef8b', 'a6d96a', '66bd63', '1a9850', '006837'],
  Spectral: ['9e0142', 'd53e4f', 'f46d43', 'fdae61', 'fee08b', 'ffffbf', 'e6f598', 'abdda4', '66c2a5', '3288bd', '5e4fa2'],
};

/**
 * matplotlib's 'coolwarm' (Moreland's CoolWarmFloat33: 33 evenly spaced control points, 0–1 floats), as
 * r, g, b triples; LinearSegmentedColormap interpolates linearly between them.
 */
const COOLWARM_33 = [
  [0.2298057, 0.298717966, 0.753683153], [0.26623388, 0.353094838, 0.801466763], [0.30386891, 0.406535296, 0.84495867],
  [0.342804478, 0.458757618, 0.883725899], [0.38301334, 0.50941904, 0.917387822], [0.424369608, 0.558148092, 0.945619588],
  [0.46666708, 0.604562568, 0.968154911], [0.509635204, 0.648280772, 0.98478814], [0.552953156, 0.688929332, 0.995375608],
  [0.596262162, 0.726149107, 0.999836203], [0.639176211, 0.759599947, 0.998151185], [0.681291281, 0.788964712, 0.990363227],
  [0.722193294, 0.813952739, 0.976574709], [0.761464949, 0.834302879, 0.956945269], [0.798691636, 0.849786142, 0.931688648],
  [0.833466556, 0.860207984, 0.901068838], [0.865395197, 0.86541021, 0.865395561], [0.897787179, 0.848937047, 0.820880546],
  [0.924127593, 0.827384882, 0.774508472], [0.944468518, 0.800927443, 0.726736146], [0.958852946, 0.769767752, 0.678007945],
  [0.96732803, 0.734132809, 0.628751763], [0.969954137, 0.694266682, 0.579375448], [0.966811177, 0.650421156, 0.530263762],
  [0.958003065, 0.602842431, 0.481775914], [0.943660866, 0.551750968, 0.434243684], [0.923944917, 0.49730856, 0.387970225],
  [0.89904617, 0.439559467, 0.343229596], [0.869186849, 0.378313092, 0.300267182], [0.834620542, 0.312874446, 0.259301199],
  [0.795631745, 0.24128379, 0.220525627], [0.752534934, 0.157246067, 0.184115123], [0.705673158, 0.01555616, 0.150232812],
];

function parseHexRun(s: string): Rgb[] {
  const out: Rgb[] = [];
  for (let i = 0; i + 6 <= s.length; i += 6) out.push(hexToRgb(s.slice(i, i + 6)));
  return out;
}

export function hexToRgb(hex: string): Rgb {
  const h = hex.replace(/^#/, '');
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

export function rgbToHex([r, g, b]: Rgb): string {
  const c = (v: number) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, '0');
  return `#${c(r)}${c(g)}${c(b)}`;
}

const VIRIDIS = parseHexRun(VIRIDIS_HEX);
const scale255 = (rows: number[][]): Rgb[] => rows.map(([r, g, b]) => [r! * 255, g! * 255, b! * 255]);
/** Evenly spaced control colours of every diverging base map (matplotlib's segment data, low → high). */
const DIVERGING_STOPS: Record<DivergingBase, Rgb[]> = {
  RdBu: RDBU_HEX.map(hexToRgb),
  coolwarm: scale255(COOLWARM_33),
  bwr: scale255([[0, 0, 1], [1, 1, 1], [1, 0, 0]]),
  seismic: scale255([[0, 0, 0.3], [0, 0, 1], [1, 1, 1], [1, 0, 0], [0.5, 0, 0]]),
  ...(Object.fromEntries(Object.entries(BREWER_HEX).map(([k, v]) => [k, v.map(hexToRgb)])) as Record<Exclude<DivergingBase, 'RdBu' | 'coolwarm' | 'bwr' | 'seismic'>, Rgb[]>),
};

/** Linear interpolation through evenly spaced control colours; t is clamped to [0, 1], NaN gives undefined. */
function interpolate(stops: readonly Rgb[], t: number): Rgb {
  const u = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** The colour of t ∈ [0, 1] under the named map, as 0–255 floats (values outside [0, 1] are clamped). */
export function colormapRgb(name: ColormapName, t: number): Rgb {
  if (name === 'viridis') return interpolate(VIRIDIS, t);
  const reversed = name.endsWith('_r');
  const stops = DIVERGING_STOPS[(reversed ? name.slice(0, -2) : name) as DivergingBase];
  if (!stops) throw new Error(`colormapRgb: unknown colormap '${name}'`);
  return interpolate(stops, reversed ? 1 - t : t);
}

/** Same as colormapRgb, as '#rrggbb'. */
export function colormapHex(name: ColormapName, t: number): string {
  return rgbToHex(colormapRgb(name, t));
}

export function isDiverging(name: ColormapName): boolean {
  return name !== 'viridis';
}

export const COLORMAP_NAMES: readonly ColormapName[] = ['viridis', ...DIVERGING_BASE.flatMap((b) => [b, `${b}_r`] as ColormapName[])];

/** Names a diverging map for edge colours (--colormap); an unknown name is an AtlasError listing the choices. */
export function parseDivergingColormap(name: string, flag = 'colormap'): ColormapName {
  if (name !== 'viridis' && (COLORMAP_NAMES as readonly string[]).includes(name)) return name as ColormapName;
  throw new AtlasError(`--${flag}: unknown diverging colormap '${name}'`, { hint: `choose one of ${COLORMAP_NAMES.filter((n) => n !== 'viridis').join(', ')}` });
}
