/**
 * Categorical colours for classes. Up to 8 classes use Okabe & Ito's colour-blind-safe palette, 9–10 Tableau 10,
 * 11–20 Tableau 20; beyond that, hues are spread by the golden angle with alternating lightness so neighbouring
 * class indices stay distinguishable (no small palette can keep >20 classes colour-blind-safe).
 */

/** Okabe–Ito, ordered so the first few are the most distinct; black last (it competes with axes and text). */
export const OKABE_ITO = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

export const TABLEAU_10 = [
  '#4E79A7', '#F28E2B', '#E15759', '#76B7B2', '#59A14F', '#EDC948', '#B07AA1', '#FF9DA7', '#9C755F', '#BAB0AC',
];

export const TABLEAU_20 = [
  '#4E79A7', '#A0CBE8', '#F28E2B', '#FFBE7D', '#59A14F', '#8CD17D', '#B6992D', '#F1CE63', '#499894', '#86BCB6',
  '#E15759', '#FF9D9A', '#79706E', '#BAB0AC', '#D37295', '#FABFD2', '#B07AA1', '#D4A6C8', '#9D7660', '#D7B5A6',
];

/** `n` distinct colours as '#RRGGBB'. */
export function categoricalColors(n: number): string[] {
  if (n <= OKABE_ITO.length) return OKABE_ITO.slice(0, n);
  if (n <= TABLEAU_10.length) return TABLEAU_10.slice(0, n);
  if (n <= TABLEAU_20.length) return TABLEAU_20.slice(0, n);
  const out = TABLEAU_20.slice();
  for (let i = TABLEAU_20.length; i < n; i++) {
    const hue = (i * 137.508) % 360;
    const light = [45, 62, 35][i % 3]!;
    out.push(hslToHex(hue, 65, light));
  }
  return out;
}

function hslToHex(h: number, s: number, l: number): string {
  const sf = s / 100;
  const lf = l / 100;
  const a = sf * Math.min(lf, 1 - lf);
  const f = (k0: number) => {
    const k = (k0 + h / 30) % 12;
    const c = lf - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`.toUpperCase();
}
