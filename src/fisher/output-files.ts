/**
 * File names of a Fisher run's output folder (OUT/fisher/), shared by the pipeline that writes them and the app
 * that reads them.
 */
export const FISHER_OUTPUT = {
  /** {texts, labels, classNames} of the run's points, in row order. */
  points: 'points.json',
  /** n × 2 (or 3) MDS of the Fisher geodesic distances. */
  mds: 'fisher-mds.npy',
  /** {radius, ellipses}: the 2-D pulled-back metrics. */
  ellipses: 'ellipses.json',
  /**
   * float64 (n,): entropy in nats of the model's next-token distribution p(· | point) at each point — the
   * distribution whose Fisher information is the metric (for --metric output-fisher; absent otherwise).
   */
  entropy: 'predictive-entropy.npy',
} as const;
