/**
 * Continuous colormaps: viridis (sequential, perceptually uniform, colour-blind-safe) and RdBu (diverging, from
 * ColorBrewer), with the exact control colours matplotlib uses so plots match the Python tools' look.
 */

export type Rgb = [number, number, number];
export type ColormapName = 'viridis' | 'RdBu' | 'RdBu_r';

/** matplotlib's 256-entry viridis table (CC0, van der Walt & Smith), 8-bit sRGB, as 6-hex-digit runs. */
const VIRIDIS_HEX =
  '44015444025645045745055946075a46085c460a5d460b5e470d60470e6147106347116447136548146748166848176948186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f854240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f881fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad8128ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc743fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc8635ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21ad8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725';

/**
 * ColorBrewer RdBu, 11 classes, red (low) to blue (high): matplotlib builds its 'RdBu' LinearSegmentedColormap
 * from exactly these, evenly spaced.
 */
const RDBU_HEX = ['67001f', 'b2182b', 'd6604d', 'f4a582', 'fddbc7', 'f7f7f7', 'd1e5f0', '92c5de', '4393c3', '2166ac', '053061'];

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
const RDBU = RDBU_HEX.map(hexToRgb);

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
  switch (name) {
    case 'viridis':
      return interpolate(VIRIDIS, t);
    case 'RdBu':
      return interpolate(RDBU, t);
    case 'RdBu_r':
      return interpolate(RDBU, 1 - t);
  }
}

/** Same as colormapRgb, as '#rrggbb'. */
export function colormapHex(name: ColormapName, t: number): string {
  return rgbToHex(colormapRgb(name, t));
}

export function isDiverging(name: ColormapName): boolean {
  return name !== 'viridis';
}

export const COLORMAP_NAMES: readonly ColormapName[] = ['viridis', 'RdBu', 'RdBu_r'];
