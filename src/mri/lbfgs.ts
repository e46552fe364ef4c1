/**
 * Unconstrained L-BFGS minimisation in float64 with a strong-Wolfe line search (Nocedal & Wright, algorithms
 * 7.4, 3.5 and 3.6), with the stopping rules scipy's L-BFGS-B applies for scikit-learn:
 *   max|∇f| ≤ gtol, or (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ ftol, or maxIter iterations.
 * History m = 10 (scipy's maxcor default).
 */

export interface LbfgsOptions {
  /** Default 100. */
  maxIter?: number;
  /** Default 1e-4 (scikit-learn's tol, passed as scipy's gtol). */
  gtol?: number;
  /** Default 64·eps (scikit-learn's ftol for lbfgs). */
  ftol?: number;
  /** Default 10. */
  history?: number;
  /** Line-search evaluations per iteration. Default 50 (scikit-learn's maxls). */
  maxLineSearch?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  gradInfNorm: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  /** Why it stopped. */
  reason: 'gtol' | 'ftol' | 'maxIter' | 'lineSearch';
}

/** f and its gradient at x; the gradient is written into `grad`. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function infNorm(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function lbfgs(fun: Objective, x0: Float64Array, opts: LbfgsOptions = {}): LbfgsResult {
  const maxIter = opts.maxIter ?? 100;
  const gtol = opts.gtol ?? 1e-4;
  const ftol = opts.ftol ?? 64 * Number.EPSILON;
  const m = opts.history ?? 10;
  const maxLs = opts.maxLineSearch ?? 50;
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = fun(x, g);
  let evaluations = 1;
  if (!Number.isFinite(f)) throw new Error('lbfgs: objective is not finite at the starting point');
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const d = new Float64Array(n);
  const alpha = new Float64Array(m);
  let iterations = 0;
  if (infNorm(g) <= gtol) return { x, f, gradInfNorm: infNorm(g), iterations, evaluations, converged: true, reason: 'gtol' };

  while (iterations < maxIter) {
    // Two-loop recursion: d = −H·g.
    for (let i = 0; i < n; i++) d[i] = -g[i]!;
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k]! * dot(S[k]!, d);
      const y = Y[k]!;
      for (let i = 0; i < n; i++) d[i]! -= alpha[k]! * y[i]!;
    }
    if (S.length) {
      const k = S.length - 1;
      const gamma = dot(S[k]!, Y[k]!) / dot(Y[k]!, Y[k]!);
      for (let i = 0; i < n; i++) d[i]! *= gamma;
    }
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k]! * dot(Y[k]!, d);
      const s = S[k]!;
      for (let i = 0; i < n; i++) d[i]! += (alpha[k]! - beta) * s[i]!;
    }
    let dg = dot(d, g);
    if (!(dg < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      dg = dot(d, g);
    }
    // First step as scipy: 1/||d|| on the first iteration, 1 afterwards.
    const step0 = S.length === 0 ? Math.min(1, 1 / Math.sqrt(dot(d, d))) : 1;
    const ls = wolfeLineSearch(fun, x, f, g, d, dg, step0, maxLs);
    evaluations += ls.evaluations;
    if (!ls.ok) return { x, f, gradInfNorm: infNorm(g), iterations, evaluations, converged: false, reason: 'lineSearch' };
    iterations++;
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = ls.x[i]! - x[i]!;
      y[i] = ls.g[i]! - g[i]!;
    }
    const fPrev = f;
    x = ls.x;
    g = ls.g;
    f = ls.f;
    const sy = dot(s, y);
    if (sy > 1e-10 * dot(y, y)) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const gn = infNorm(g);
    if (gn <= gtol) return { x, f, gradInfNorm: gn, iterations, evaluations, converged: true, reason: 'gtol' };
    if ((fPrev - f) / Math.max(Math.abs(fPrev), Math.abs(f), 1) <= ftol) return { x, f, gradInfNorm: gn, iterations, evaluations, converged: true, reason: 'ftol' };
  }
  return { x, f, gradInfNorm: infNorm(g), iterations, evaluations, converged: false, reason: 'maxIter' };
}

interface LineSearchResult {
  ok: boolean;
  x: Float64Array;
  f: number;
  g: Float64Array;
  evaluations: number;
}

/** Strong Wolfe conditions with c1 = 1e-4, c2 = 0.9 (bracketing, then zoom by safeguarded cubic interpolation). */
function wolfeLineSearch(fun: Objective, x: Float64Array, f0: number, g0: Float64Array, d: Float64Array, dg0: number, step0: number, maxEval: number): LineSearchResult {
  const c1 = 1e-4, c2 = 0.9;
  const n = x.length;
  let evaluations = 0;
  const evalAt = (t: number): { t: number; f: number; g: Float64Array; x: Float64Array; dg: number } => {
    const xt = new Float64Array(n);
    for (let i = 0; i < n; i++) xt[i] = x[i]! + t * d[i]!;
    const gt = new Float64Array(n);
    const ft = fun(xt, gt);
    evaluations++;
    return { t, f: ft, g: gt, x: xt, dg: dot(gt, d) };
  };
  type Pt = ReturnType<typeof evalAt>;
  const done = (p: Pt): LineSearchResult => ({ ok: true, x: p.x, f: p.f, g: p.g, evaluations });
  const zero = { t: 0, f: f0, dg: dg0 };
  let prev: { t: number; f: number; dg: number } = zero;
  let t = step0;
  for (let i = 0; i < maxEval; i++) {
    const p = evalAt(t);
    if (!Number.isFinite(p.f) || p.f > f0 + c1 * t * dg0 || (i > 0 && p.f >= prev.f)) return zoom(prev, p);
    if (Math.abs(p.dg) <= -c2 * dg0) return done(p);
    if (p.dg >= 0) return zoom(p, prev);
    prev = p;
    t *= 2;
  }
  return { ok: false, x, f: f0, g: g0, evaluations };

  function zoom(lo: { t: number; f: number; dg: number }, hi: { t: number; f: number; dg: number }): LineSearchResult {
    let best: Pt | null = null;
    while (evaluations < maxEval) {
      // Cubic interpolation between lo and hi, safeguarded to the middle 80 % of the interval.
      let tj = cubicMin(lo, hi);
      const a = Math.min(lo.t, hi.t), b = Math.max(lo.t, hi.t);
      if (!Number.isFinite(tj) || tj < a + 0.1 * (b - a) || tj > b - 0.1 * (b - a)) tj = (lo.t + hi.t) / 2;
      const p = evalAt(tj);
      if (!Number.isFinite(p.f) || p.f > f0 + c1 * tj * dg0 || p.f >= lo.f) {
        hi = p;
      } else {
        if (Math.abs(p.dg) <= -c2 * dg0) return done(p);
        best = p;
        if (p.dg * (hi.t - lo.t) >= 0) hi = lo;
        lo = p;
      }
      if (Math.abs(hi.t - lo.t) < 1e-16 * Math.max(1, lo.t)) break;
    }
    // Out of evaluations: accept a point with sufficient decrease if we have one.
    if (best && best.f < f0) return done(best);
    if (lo.t > 0 && 'x' in lo) return done(lo as Pt);
    return { ok: false, x, f: f0, g: g0, evaluations };
  }
}

/** Minimiser of the cubic through (a.t, a.f, a.dg) and (b.t, b.f, b.dg). */
function cubicMin(a: { t: number; f: number; dg: number }, b: { t: number; f: number; dg: number }): number {
  const d1 = a.dg + b.dg - (3 * (a.f - b.f)) / (a.t - b.t);
  const disc = d1 * d1 - a.dg * b.dg;
  if (disc < 0) return NaN;
  const d2 = Math.sign(b.t - a.t) * Math.sqrt(disc);
  return b.t - (b.t - a.t) * ((b.dg + d2 - d1) / (b.dg - a.dg + 2 * d2));
}
