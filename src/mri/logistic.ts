/**
 * L2-regularised logistic regression fitted by L-BFGS, as scikit-learn's LogisticRegression(penalty='l2',
 * C=1.0, solver='lbfgs', max_iter=100, tol=1e-4, fit_intercept=True) in scikit-learn ≥ 1.5:
 * - K > 2 classes: multinomial (softmax) with a full K × d coefficient matrix and K intercepts;
 * - K = 2: binary logistic regression with one coefficient row (coef_ shape (1, d)) for the second class
 *   (scikit-learn ≥ 1.5 always fits binary problems this way).
 * Objective (scikit-learn's scaling, which its tolerances refer to):
 *   (1/n) Σ_i [logsumexp(z_i) − z_i,y_i] + 1/(2·C·n) ‖W‖²,   z_i = W x_i + b   (intercepts not penalised).
 * Starts from zero; stops as scipy's L-BFGS-B with gtol = tol and ftol = 64·eps (see lbfgs.ts).
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { lbfgs } from './lbfgs.ts';

export interface LogisticOptions {
  /** Inverse regularisation strength. Default 1.0. */
  C?: number;
  /** Default 100 (scikit-learn's default; the MRI evaluation passes 1000 as the reference does). */
  maxIter?: number;
  /** Default 1e-4. */
  tol?: number;
}

export interface LogisticModel {
  /** Class values seen in training, ascending (the model's output indices refer to these). */
  classes: number[];
  /** K × d (multinomial) or 1 × d (binary) coefficients, row-major. */
  coef: Float64Array;
  coefRows: number;
  intercept: Float64Array;
  nFeatures: number;
  iterations: number;
  converged: boolean;
}

function checkXy(x: Matrix, y: ArrayLike<number>): void {
  if (x.rows !== y.length) throw new AtlasError(`X has ${x.rows} rows but y has ${y.length} labels`, { field: 'y' });
  if (x.rows === 0) throw new AtlasError('no training samples', { field: 'X' });
  for (let i = 0; i < x.data.length; i++) {
    if (!Number.isFinite(x.data[i]!)) throw new AtlasError(`X has a non-finite value at row ${Math.floor(i / x.cols)}`, { field: 'X' });
  }
}

/**
 * Objective and gradient for parameters theta = [W (R × d, row-major), b (R)], R = coefficient rows.
 * Exported for the finite-difference test.
 */
export function logisticObjective(x: Matrix, yIdx: Int32Array, K: number, C: number): (theta: Float64Array, grad: Float64Array) => number {
  const n = x.rows, d = x.cols;
  const binary = K === 2;
  const R = binary ? 1 : K;
  const l2 = 1 / (C * n);
  const z = new Float64Array(K);
  return (theta, grad) => {
    grad.fill(0);
    let loss = 0;
    const bOff = R * d;
    for (let i = 0; i < n; i++) {
      const row = i * d;
      if (binary) {
        let s = theta[bOff]!;
        for (let j = 0; j < d; j++) s += theta[j]! * x.data[row + j]!;
        // log(1 + e^s) − y s, computed stably; p = σ(s)
        const yv = yIdx[i] === 1 ? 1 : 0;
        loss += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - yv * s;
        const p = s >= 0 ? 1 / (1 + Math.exp(-s)) : Math.exp(s) / (1 + Math.exp(s));
        const r = (p - yv) / n;
        for (let j = 0; j < d; j++) grad[j]! += r * x.data[row + j]!;
        grad[bOff]! += r;
      } else {
        let max = -Infinity;
        for (let k = 0; k < K; k++) {
          let s = theta[bOff + k]!;
          const w = k * d;
          for (let j = 0; j < d; j++) s += theta[w + j]! * x.data[row + j]!;
          z[k] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let k = 0; k < K; k++) sum += Math.exp(z[k]! - max);
        const lse = max + Math.log(sum);
        loss += lse - z[yIdx[i]!]!;
        for (let k = 0; k < K; k++) {
          const r = (Math.exp(z[k]! - lse) - (yIdx[i] === k ? 1 : 0)) / n;
          const w = k * d;
          for (let j = 0; j < d; j++) grad[w + j]! += r * x.data[row + j]!;
          grad[bOff + k]! += r;
        }
      }
    }
    let pen = 0;
    for (let j = 0; j < bOff; j++) {
      pen += theta[j]! * theta[j]!;
      grad[j]! += l2 * theta[j]!;
    }
    return loss / n + 0.5 * l2 * pen;
  };
}

export function fitLogistic(x: Matrix, y: ArrayLike<number>, opts: LogisticOptions = {}): LogisticModel {
  const C = opts.C ?? 1.0;
  if (!(C > 0) || !Number.isFinite(C)) throw new AtlasError(`C must be a positive number, got ${C}`, { field: 'C' });
  const maxIter = opts.maxIter ?? 100;
  if (!Number.isInteger(maxIter) || maxIter < 1) throw new AtlasError(`maxIter must be a positive integer, got ${maxIter}`, { field: 'maxIter' });
  checkXy(x, y);
  const classes = [...new Set(Array.from(y))].sort((a, b) => a - b);
  if (classes.length < 2) throw new AtlasError(`the training labels hold a single class (${classes[0]}); a classifier needs at least 2`, { field: 'y' });
  const index = new Map(classes.map((c, i) => [c, i]));
  const yIdx = Int32Array.from(Array.from(y), (v) => index.get(v)!);
  const K = classes.length;
  const R = K === 2 ? 1 : K;
  const d = x.cols;
  const fun = logisticObjective(x, yIdx, K, C);
  const res = lbfgs(fun, new Float64Array(R * d + R), { maxIter, gtol: opts.tol ?? 1e-4 });
  return {
    classes,
    coef: res.x.slice(0, R * d),
    coefRows: R,
    intercept: res.x.slice(R * d),
    nFeatures: d,
    iterations: res.iterations,
    converged: res.converged,
  };
}

/** Class probabilities, n × K (columns in `model.classes` order). */
export function predictProba(model: LogisticModel, x: Matrix): Float64Array {
  if (x.cols !== model.nFeatures) throw new AtlasError(`X has ${x.cols} features, the model was fitted on ${model.nFeatures}`, { field: 'X' });
  const K = model.classes.length;
  const d = x.cols;
  const out = new Float64Array(x.rows * K);
  const z = new Float64Array(model.coefRows);
  for (let i = 0; i < x.rows; i++) {
    for (let k = 0; k < model.coefRows; k++) {
      let s = model.intercept[k]!;
      for (let j = 0; j < d; j++) s += model.coef[k * d + j]! * x.data[i * d + j]!;
      z[k] = s;
    }
    if (K === 2) {
      const p = 1 / (1 + Math.exp(-z[0]!));
      out[i * 2] = 1 - p;
      out[i * 2 + 1] = p;
    } else {
      const max = Math.max(...z);
      let sum = 0;
      for (let k = 0; k < K; k++) sum += out[i * K + k] = Math.exp(z[k]! - max);
      for (let k = 0; k < K; k++) out[i * K + k]! /= sum;
    }
  }
  return out;
}

/** Predicted class values (argmax of the decision function; ties → the first class, as numpy's argmax). */
export function predict(model: LogisticModel, x: Matrix): number[] {
  const p = predictProba(model, x);
  const K = model.classes.length;
  return Array.from({ length: x.rows }, (_, i) => {
    let best = 0;
    for (let k = 1; k < K; k++) if (p[i * K + k]! > p[i * K + best]!) best = k;
    return model.classes[best]!;
  });
}
